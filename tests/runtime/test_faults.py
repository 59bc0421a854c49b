"""Servers that hang, stores that break, disks that fill, strangers that abuse: nothing is lost."""

from __future__ import annotations

import dataclasses
import errno
import logging
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.mailbox import MailboxError
from delist_bot.runtime.worker import Worker
from delist_bot.services.demo import demo_config
from delist_bot.store import Store, StoreCorrupt, StoreError, backup_path
from tests.conftest import DATA_SAMPLES, delist_bot, imap_settings
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_worker_imap import _write_toml

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NEED_INFO = DATA_SAMPLES / "07-need-info-placeholder.eml"


class SilentServer:
    """Accepts connections and never says a word: a DNS-free timeout."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for connection in self.held:
            connection.close()
        self.socket.close()


@pytest.fixture
def silent() -> SilentServer:
    server = SilentServer()
    yield server
    server.close()


def maildir_config(tmp_path: Path) -> Config:
    return demo_config(tmp_path)


def seed(config: Config, messages: list[bytes]) -> None:
    import mailbox

    inbox = mailbox.Maildir(Path(config.mailbox.path), create=True)
    for raw in messages:
        inbox.add(raw)


def test_an_imap_server_that_never_answers_times_out(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path, silent: SilentServer
) -> None:
    settings = imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "s.json",
        mailbox={"port": silent.port, "timeout": 1},
    )
    started = time.monotonic()
    with pytest.raises(MailboxError):
        Worker(from_dict(settings, {})).run_once(NOW)
    assert time.monotonic() - started < 10


def test_an_smtp_server_that_never_answers_keeps_mail_queued(
    tmp_path: Path, silent: SilentServer
) -> None:
    config = maildir_config(tmp_path)
    config = dataclasses.replace(
        config,
        smtp=dataclasses.replace(
            config.smtp, kind="smtp", host="127.0.0.1", port=silent.port, security="none", timeout=1
        ),
    )
    request = NEED_INFO.read_bytes()
    # Each from its own sender, or the rate limit would answer only the first few.
    seed(config, [request.replace(b"example.", b"s%d.example." % n) for n in range(20)])
    report = Worker(config).run_once(NOW)
    assert len(silent.held) == 1  # one connection and its one timeout, not one per mail
    assert len(report.retrying) == 20
    assert "timed out" in (report.retrying[0].last_error or "")
    assert all("timed out" in (m.last_error or "") for m in report.retrying)


def test_a_failing_mailbox_is_logged_once_and_recovery_too(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = imap_settings(dovecot, imap_user, smtp_server, tmp_path / "s.json")
    worker = Worker(from_dict(settings, {}))
    deliver(dovecot, imap_user, [NEED_INFO.read_bytes()])
    caplog.set_level(logging.INFO, logger="delist_bot")
    dovecot.stop()
    try:
        for _ in range(4):
            worker.guarded_pass()
    finally:
        dovecot.start()
    worker.guarded_pass()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "pass failed" in errors[0].getMessage()
    assert any("recovered after" in r.getMessage() for r in caplog.records)
    assert len(smtp_server.recorder.messages) == 1  # it caught up by itself


def test_a_corrupt_store_stops_the_worker_and_keeps_the_last_good_copy(tmp_path: Path) -> None:
    config = maildir_config(tmp_path)
    seed(config, [NEED_INFO.read_bytes()])
    Worker(config).run_once(NOW)
    store_file = Path(config.store.path)
    seed(config, [(DATA_SAMPLES / "05-consumer-outlook-com.eml").read_bytes()])
    Worker(config).run_once(NOW)
    good = store_file.read_bytes()
    store_file.write_bytes(good[: len(good) // 2])  # a crash of some other program, a bad disk

    with pytest.raises(StoreCorrupt, match=r"unreadable .*the last good copy is .*\.bak"):
        Worker(config)
    with Store(backup_path(store_file)).transaction() as tx:  # the last good copy opens
        assert len(tx.state.get("seen")) == 2  # the state before the last write: both requests

    config_file = tmp_path / "delist-bot.toml"
    config_file.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{config.mailbox.path}"\n'
        f'[smtp]\nkind = "files"\npath = "{config.smtp.path}"\nfrom_address = "d@x.example"\n'
        f'[store]\npath = "{store_file}"\n'
    )
    result = delist_bot("run", "--once", "--config", str(config_file))
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "unreadable" in result.stderr and "Traceback" not in result.stderr


def test_a_full_disk_leaves_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.state.set("counter", 1)
    before = (tmp_path / "s.json").read_bytes()

    def no_space(_fd: int) -> None:  # ENOSPC is hard to cause for real on a shared machine
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("delist_bot.store.files.os.fsync", no_space)
    with pytest.raises(StoreError, match="No space left on device"), store.transaction() as tx:
        tx.state.set("counter", 2)
    monkeypatch.undo()
    assert (tmp_path / "s.json").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))
    with store.transaction() as tx:
        assert tx.state.get("counter") == 1


def test_a_flood_from_one_sender_gets_at_most_the_rate_limit(tmp_path: Path) -> None:
    config = maildir_config(tmp_path)
    template = NEED_INFO.read_bytes()
    seed(config, [template.replace(b"<sample-", b"<flood-%d-" % i) for i in range(500)])
    report = Worker(config).run_once(NOW)
    outcomes = Counter(p.outcome for p in report.processed)
    assert outcomes == {"replied": 3, "rate_limited": 497}
    assert len(report.sent) == 3


def test_two_bots_facing_each_other_stop(tmp_path: Path) -> None:
    """A naive auto-responder that answers everything, without any automatic-mail header."""
    config = maildir_config(tmp_path)
    seed(config, [NEED_INFO.read_bytes()])
    exchanged = 0
    for round_ in range(30):
        report = Worker(config).run_once(NOW + timedelta(minutes=round_))
        if not report.sent:
            break
        exchanged += len(report.sent)
        answers = []
        for mail in report.sent:
            ours = (
                (Path(config.smtp.path) / f"{mail.id}.eml")
                .read_bytes()
                .split(b"\r\n\r\n", 1)[0]
                .decode()
            )
            subject = next(h for h in ours.splitlines() if h.startswith("Subject:"))
            answers.append(
                (
                    f"From: help@small.example.fr\nTo: delist@delist-bot.example\n"
                    f"{subject}\nMessage-ID: <bot-{round_}@small.example.fr>\n\n"
                    "Thank you for your message, we will get back to you.\n"
                ).encode()
            )
        seed(config, answers)
    assert exchanged == 3  # the rate limit is what ends the conversation


def test_secrets_never_reach_logs_or_reports(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "s.json",
        review={"secret": "hmac-secret-4242", "reviewers": ["r@x.example"]},
    )
    caplog.set_level(logging.DEBUG)
    deliver(dovecot, imap_user, [(DATA_SAMPLES / "01-review-attached-en.eml").read_bytes()])
    worker = Worker(from_dict(settings, {}))
    worker.run_once(NOW)
    bad = dataclasses.replace(
        worker.config,
        mailbox=dataclasses.replace(worker.config.mailbox, password="wrong-password-77"),
    )
    with pytest.raises(MailboxError) as failed:
        Worker(bad).run_once(NOW)
    config_file = _write_toml(tmp_path, settings)
    report = delist_bot("report", "--config", str(config_file), "--format", "json").stdout
    status = delist_bot("status", "--config", str(config_file))
    everything = "\n".join(
        [
            caplog.text,
            str(failed.value),
            report,
            status.stdout,
            status.stderr,
            *(m.as_string() for _, m in smtp_server.recorder.messages),
        ]
    )
    for secret in ("hmac-secret-4242", "s3cret-pass", "wrong-password-77"):
        assert secret not in everything
