"""Hostile addresses through whole passes: a real Dovecot, aiosmtpd with and without SMTPUTF8.

Each sample of tests/hostile/addresses/ is delivered alone, then three ordinary requests, one
a day with a pass after each, and a last pass a week later: every pass exits 0 without a
traceback, each ordinary request is answered once, and the sample's own reply does what
expected.tsv says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.core.models import MailStatus
from delist_bot.store import Store
from tests.conftest import TESTS, imap_settings, read_tsv
from tests.support.imap_helpers import count, deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.support.smtp_helpers import ordinary, run_cli, write_toml

SAMPLES = TESTS / "hostile" / "addresses"
ROWS = read_tsv(SAMPLES / "expected.tsv")
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
# aiosmtpd's Controller offers SMTPUTF8 unless told otherwise.
SERVERS = {"smtputf8": {"enable_SMTPUTF8": True}, "plain": {"enable_SMTPUTF8": False}}


@pytest.mark.parametrize("server_kind", list(SERVERS))
@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_a_hostile_address_stops_nothing(
    dovecot: Dovecot, imap_user: str, tmp_path: Path, row: dict[str, str], server_kind: str
) -> None:
    smtp = SmtpServer.start(**SERVERS[server_kind])
    try:
        config = write_toml(
            tmp_path / "delist-bot.toml",
            imap_settings(dovecot, imap_user, smtp, tmp_path / "store.json"),
        )
        passes = []
        deliver(dovecot, imap_user, [(SAMPLES / row["file"]).read_bytes()])
        passes.append(pass_at(config, START))
        senders = []
        for day in (1, 2, 3):
            sender, raw = ordinary(day)
            senders.append(sender)
            deliver(dovecot, imap_user, [raw])
            passes.append(pass_at(config, START + timedelta(days=day)))
        passes.append(pass_at(config, START + timedelta(days=10)))

        for ran in passes:
            assert ran.exit_code == 0 and not ran.traceback, ran.output
        received = [rcpt for envelope, _ in smtp.recorder.messages for rcpt in envelope.rcpt_tos]
        assert all(received.count(s) == 1 for s in senders)
        assert count(dovecot, imap_user, "INBOX") == 0
        assert "victim@victim.example" not in received
        check_the_reply(row[f"{server_kind}_server"], smtp, tmp_path / "store.json")
    finally:
        smtp.stop()


def pass_at(config: Path, moment: datetime):
    return run_cli("run", "--once", "--config", str(config), "--now", moment.isoformat())


def check_the_reply(expected: str, smtp: SmtpServer, store_path: Path) -> None:
    """The acknowledgement to the sample's sender: sent to that address, or failed so."""
    if expected == "any":
        return
    if expected == "none":  # no address to answer: quarantined with its reason, nothing queued
        with Store(store_path).transaction() as tx:
            assert [m for m in tx.outbox.all() if m.kind == "review"] == []
            assert [q.reason for q in tx.quarantine.all()] == ["no sender address to reply to"]
        return
    outcome, _, detail = expected.partition(":")
    acks = [
        (envelope, msg)
        for envelope, msg in smtp.recorder.messages
        if msg["X-Delist-Bot-Action"] == "review"
    ]
    if outcome == "sent":
        assert len(acks) == 1, [e.rcpt_tos for e, _ in acks]
        [(envelope, _)] = acks
        assert envelope.rcpt_tos == [detail]
        assert f"\r\nTo: {detail}\r\n".encode() in envelope.content  # RFC 6532: UTF-8 as is
        assert ("SMTPUTF8" in envelope.mail_options) == (not detail.split("@")[0].isascii())
        return
    assert acks == [], [e.rcpt_tos for e, _ in acks]
    with Store(store_path).transaction() as tx:
        failed = [m for m in tx.outbox.all(MailStatus.FAILED) if m.kind == "review"]
    assert len(failed) == 1 and detail in (failed[0].last_error or "")
