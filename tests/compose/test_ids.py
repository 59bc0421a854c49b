"""The message builders take their ids from the caller (an IdMaker): the same ids, clock and
values give the same bytes, and the ids in the mail are the ones the maker gave."""

from __future__ import annotations

import email
from datetime import UTC, datetime

from delist_bot.compose.context import reply_context
from delist_bot.compose.ids import IdMaker, MailIds
from delist_bot.compose.replies import build_digest, build_internal, build_reply
from delist_bot.core.models import Extraction, Thread
from delist_bot.core.settings import Sender

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENDER = Sender.from_address("delist@example.net")
IDS = MailIds("0" * 32, "<fixed.DL-000001@example.net>", "=_delist_fixed")
asked: list[tuple[str, str]] = []


def fixed(idstring: str, domain: str) -> MailIds:
    asked.append((idstring, domain))
    return IDS


REQUEST = Extraction(sender="ann@example.org", ndr_code="5.7.606", ip="81.2.69.142")


def _reply(new_ids: IdMaker = fixed) -> bytes:
    thread = Thread("ann@example.org", "help", "<r@example.org>")
    context = reply_context(REQUEST, None)
    return build_reply(
        "portal", "en", context, thread, SENDER, NOW, "DL-000001", new_ids=new_ids
    ).raw


def _internal() -> bytes:
    return build_internal(
        "reviewer_help",
        ["rev@example.net"],
        "help",
        {"text": "x", "words": "x", "case": {"id": "DL-000001"}},
        SENDER,
        NOW,
        "DL-000001",
        attachment=b"Subject: request\r\n\r\nbody\r\n",
        new_ids=fixed,
    ).raw


def test_the_same_ids_give_the_same_bytes() -> None:
    assert _reply() == _reply()
    assert _internal() == _internal()
    digest = build_digest(
        ["ops@example.net"], "digest", "t", "<p>h</p>", SENDER, NOW, new_ids=fixed
    )
    assert digest.id == IDS.mail_id and digest.message_id == IDS.message_id


def test_the_callers_ids_are_the_ones_used() -> None:
    message = email.message_from_bytes(_internal())
    assert message["Message-ID"] == IDS.message_id
    assert message.get_boundary() == IDS.boundary


def test_the_maker_is_asked_with_the_idstring_and_the_senders_domain() -> None:
    asked.clear()
    _reply(), _internal()
    build_digest(["ops@example.net"], "digest", "t", "<p>h</p>", SENDER, NOW, new_ids=fixed)
    assert asked == [
        ("DL-000001", "example.net"),
        ("reviewer_help.DL-000001", "example.net"),
        ("digest", "example.net"),
    ]
