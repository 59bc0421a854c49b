"""The main job end to end: requests in a real Dovecot, replies at a real SMTP server."""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.mailbox import MailboxError
from delist_bot.mailbox.imap import IdleWatcher
from delist_bot.ndr import extract
from delist_bot.runtime.pipeline import Processed
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, delist_bot, imap_settings
from tests.support.imap_helpers import client, count, deliver
from tests.support.servers import PASSWORD, Dovecot, SmtpServer

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REQUESTS = sorted(DATA_SAMPLES.glob("*.eml"))
EXPECTED_KINDS = Counter(
    {
        "review": 2,
        "duplicate": 1,
        "portal": 1,
        "consumer": 1,
        "other": 1,
        "need_info": 1,
        "reviewer_notification": 2,
    }
)
PORTAL = DATA_SAMPLES / "04-portal-redirected-bounce.eml"


def to_senders(smtp: SmtpServer) -> list:
    return [
        (e, m)
        for e, m in smtp.recorder.messages
        if not m["X-Delist-Bot-Action"].startswith("reviewer_")
    ]


def raw_requests() -> list[bytes]:
    return [path.read_bytes() for path in REQUESTS]


def test_a_pass_answers_every_request_once(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    deliver(dovecot, imap_user, raw_requests())
    report = Worker(imap_config).run_once(NOW)

    assert len(report.processed) == len(REQUESTS)
    kinds = Counter(msg["X-Delist-Bot-Action"] for _, msg in smtp_server.recorder.messages)
    assert kinds == EXPECTED_KINDS
    replies = to_senders(smtp_server)
    requests = {e.message_id: e for e in map(extract, raw_requests())}
    for envelope, msg in replies:
        request = requests[msg["In-Reply-To"]]
        assert envelope.rcpt_tos == [request.sender]
        assert parseaddr(msg["To"])[1] == request.sender
        assert msg["From"] == "delist@delist.example.net"
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["X-Delist-Bot-Loop"] == "delist.example.net"
        assert msg["References"].split()[-1] == request.message_id
        assert msg["Subject"].startswith("Re: ")
        if msg["X-Delist-Bot-Action"] in ("review", "duplicate"):
            assert msg["X-Delist-Bot-Case"].startswith("DL-")
            assert f"[{msg['X-Delist-Bot-Case']}]" in msg["Subject"]
    italian = [m for _, m in replies if m["To"] == "giulia@posta.example.it"]
    assert "Buongiorno" in italian[0].get_payload(decode=True).decode()

    with Store(Path(imap_config.store.path)).transaction() as tx:
        cases = tx.cases.all()
    assert sorted(c.ip for c in cases) == ["2a01:4f8:c17:1234::25", "81.2.69.142"]
    assert all(c.due_at - c.received_at == timedelta(hours=48) for c in cases)
    assert count(dovecot, imap_user, "INBOX") == 0
    assert count(dovecot, imap_user, "Processed") == len(REQUESTS)

    second = Worker(imap_config).run_once(NOW + timedelta(minutes=5))
    assert second.processed == [] and second.sent == []
    assert len(smtp_server.recorder.messages) == sum(EXPECTED_KINDS.values())


def test_requests_are_read_without_marking_them_seen(
    dovecot: Dovecot, imap_user: str, imap_config: Config
) -> None:
    deliver(dovecot, imap_user, raw_requests()[:1])
    seen_flags = []

    def look(_: Processed) -> None:
        connection = client(dovecot, imap_user)
        connection.select_folder("INBOX", readonly=True)
        seen_flags.extend(connection.get_flags(connection.search("ALL")).values())
        connection.logout()

    Worker(imap_config, after_commit=look).run_once(NOW)
    assert seen_flags and all(b"\\Seen" not in flags for flags in seen_flags)


def test_a_message_delivered_twice_gets_one_reply(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    request = REQUESTS[0].read_bytes()
    deliver(dovecot, imap_user, [request, request])
    report = Worker(imap_config).run_once(NOW)
    assert [p.outcome for p in report.processed] == ["replied", "duplicate_delivery"]
    assert len(to_senders(smtp_server)) == 1


@pytest.mark.parametrize("fault", ["kick", "stop"])
def test_a_connection_lost_mid_pass_loses_nothing(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config, fault: str
) -> None:
    deliver(dovecot, imap_user, raw_requests())
    handled = []

    def break_after_three(result: Processed) -> None:
        handled.append(result)
        if len(handled) == 3:
            dovecot.kick(imap_user) if fault == "kick" else dovecot.stop()

    with pytest.raises(MailboxError):
        Worker(imap_config, after_commit=break_after_three).run_once(NOW)
    if fault == "stop":
        dovecot.start()
    Worker(imap_config).run_once(NOW + timedelta(minutes=1))
    Worker(imap_config).run_once(NOW + timedelta(minutes=2))

    kinds = Counter(msg["X-Delist-Bot-Action"] for _, msg in smtp_server.recorder.messages)
    assert kinds == EXPECTED_KINDS
    assert count(dovecot, imap_user, "INBOX") == 0
    assert count(dovecot, imap_user, "Processed") == len(REQUESTS)


def test_replies_per_sender_are_rate_limited(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    template = (DATA_SAMPLES / "07-need-info-placeholder.eml").read_bytes()
    flood = [template.replace(b"<sample-", b"<flood-%d-" % i) for i in range(6)]
    deliver(dovecot, imap_user, flood)
    report = Worker(imap_config).run_once(NOW)
    assert Counter(p.outcome for p in report.processed) == {"replied": 3, "rate_limited": 3}
    assert len(smtp_server.recorder.messages) == 3
    later = NOW + timedelta(hours=25)
    deliver(dovecot, imap_user, [template.replace(b"<sample-", b"<next-day-")])
    assert [p.outcome for p in Worker(imap_config).run_once(later).processed] == ["replied"]


def test_an_oversize_message_is_quarantined_unread(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = imap_settings(
        dovecot, imap_user, smtp_server, tmp_path / "s.json", mailbox={"max_message_bytes": 4000}
    )
    config = from_dict(settings, {})
    big = REQUESTS[0].read_bytes() + b"\n" + b"x" * 5000
    deliver(dovecot, imap_user, [big, REQUESTS[4].read_bytes()])
    report = Worker(config).run_once(NOW)
    assert [p.outcome for p in report.processed] == ["quarantined", "replied"]
    assert "over the 4000-byte limit" in report.processed[0].reason
    assert count(dovecot, imap_user, "Quarantine") == 1
    with Store(tmp_path / "s.json").transaction() as tx:
        assert len(tx.quarantine.all()) == 1


@pytest.mark.parametrize("source", ["token", "command"])
def test_xoauth2_login(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path, source: str
) -> None:
    mailbox = {"auth": "xoauth2", "password": ""}
    if source == "token":
        mailbox["oauth_token"] = PASSWORD
    else:
        mailbox["oauth_token_command"] = f"{sys.executable} -c 'print(\"{PASSWORD}\")'"
    config = from_dict(
        imap_settings(dovecot, imap_user, smtp_server, tmp_path / "s.json", mailbox=mailbox), {}
    )
    deliver(dovecot, imap_user, raw_requests()[:1])
    assert [p.outcome for p in Worker(config).run_once(NOW).processed] == ["replied"]
    bad = dataclasses.replace(
        config,
        mailbox=dataclasses.replace(config.mailbox, oauth_token="wrong", oauth_token_command=""),
    )
    with pytest.raises(MailboxError, match="IMAP"):
        Worker(bad).run_once(NOW)


def test_smtp_temporary_then_permanent_failure(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    deliver(dovecot, imap_user, [PORTAL.read_bytes()])
    smtp_server.recorder.reply = "451 4.3.0 try again later"
    first = Worker(imap_config).run_once(NOW)
    assert [m.status for m in first.retrying] == ["pending"]
    assert first.retrying[0].next_attempt_at > NOW
    assert Worker(imap_config).deliver(NOW + timedelta(seconds=10)).sent == []  # not due yet

    smtp_server.recorder.reply = "550 5.1.1 no such user"
    failed = Worker(imap_config).deliver(NOW + timedelta(minutes=2)).failed
    assert failed[0].status == "failed" and (failed[0].last_error or "").startswith("550")
    assert smtp_server.recorder.messages == []


def test_smtp_down_keeps_the_mail_queued(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    deliver(dovecot, imap_user, [PORTAL.read_bytes()])
    smtp_server.stop()
    report = Worker(imap_config).run_once(NOW)
    assert len(report.retrying) == 1 and "Error" in (report.retrying[0].last_error or "")
    restarted = SmtpServer.start()
    try:
        moved = dataclasses.replace(
            imap_config, smtp=dataclasses.replace(imap_config.smtp, port=restarted.port)
        )
        assert len(Worker(moved).deliver(NOW + timedelta(hours=1)).sent) == 1
        assert len(restarted.recorder.messages) == 1
    finally:
        restarted.stop()


def test_a_pass_over_an_empty_mailbox_sends_a_dead_senders_claim(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    # Bug found by the crash drill: the pass claimed due mail in its (empty) mailbox commit and
    # dropped the claim, so a dead sender's mail stayed "sending" and was never sent.
    deliver(dovecot, imap_user, [PORTAL.read_bytes()])
    smtp_server.stop()
    Worker(imap_config).run_once(NOW)
    store = Store(Path(imap_config.store.path))
    with store.transaction() as tx:
        [mail] = tx.outbox.all()
        tx.outbox.update(mail.id, status="sending", claimed_at=NOW.isoformat())
    restarted = SmtpServer.start()
    try:
        moved = dataclasses.replace(
            imap_config, smtp=dataclasses.replace(imap_config.smtp, port=restarted.port)
        )
        report = Worker(moved).run_once(NOW + timedelta(minutes=6))
        assert [m.kind for m in report.sent] == ["portal"]
        assert len(restarted.recorder.messages) == 1
    finally:
        restarted.stop()


def test_cli_run_once(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config_file = _write_toml(
        tmp_path, imap_settings(dovecot, imap_user, smtp_server, tmp_path / "store.json")
    )
    deliver(dovecot, imap_user, raw_requests())
    result = delist_bot(
        "run", "--once", "--config", str(config_file), "--now", "2026-11-27T09:00:00Z"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"processed {len(REQUESTS)} message(s); sent 9")
    assert len(smtp_server.recorder.messages) == 9


def test_a_second_worker_refuses_to_start(imap_config: Config, tmp_path: Path) -> None:
    store = Store(Path(imap_config.store.path))
    store.hold_worker_lock()
    try:
        config_file = _write_toml(
            tmp_path,
            {
                "mailbox": {"kind": "maildir", "path": "md"},
                "smtp": {"kind": "files", "path": "out", "from_address": "d@x.example"},
                "store": {"path": imap_config.store.path},
            },
        )
        result = delist_bot("run", "--once", "--config", str(config_file))
    finally:
        store.release_worker_lock()
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "delist-bot: another delist-bot worker is already running"
    )


def test_idle_wakes_on_new_mail_and_notices_a_dead_connection(
    dovecot: Dovecot, imap_user: str, imap_config: Config
) -> None:
    watcher = IdleWatcher(imap_config)
    assert watcher.supported()
    assert watcher.wait(0.5) is False
    import threading

    threading.Timer(0.3, deliver, (dovecot, imap_user, raw_requests()[:1])).start()
    assert watcher.wait(10) is True
    threading.Timer(0.3, dovecot.kick, (imap_user,)).start()
    with pytest.raises(MailboxError):
        watcher.wait(10)
    watcher.close()


def _write_toml(folder: Path, settings: dict) -> Path:
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            rendered = (
                f'"{value}"'
                if isinstance(value, str)
                else repr(value).lower()
                if isinstance(value, bool)
                else repr(value).replace("'", '"')
            )
            lines.append(f"{key} = {rendered}")
    path = folder / "delist-bot.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
