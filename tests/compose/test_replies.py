"""Replies: every kind in English and Italian, threaded, marked automatic, and injection-proof."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from delist_bot.compose.context import reply_context
from delist_bot.compose.replies import build_internal, build_reply
from delist_bot.compose.templates import LANGUAGES, TEMPLATES, template_name
from delist_bot.core import cases
from delist_bot.core.models import Extraction, Thread
from delist_bot.core.settings import Sender
from tests.conftest import DATA_SAMPLES
from tests.support.ids import counting_ids

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
KINDS = (
    "review",
    "duplicate",
    "portal",
    "consumer",
    "other",
    "need_info",
    "not_listed",
    "delisted",
    "denied",
    "info_request",
    "holding",
)
SENDER = Sender.from_address("delist@delist.example.net")
REQUEST = Extraction(
    message_id="<req-1@example.org>",
    sender="ann@example.org",
    subject="help",
    ndr_code="5.7.511",
    smtp_code=550,
    ip="81.2.69.142",
    evidence="550 ...",
    language="en",
    references=("<older@example.org>",),
)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_every_language(kind: str, language: str) -> None:
    assert (TEMPLATES / f"replies/{kind}.{language}.txt").exists()
    case = cases.open_case(1, REQUEST, NOW)
    mail = build_reply(
        kind,
        language,
        reply_context(REQUEST, case) | {"text": "Please tell us more."},
        Thread("ann@example.org", "help", "<req-1@example.org>"),
        SENDER,
        NOW,
        case.id,
        new_ids=counting_ids(),
    )
    body = email.message_from_bytes(mail.raw, policy=policy.default).get_content()
    assert "{{" not in body and "{%" not in body and len(body) > 100


def test_language_falls_back_to_english() -> None:
    assert template_name("portal", "nl") == "replies/portal.en.txt"
    assert template_name("portal", None) == "replies/portal.en.txt"
    assert template_name("portal", "it") == "replies/portal.it.txt"


def test_headers_thread_and_mark_the_reply() -> None:
    thread = Thread(
        "ann@example.org", "Fw: blocked", "<req-1@example.org>", ("<older@example.org>",)
    )
    mail = build_reply(
        "portal", "en", reply_context(REQUEST, None), thread, SENDER, NOW, new_ids=counting_ids()
    )
    msg = email.message_from_bytes(mail.raw, policy=policy.default)
    assert msg["In-Reply-To"] == "<req-1@example.org>"
    assert msg["References"] == "<older@example.org> <req-1@example.org>"
    assert msg["Subject"] == "Re: Fw: blocked"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Delist-Bot-Action"] == "portal"
    assert msg["Message-ID"].endswith("@delist.example.net>")


def test_template_syntax_in_a_request_stays_text() -> None:
    hostile = Extraction(
        sender="ann@example.org",
        subject="{{ 7*7 }} {% for x in y %}",
        ndr_code="5.7.708",
        ip=None,
        evidence="{{ config }}",
    )
    mail = build_reply(
        "other",
        "en",
        reply_context(hostile, None),
        Thread("ann@example.org", hostile.subject or "", None),
        SENDER,
        NOW,
        new_ids=counting_ids(),
    )
    msg = email.message_from_bytes(mail.raw, policy=policy.default)
    assert msg["Subject"] == "Re: {{ 7*7 }} {% for x in y %}"
    assert "49" not in msg.get_content()


@pytest.mark.parametrize("subject", ["hi\r\nBcc: victim@example.org", "hi\nX-Evil: 1", "a\x00b\rc"])
def test_line_breaks_in_a_subject_never_make_a_header(subject: str) -> None:
    mail = build_reply(
        "need_info",
        "en",
        reply_context(REQUEST, None),
        Thread("ann@example.org", subject, None),
        SENDER,
        NOW,
        new_ids=counting_ids(),
    )
    msg = email.message_from_bytes(mail.raw, policy=policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]


def test_the_case_tag_is_added_once() -> None:
    thread = Thread("ann@example.org", "Re: help [DL-000001]", "<x@example.org>")
    mail = build_reply(
        "duplicate",
        "en",
        reply_context(REQUEST, cases.open_case(1, REQUEST, NOW)),
        thread,
        SENDER,
        NOW,
        "DL-000001",
        new_ids=counting_ids(),
    )
    assert email.message_from_bytes(mail.raw)["Subject"] == "Re: help [DL-000001]"


def _notification(request: bytes) -> bytes:
    return build_internal(
        "reviewer_help",
        ["rev@example.net"],
        "review",
        {"case": {"id": "C-1"}, "text": "help"},
        SENDER,
        NOW,
        "C-1",
        attachment=request,
        new_ids=counting_ids(),
    ).raw


def _attached(raw: bytes) -> email.message.Message:
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF throughout, as SMTP wants
    return email.message_from_bytes(raw, policy=policy.default).get_payload()[1]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_the_request_travels_to_reviewers_byte_for_byte(line_end: bytes) -> None:
    request = (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes().replace(b"\r\n", b"\n")
    raw = _notification(request.replace(b"\n", line_end))
    attached = _attached(raw)
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_filename() == "request-C-1.eml"
    assert attached.get_payload(0)["Message-ID"] == "<sample-001@example.org>"
    assert request.rstrip(b"\n").replace(b"\n", b"\r\n") in raw


def test_a_request_in_8bit_travels_as_it_came() -> None:
    request = (
        "From: a@example.org\nSubject: ciao\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\nGrazie, è già tutto pronto.\n"
    ).encode()
    raw = _notification(request)
    assert request.replace(b"\n", b"\r\n") in raw
    assert "è già" in _attached(raw).get_payload(0).get_content()


def test_a_request_with_a_line_over_998_octets_goes_as_an_eml_file() -> None:
    # Found by the benchmark: the SMTP server answered 500 "Line too long".
    request = b"From: a@example.org\nSubject: long\n\n" + b"x" * 1200 + b"\n"
    attached = _attached(_notification(request))
    assert attached.get_content_type() == "application/octet-stream"
    assert attached.get_payload(decode=True) == request
