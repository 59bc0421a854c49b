"""The worker under operational faults, caused for real: a slow message, a full disk, a stop
mid-pass, a folder over quota, mail that waited days, a wall clock stepped forward.

Each asserts the promise that held: nothing lost, nothing answered twice, deadlines kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mailbox
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from delist_bot import failpoints
from delist_bot.config import Config, from_dict
from delist_bot.core import sla
from delist_bot.mailbox import MailboxError
from delist_bot.mailbox.maildir import MaildirMailbox
from delist_bot.ndr import extract
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, delist_bot, imap_settings
from tests.support.imap_helpers import client, count, deliver
from tests.support.servers import Dovecot, Recorder, SmtpServer, dovecot_available, free_port
from tests.system.test_worker_imap import _write_toml

REVIEW = DATA_SAMPLES / "01-review-attached-en.eml"
NEED_INFO = DATA_SAMPLES / "07-need-info-placeholder.eml"


def reviews(n: int, tag: str = "r") -> list[bytes]:
    """N review requests from N senders, each about an IP of its own (so each opens a case)."""
    raw = REVIEW.read_bytes()
    original = extract(raw)
    made = []
    for i in range(n):
        one = raw.replace(original.message_id.encode(), f"<{tag}-{i}@example.org>".encode())
        one = one.replace(original.sender.encode(), f"s{i}.{tag}@requests.example.org".encode())
        made.append(one.replace(b"81.2.69.142", f"81.2.{i // 200 + 70}.{i % 200 + 1}".encode()))
    return made


def by_kind(smtp: SmtpServer | Recorder, kind: str) -> list:
    recorder = smtp.recorder if isinstance(smtp, SmtpServer) else smtp
    return [m for _, m in recorder.messages if m["X-Delist-Bot-Action"] == kind]


def maildir_toml(folder: Path, store: Path) -> Path:
    return _write_toml(
        folder,
        {
            "mailbox": {"kind": "maildir", "path": str(folder / "maildir")},
            "smtp": {"kind": "files", "path": str(folder / "out"), "from_address": "d@x.example"},
            "store": {"path": str(store)},
            "review": {"reviewers": ["reviewer@delist.example.net"]},
        },
    )


def seed(folder: Path, messages: list[bytes]) -> mailbox.Maildir:
    inbox = mailbox.Maildir(folder / "maildir", create=True)
    for raw in messages:
        inbox.add(raw)
    return inbox


# 1. The store's lock is held for the commit only ---------------------------------------------
def test_a_slow_extraction_does_not_hold_the_store_lock(tmp_path: Path) -> None:
    config_file = maildir_toml(tmp_path, tmp_path / "store.json")
    seed(tmp_path, [NEED_INFO.read_bytes()])
    assert delist_bot("cases", "list", "--config", str(config_file)).returncode == 0
    worker = Worker(from_dict_file(config_file))
    reached, release = failpoints.hold("extract")
    passing = threading.Thread(target=worker.run_once)
    passing.start()
    try:
        assert reached.wait(60), "the pass never began to read the message"
        # The extraction is blocked right now; with the lock held this would wait 30 s and fail.
        listing = delist_bot("cases", "list", "--config", str(config_file), timeout=25)
        assert listing.returncode == 0, listing.stderr
        assert passing.is_alive()
    finally:
        release.set()
        passing.join(60)
    assert not passing.is_alive()
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1


def from_dict_file(config_file: Path) -> Config:
    from delist_bot.config import load

    return load(str(config_file))


# 2. A failed commit leaves nothing behind (the worker's side) --------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 192 KB filesystem (the suite runs as root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (run ./scripts/test)")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill DISK to the last byte; the returned file frees the space when deleted."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 512)
    return filler


@pytest.mark.parametrize(
    "lifetime",
    [
        "a process per pass",  # run --once from cron, or a worker restarted after the fault
        "one long-lived process",  # `run`: the store's memo of its last write lives on
    ],
)
def test_a_full_disk_stops_the_pass_and_moves_nothing(
    tmp_path: Path, small_disk: Path, caplog: pytest.LogCaptureFixture, lifetime: str
) -> None:
    config_file = maildir_toml(tmp_path, small_disk / "store.json")
    config = from_dict_file(config_file)
    worker = Worker(config)

    def a_pass() -> None:
        (worker if lifetime == "one long-lived process" else Worker(config)).guarded_pass()

    requests = [NEED_INFO.read_bytes().replace(b"example.", b"s%d.example." % n) for n in range(5)]
    inbox = seed(tmp_path, requests)
    filler = fill(small_disk)
    caplog.set_level(logging.INFO, logger="delist_bot")
    for _ in range(3):
        a_pass()
        assert len(inbox) == 5  # nothing left the mailbox without its record on disk
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all("No space left on device" in e for e in errors), errors
    if lifetime == "one long-lived process":
        assert len(errors) == 1  # logged once, retried each pass

    filler.unlink()
    a_pass()
    assert len(inbox) == 0
    _, messages, _, _ = Store(small_disk / "store.json").history()
    assert Counter(m["outcome"] for m in messages) == {"replied": 5}
    assert len(list((tmp_path / "out").glob("*.eml"))) == 5  # each answered, once


# 3. One worker at a time, until the last byte -------------------------------------------------
class GatedRecorder(Recorder):
    """Accepts mail until `after` messages, then holds the next one until released."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.reached = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if len(self.messages) >= self.after and not self.release.is_set():
            self.reached.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def gated_smtp() -> Iterator[tuple[GatedRecorder, int]]:
    recorder, port = GatedRecorder(after=20), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    recorder.release.set()
    controller.stop()


def test_sigterm_mid_pass_finishes_the_batch_and_keeps_the_lock_until_the_end(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    gated_smtp: tuple[GatedRecorder, int],
    tmp_path: Path,
) -> None:
    recorder, port = gated_smtp
    settings = imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "store.json",
        mailbox={"batch_size": 5, "idle": False},
        schedule={"poll_seconds": 3600, "outbox_seconds": 3600},
        limits={"replies_per_sender": 100, "replies_per_domain": 1000},
    )
    settings["smtp"]["port"] = port  # the gated server, not the fixture's
    config_file = _write_toml(tmp_path, settings)
    requests = reviews(200, "stop")
    deliver(dovecot, imap_user, requests)
    log_file = tmp_path / "first.log"
    with open(log_file, "w") as log_handle:
        first = subprocess.Popen(
            [sys.executable, "-m", "delist_bot", "-v", "run", "--config", str(config_file)],
            stderr=log_handle,
            stdout=subprocess.DEVNULL,
        )
    try:
        # Mid-pass: 20 replies accepted, the 21st held at the SMTP server, requests still waiting.
        assert recorder.reached.wait(120), log_file.read_text()
        assert count(dovecot, imap_user, "INBOX") > 0
        first.send_signal(signal.SIGTERM)
        second = delist_bot("run", "--once", "--config", str(config_file))
        assert first.poll() is None  # the first is still stopping: the refusal came meanwhile
        assert second.returncode == 1
        assert second.stderr.splitlines() == [
            f"delist-bot: another delist-bot worker is already running on {tmp_path / 'store.json'}"
        ]
        recorder.release.set()
        assert first.wait(120) == 0
    finally:
        recorder.release.set()
        if first.poll() is None:
            first.kill()
    lines = log_file.read_text().splitlines()
    assert lines[-1].endswith("worker stopped"), lines[-5:]
    assert "Traceback" not in log_file.read_text()
    left = count(dovecot, imap_user, "INBOX")
    assert 0 < left < 200  # it stopped at a safe point, not at the end of the mailbox

    for _ in range(5):  # the rest, by later runs; the first's claims were settled, none lapsed
        result = delist_bot("run", "--once", "--config", str(config_file))
        assert result.returncode == 0, result.stderr
        if count(dovecot, imap_user, "INBOX") == 0:
            break
    firsts = Counter(m["In-Reply-To"] for m in by_kind(recorder, "review"))
    assert firsts == {f"<stop-{i}@example.org>": 1 for i in range(200)}
    assert len(by_kind(recorder, "reviewer_notification")) == 200
    assert count(dovecot, imap_user, "Processed") == 200


# 4. Deadlines keep running whatever the mailbox does ------------------------------------------
QUOTA = """
imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS CHILDREN
mail_plugins = $mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=1K
  quota_rule2 = INBOX:ignore
}
"""


class QuotaDovecot(Dovecot):
    """The test Dovecot without MOVE (a COPY-only server, as the field report's) and with a
    1 KB quota on every folder but INBOX: copying out of INBOX is refused with OVERQUOTA.
    (Dovecot lets a MOVE within one quota root through: the total does not grow.)"""

    def _write_users(self) -> None:
        super()._write_users()
        with open(self.config_file, "a") as handle:
            handle.write(QUOTA)


@pytest.fixture(scope="module")
def quota_dovecot() -> Iterator[QuotaDovecot]:
    if not dovecot_available():
        pytest.skip("Dovecot is not installed or the tests are not root (run ./scripts/test)")
    server = QuotaDovecot(Path(tempfile.mkdtemp(prefix="delist-quota-")))
    server.start()
    yield server
    server.stop()


def test_a_folder_over_quota_leaves_requests_in_place_and_deadlines_run(
    quota_dovecot: QuotaDovecot,
    smtp_server: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = quota_dovecot.add_user()
    settings = imap_settings(
        quota_dovecot,
        user,
        smtp_server,
        tmp_path / "store.json",
        mailbox={"batch_size": 5},
        review={"operators": ["ops@delist.example.net"]},
        limits={"replies_per_sender": 100, "replies_per_domain": 1000},
    )
    worker = Worker(from_dict(settings, {}))
    deliver(quota_dovecot, user, reviews(60, "quota"))  # more than one group of batches
    caplog.set_level(logging.INFO, logger="delist_bot")
    now = datetime.now(UTC)

    first = worker.run_once(now)
    assert len(first.processed) == 60  # every group handled, though each move was refused
    assert len(by_kind(smtp_server, "review")) == 60
    later = worker.run_once(now + timedelta(hours=45))
    assert later.processed == []  # not read again: only their move was tried
    assert len(by_kind(smtp_server, "holding")) == 60
    assert len(by_kind(smtp_server, "operator_escalation")) == 60
    assert len(by_kind(smtp_server, "review")) == 60  # not answered twice
    assert count(quota_dovecot, user, "INBOX") == 60
    assert count(quota_dovecot, user, "Processed") == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "OVERQUOTA" in errors[0], errors


def test_a_refused_move_is_retried_alone_until_it_works(
    tmp_path: Path, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Maildir on a full filesystem (the store and the outbox elsewhere): every move into
    .Processed fails with ENOSPC until space is freed."""
    config_file = _write_toml(
        tmp_path,
        {
            "mailbox": {"kind": "maildir", "path": str(small_disk / "maildir")},
            "smtp": {"kind": "files", "path": str(tmp_path / "out"), "from_address": "d@x.ex"},
            "store": {"path": str(tmp_path / "store.json")},
        },
    )
    inbox = mailbox.Maildir(small_disk / "maildir", create=True)
    for n in range(8):
        inbox.add(NEED_INFO.read_bytes().replace(b"example.", b"s%d.example." % n))
    filler = fill(small_disk)
    worker = Worker(from_dict_file(config_file))
    caplog.set_level(logging.INFO, logger="delist_bot")
    now = datetime.now(UTC)

    assert Counter(p.outcome for p in worker.run_once(now).processed) == {"replied": 8}
    assert worker.run_once(now + timedelta(minutes=1)).processed == []  # not read again
    assert len(inbox) == 8
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0], errors

    filler.unlink()
    assert worker.run_once(now + timedelta(minutes=2)).processed == []
    assert len(inbox) == 0
    assert len(mailbox.Maildir(small_disk / "maildir" / ".Processed")) == 8
    assert any("moved into Processed again" in r.getMessage() for r in caplog.records)
    assert len(list((tmp_path / "out").glob("*.eml"))) == 8  # each answered once


def test_deadlines_run_while_the_mailbox_cannot_be_reached(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = imap_settings(dovecot, imap_user, smtp_server, tmp_path / "store.json")
    deliver(dovecot, imap_user, reviews(3, "down"))
    now = datetime.now(UTC)
    Worker(from_dict(settings, {})).run_once(now)
    settings["mailbox"]["port"] = free_port()  # nothing listens there: the server is gone
    with pytest.raises(MailboxError):
        Worker(from_dict(settings, {})).run_once(now + timedelta(hours=45))
    assert len(by_kind(smtp_server, "holding")) == 3  # the promise is kept all the same
    assert len(by_kind(smtp_server, "review")) == 3


def test_a_request_that_waited_three_days_is_due_from_its_arrival(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, imap_config: Config
) -> None:
    arrived = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    connection = client(dovecot, imap_user)
    connection.append("INBOX", reviews(1, "late")[0], msg_time=arrived)
    connection.logout()
    now = datetime.now(UTC)
    Worker(imap_config).run_once(now)
    with Store(Path(imap_config.store.path)).transaction() as tx:
        [case] = tx.cases.all()
    assert case.received_at == arrived
    assert case.due_at == arrived + timedelta(hours=48)
    assert case.breached_at == now and case.holding_sent_at == now
    breaches = [e.text for e in case.events if e.kind == "breach"]
    assert len(breaches) == 1 and breaches[0].startswith("worker_down: ")
    assert len(by_kind(smtp_server, "holding")) == 1


def test_a_worker_down_past_a_deadline_records_the_breach_as_such(tmp_path: Path) -> None:
    config = from_dict_file(maildir_toml(tmp_path, tmp_path / "store.json"))
    seed(tmp_path, reviews(1, "down"))
    now = datetime.now(UTC)
    Worker(config).run_once(now)
    store = Store(tmp_path / "store.json")
    # The machine rebooted while the worker was down; a test cannot reboot it, so the boot id
    # the last pass stored is changed instead (else 50 h in seconds would be a clock step).
    with store.transaction() as tx:
        tx.state.set("clock", {**tx.state.get("clock"), "boot_id": "the boot before"})
    Worker(config).run_once(now + timedelta(hours=50))
    with store.transaction() as tx:
        [case] = tx.cases.all()
    breaches = [e.text for e in case.events if e.kind == "breach"]
    assert breaches[0].startswith("first contact 2:00:00")
    assert breaches[1] == (
        f"worker_down: no pass ran between {now.isoformat()} and "
        f"{(now + timedelta(hours=50)).isoformat()}"
    )


def test_a_maildir_message_arrives_at_the_time_in_its_name(tmp_path: Path) -> None:
    config = from_dict_file(maildir_toml(tmp_path, tmp_path / "s.json"))
    inbox = seed(tmp_path, [])
    name = "1764400000.M123456P42Q1.mx.example"
    (tmp_path / "maildir" / "new" / name).write_bytes(NEED_INFO.read_bytes())
    [[fetched]] = list(MaildirMailbox(config).batches())
    assert fetched.arrived_at == datetime(2025, 11, 29, 7, 6, 40, 123456, tzinfo=UTC)
    assert len(inbox) == 1


# 5. A clock step is not an event -------------------------------------------------------------
UPTIME = 1000.0
WALL = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wall_hours", "uptime_hours", "boot", "step_hours"),
    [
        (0.1, 0.1, "a", None),  # time passed
        (72, 72, "a", None),  # the worker was down three days, the machine up
        (72, 0.05, "a", 72 - 0.05),  # three days by the wall clock, three minutes really
        (-5, 0.1, "a", -5.1),  # the wall clock went back
        (72, -1, "b", None),  # rebooted: downtime cannot be told from a step forward
        (-5, -1, "b", -5),  # rebooted, and the clock is behind the last pass
        (0.5, 0.1, "a", None),  # within the tolerance
    ],
)
def test_clock_step(wall_hours, uptime_hours, boot, step_hours) -> None:
    last = sla.ClockMark(WALL, "a", UPTIME)
    now = sla.ClockMark(
        WALL + timedelta(hours=wall_hours), boot, UPTIME + max(uptime_hours, -0.1) * 3600
    )
    expected = None if step_hours is None else timedelta(hours=step_hours)
    found = sla.clock_step(last, now)
    if expected is None:
        assert found is None
    else:
        assert found is not None and abs(found - expected) < timedelta(seconds=1)


def test_a_clock_stepped_three_days_forward_says_so(tmp_path: Path) -> None:
    config_file = maildir_toml(tmp_path, tmp_path / "store.json")
    seed(tmp_path, reviews(3, "step"))
    first = delist_bot("run", "--once", "--config", str(config_file))
    assert first.returncode == 0, first.stderr
    assert "clock step" not in first.stderr
    stepped = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    result = delist_bot("run", "--once", "--config", str(config_file), "--now", stepped)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "clock step" in line]
    assert len(warnings) == 1, result.stderr
    assert "forward" in warnings[0] and "3 breach(es) recorded as clock_step" in warnings[0]
    with Store(tmp_path / "store.json").transaction() as tx:
        for case in tx.cases.all():
            texts = [e.text for e in case.events if e.kind == "breach"]
            assert any(t.startswith("clock_step: ") for t in texts), texts
    again = delist_bot("run", "--once", "--config", str(config_file), "--now", stepped)
    assert "clock step" not in again.stderr  # once: the next pass agrees with the new clock
