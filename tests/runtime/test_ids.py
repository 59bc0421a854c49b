"""The shell's id maker: each call new random ids, the idstring and domain in the Message-ID,
and mail built with it differs by those ids alone."""

from __future__ import annotations

import re

from delist_bot.runtime.ids import fresh_ids
from tests.compose.test_ids import _reply


def test_fresh_ids_differ_and_carry_the_idstring() -> None:
    first, second = fresh_ids("DL-000001", "example.net"), fresh_ids("DL-000001", "example.net")
    assert len({first.mail_id, second.mail_id}) == 2
    assert len({first.message_id, second.message_id}) == 2
    assert len({first.boundary, second.boundary}) == 2
    assert "DL-000001" in first.message_id and first.message_id.endswith("@example.net>")


def test_two_mails_differ_only_in_their_message_id() -> None:
    first, second = _reply(fresh_ids), _reply(fresh_ids)
    assert first != second
    message_id = re.compile(rb"^Message-ID: .*$", re.MULTILINE)
    assert message_id.sub(b"", first) == message_id.sub(b"", second)
