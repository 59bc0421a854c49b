"""Replies in the sender's language: requests built from the samples' NDRs with the requester's
own words in German, French, Spanish or Portuguese are answered in it, and say so in a header."""

from __future__ import annotations

import dataclasses
import email
import mailbox
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2.meta
import pytest

from delist_bot.compose import notice_mail, templates
from delist_bot.compose.context import reply_context
from delist_bot.compose.replies import build_reply
from delist_bot.compose.templates import use_templates
from delist_bot.config import Config, ReviewConfig, SmtpConfig
from delist_bot.core import cases
from delist_bot.core.models import OutgoingMail, Thread
from delist_bot.core.plan import RequestFacts, plan
from delist_bot.core.settings import Sender
from delist_bot.ndr import extract
from delist_bot.ndr.language import detect_language
from delist_bot.runtime import pipeline
from delist_bot.runtime.wiring import settings_for
from delist_bot.services.demo import demo_config
from delist_bot.services.template_check import DECISION_REPLIES, FIRST_REPLIES
from tests.conftest import delist_bot
from tests.support import builder
from tests.support.ids import counting_ids
from tests.support.smtp_helpers import write_toml

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LANGUAGES = ("de", "fr", "es", "pt")
# Each language's greeting: the first line of every reply written in it.
GREETING = {"en": "Hello,", "de": "Guten Tag,", "fr": "Bonjour,", "es": "Hola:", "pt": "Olá,"}
STYLES = ("attached", "gmail", "html")  # a forward as an attachment, inline, HTML only
SETTINGS = settings_for(
    Config(
        smtp=SmtpConfig(from_address="delist@example.net"),
        review=ReviewConfig(reviewers=["rev@example.net"]),
    ),
    "secret",
)
# Variables that choose wording rather than appear in it (`code_advice` is translated).
NOT_SHOWN = {"problem", "code_advice", "when"}
_EMPTY_SLOT = re.compile(r"\(\s*[,)]|\s[,.](?!\S)|\[\s*\]|«\s*»|„“|\"\"|\{\{|\{%")


def _body(mail: OutgoingMail) -> tuple[EmailMessage, str]:
    msg = email.message_from_bytes(mail.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg, msg.get_content()


def _shown(kind: str, language: str, context: dict[str, Any]) -> dict[str, str]:
    """The template's variables that have a value, as the reply must show them."""
    used = _variables(templates.template_name(kind, language))
    if kind == "need_info" and context["problem"] in ("not_public", "no_code"):
        used -= {"ndr_code"}  # these branches name the IP, or nothing
    return {v: str(context[v]) for v in used - NOT_SHOWN if context.get(v)}


def assert_reply_in(language: str, mail: OutgoingMail, context: dict[str, Any]) -> None:
    msg, body = _body(mail)
    assert msg["Content-Language"] == language
    lines = body.splitlines()
    assert lines[0] == GREETING[language], lines[0]
    assert all(len(line) <= 78 for line in lines), max(lines, key=len)
    flat = " ".join(body.split())
    for variable, value in _shown(mail.kind, language, context).items():
        assert " ".join(value.split()) in flat, (variable, value)
    assert not _EMPTY_SLOT.search(flat), _EMPTY_SLOT.search(flat)
    # The project's own guesser reads the reply as the language it claims to be.
    assert detect_language(body) == language


def _variables(name: str) -> set[str]:
    environment = templates.environment()
    source = environment.loader.get_source(environment, name)[0]
    return jinja2.meta.find_undeclared_variables(environment.parse(source))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted({*FIRST_REPLIES, *DECISION_REPLIES}))
def test_a_translation_uses_the_english_templates_variables(kind: str, language: str) -> None:
    name = f"replies/{kind}.{language}.txt"
    assert templates.template_name(kind, language) == name
    assert _variables(name) == _variables(f"replies/{kind}.en.txt")


def _request(ndr: builder.Ndr, language: str, style: str) -> bytes:
    return builder.STYLES[style](ndr, builder.OWN_WORDS[language], 900).encode()


FIRST = [
    pytest.param(ndr, language, style, id=f"{ndr.name}-{style}-{language}")
    for ndr in builder.NDRS
    for language in LANGUAGES
    for style in STYLES
]


@pytest.mark.parametrize(("ndr", "language", "style"), FIRST)
def test_a_first_reply_is_in_the_senders_language(
    ndr: builder.Ndr, language: str, style: str
) -> None:
    extraction = extract(_request(ndr, language, style))
    assert extraction.language == language
    decided = plan(extraction, RequestFacts(None, 1, listed=True), NOW, SETTINGS)
    _, (mail,) = pipeline.answer(extraction, decided, SETTINGS, NOW)
    assert mail.kind == ndr.action
    assert_reply_in(language, mail, reply_context(extraction, decided.case))


@pytest.mark.parametrize("language", LANGUAGES)
def test_duplicate_and_not_listed_replies_are_in_the_senders_language(language: str) -> None:
    ndr = builder.NDRS[0]
    extraction = extract(_request(ndr, language, "gmail"))
    open_case = cases.open_case(7, extraction, NOW - timedelta(hours=3))
    for facts, kind, case in (
        (RequestFacts(open_case, 8, listed=True), "duplicate", open_case),
        (RequestFacts(None, 8, listed=False), "not_listed", None),
    ):
        decided = plan(extraction, facts, NOW, SETTINGS)
        _, (mail,) = pipeline.answer(extraction, decided, SETTINGS, NOW)
        assert mail.kind == kind
        assert_reply_in(language, mail, reply_context(extraction, case))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", DECISION_REPLIES)
@pytest.mark.parametrize("text", ["", "Der Server versendet nur Rechnungen."])
def test_a_decision_reply_is_in_the_cases_language(kind: str, language: str, text: str) -> None:
    extraction = extract(_request(builder.NDRS[0], language, "attached"))
    case = cases.open_case(3, extraction, NOW - timedelta(hours=30))
    assert case.language == language
    extra = {"hours": 48} if kind == "review" else None
    mail = notice_mail.sender_mail(kind, case, text, SETTINGS, NOW, extra, new_ids=counting_ids())
    context = {"ip": case.ip, "ndr_code": case.ndr_code, "case_id": case.id, "text": text}
    assert_reply_in(language, mail, {**context, **(extra or {})})


@pytest.mark.parametrize("language", [None, "en", "nl", "../../etc/passwd"])
def test_without_a_template_in_the_senders_language_the_reply_is_english(
    language: str | None,
) -> None:
    mail = _reply("portal", language)
    assert _body(mail)[0]["Content-Language"] == "en"
    assert _body(mail)[1].splitlines()[0] == GREETING["en"]


def test_an_operators_own_language_is_the_one_the_header_names(tmp_path: Path) -> None:
    (tmp_path / "replies").mkdir()
    (tmp_path / "replies" / "portal.nl.txt").write_text("Goedendag,\n\n{{ portal_url }}\n")
    use_templates(tmp_path)
    try:
        assert _body(_reply("portal", "nl"))[0]["Content-Language"] == "nl"
        # The folder has no German portal reply: the built-in one is used, and named.
        assert _body(_reply("portal", "de"))[0]["Content-Language"] == "de"
    finally:
        use_templates(None)


def _reply(kind: str, language: str | None) -> OutgoingMail:
    extraction = extract(_request(builder.NDRS[0], "en", "gmail"))
    return build_reply(
        kind,
        language,
        reply_context(extraction, None),
        Thread("ann@example.org", "help", None),
        Sender.from_address("delist@example.net"),
        NOW,
        new_ids=counting_ids(),
    )


def test_every_other_code_has_its_advice_translated() -> None:
    """A code added to the catalogue without a translation would put English in the reply."""
    from delist_bot.core.models import Action
    from delist_bot.ndr.codes import CATALOGUE

    for code, info in CATALOGUE.items():
        if info.action is not Action.OTHER:
            continue
        request = dataclasses.replace(extract(_request(builder.NDRS[0], "en", "gmail")))
        context = reply_context(dataclasses.replace(request, ndr_code=code), None)
        for language in LANGUAGES:
            thread = Thread("a@example.org", "x", None)
            mail = build_reply(
                "other", language, context, thread, SETTINGS.sender, NOW, new_ids=counting_ids()
            )
            assert info.advice not in " ".join(_body(mail)[1].split()), (code, language)


def test_a_german_request_through_run_once(tmp_path: Path) -> None:
    """End to end with the demo's Maildir and outbox folder: the reply on disk is German."""
    config = demo_config(tmp_path)
    inbox = mailbox.Maildir(tmp_path / "maildir", create=True)
    inbox.add(_request(builder.NDRS[0], "de", "attached"))
    path = write_toml(
        tmp_path / "delist-bot.toml",
        {
            "mailbox": {"kind": "maildir", "path": config.mailbox.path},
            "smtp": {
                "kind": "files",
                "path": config.smtp.path,
                "from_address": config.smtp.from_address,
            },
            "store": {"path": config.store.path},
            "review": {"reviewers": list(config.review.reviewers)},
        },
    )
    result = delist_bot("run", "--once", "--config", str(path), "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    written = {
        str(m["X-Delist-Bot-Action"]): m
        for m in (
            email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in (tmp_path / "outbox").glob("*.eml")
        )
    }
    reply = written["review"]
    assert isinstance(reply, EmailMessage)
    assert reply["Content-Language"] == "de"
    text = reply.get_content()
    assert text.splitlines()[0] == GREETING["de"]
    assert "Ihre Vorgangsnummer lautet DL-000001" in " ".join(text.split())
    assert all(len(line) <= 78 for line in text.splitlines())
    # Mail for the reviewers stays English.
    notification = written["reviewer_notification"]
    assert notification["Content-Language"] is None
