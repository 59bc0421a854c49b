"""The message builders take their ids from the caller: the same ids, clock and values give
the same bytes; without ids, `ids.fresh_ids` draws new ones for each mail."""

from __future__ import annotations

import email
from datetime import UTC, datetime

from delist_bot.compose.context import reply_context
from delist_bot.compose.ids import MailIds, fresh_ids
from delist_bot.compose.replies import build_digest, build_internal, build_reply
from delist_bot.core.models import Extraction, Thread
from delist_bot.core.settings import Sender

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENDER = Sender.from_address("delist@example.net")
IDS = MailIds("0" * 32, "<fixed.DL-000001@example.net>", "=_delist_fixed")
REQUEST = Extraction(sender="ann@example.org", ndr_code="5.7.606", ip="81.2.69.142")


def _reply(ids: MailIds | None = None) -> bytes:
    thread = Thread("ann@example.org", "help", "<r@example.org>")
    context = reply_context(REQUEST, None)
    return build_reply("portal", "en", context, thread, SENDER, NOW, "DL-000001", ids).raw


def _internal(ids: MailIds | None = None) -> bytes:
    return build_internal(
        "reviewer_help",
        ["rev@example.net"],
        "help",
        {"text": "x", "words": "x", "case": {"id": "DL-000001"}},
        SENDER,
        NOW,
        "DL-000001",
        attachment=b"Subject: request\r\n\r\nbody\r\n",
        ids=ids,
    ).raw


def test_the_same_ids_give_the_same_bytes() -> None:
    assert _reply(IDS) == _reply(IDS)
    assert _internal(IDS) == _internal(IDS)
    digest = build_digest(["ops@example.net"], "digest", "t", "<p>h</p>", SENDER, NOW, IDS)
    assert digest.id == IDS.mail_id and digest.message_id == IDS.message_id


def test_the_callers_ids_are_the_ones_used() -> None:
    message = email.message_from_bytes(_internal(IDS))
    assert message["Message-ID"] == IDS.message_id
    assert message.get_boundary() == IDS.boundary


def test_fresh_ids_differ_and_carry_the_idstring() -> None:
    first, second = fresh_ids("DL-000001", "example.net"), fresh_ids("DL-000001", "example.net")
    assert len({first.mail_id, second.mail_id}) == 2
    assert len({first.message_id, second.message_id}) == 2
    assert len({first.boundary, second.boundary}) == 2
    assert "DL-000001" in first.message_id and first.message_id.endswith("@example.net>")
    assert _reply() != _reply()  # no ids given: each mail its own
