"""A real full disk (a small tmpfs, mounted by the test as root): a failed commit leaves the store,
its files and this process's memory as they were, and a big 8-bit request fits a modest disk."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import errno
import mailbox
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.config import StoreConfig, from_dict
from delist_bot.core.models import MessageRecord, OutgoingMail
from delist_bot.core.settings import Sender, Settings
from delist_bot.runtime.pipeline import process
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store, StoreError, StoreWriteError
from tests.conftest import DATA_SAMPLES, imap_settings
from tests.runtime.test_faults import maildir_config, seed
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SETTINGS = Settings(
    sender=Sender.from_address("delist@d.example"), reviewers=("r@d.example",), secret="s"
)
REVIEW = DATA_SAMPLES / "01-review-attached-en.eml"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """mount(SIZE): a fresh tmpfs of SIZE (e.g. "256k"), unmounted at the end."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (./scripts/test runs the suite as root)")
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def fill(folder: Path) -> Path:
    """Take every free byte of FOLDER's file system; the file to delete to free it."""
    filler = folder / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            with contextlib.suppress(OSError):
                while os.write(handle, chunk):
                    pass
    finally:
        os.close(handle)
    assert os.statvfs(folder).f_bavail == 0
    return filler


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "filler"
    }


def mail(n: int, size: int) -> OutgoingMail:
    raw = b"Subject: %d\r\n\r\n" % n + b"x" * size
    return OutgoingMail(f"m{n}", "review", "a@x.example", raw, f"<m{n}@x>", NOW)


def state_of(store: Store) -> tuple:
    with store.transaction() as tx:
        return (
            tx.state.get("counter"),
            sorted(tx.state.get("seen", {})),
            sorted(mail.id for mail in tx.outbox.all()),
            [c.id for c in tx.cases.all()],
            tx.cases.open_for_ip("81.2.69.142"),
        )


def commit(store: Store, n: int, raw: bytes) -> None:
    """What a batch commits: a message record (archive), a case, a mail (spool), state."""
    with store.transaction() as tx:
        tx.state.set("counter", n)
        process(tx, f"u{n}", raw, NOW, SETTINGS)
        tx.outbox.enqueue(mail(n, 3000))


def test_a_failed_commit_on_a_full_disk_leaves_nothing_behind_and_the_next_one_works(
    tmpfs: Callable[[str], Path],
) -> None:
    disk = tmpfs("256k")
    store = Store(disk / "store.json")
    commit(store, 1, REVIEW.read_bytes())
    before, files = state_of(store), snapshot(disk)
    assert before[3] == ["DL-000001"]

    filler = fill(disk)
    second = (
        REVIEW.read_bytes()
        .replace(b"<sample-001@", b"<another@")
        .replace(b"81.2.69.142", b"81.2.69.200")
    )
    for _ in range(3):  # and again: nothing accumulates, the memory stays right
        with pytest.raises(StoreWriteError) as failure:
            commit(store, 2, second)
        assert str(failure.value).startswith(f"cannot write {disk}/")
        assert str(failure.value).endswith(": No space left on device")
        assert isinstance(failure.value, StoreError)  # what the worker stops the pass on
        assert snapshot(disk) == files  # no .tmp, no spool file, no archive line
        assert state_of(store) == before  # this process's memo and index too
        assert state_of(Store(disk / "store.json")) == before  # and the file

    filler.unlink()
    commit(store, 2, second)
    after = state_of(store)
    assert after[0] == 2 and len(after[1]) == 2 and len(after[2]) == len(before[2]) * 2
    assert after[3] == ["DL-000001", "DL-000002"]
    assert state_of(Store(disk / "store.json")) == after


def test_an_append_to_the_archive_that_fails_is_taken_back(tmpfs: Callable[[str], Path]) -> None:
    # An archive line that fits in its file's last page, then a store file that does not fit:
    # the archive is truncated back, so no record of a commit that never happened stays.
    disk = tmpfs("256k")
    store = Store(disk / "store.json")
    with store.transaction() as tx:
        tx.messages.record(MessageRecord("k1", "1", NOW, None, "done"))
        tx.state.set("pad", "p" * 60_000)
    files = snapshot(disk)
    filler = fill(disk)
    failing = pytest.raises(StoreWriteError, match=r"store\.json: No space left on device")
    with failing, store.transaction() as tx:
        tx.messages.record(MessageRecord("k2", "2", NOW, None, "done"))
    assert snapshot(disk) == files
    with store.transaction() as tx:
        assert not tx.messages.seen("k2")
    filler.unlink()
    with store.transaction() as tx:
        tx.messages.record(MessageRecord("k2", "2", NOW, None, "done"))
    assert [r["key"] for r in store.archive.records("messages")] == ["k1", "k2"]


def test_a_full_disk_stops_the_pass_and_loses_no_request(
    tmpfs: Callable[[str], Path], tmp_path: Path
) -> None:
    # Issue 17: five requests on a full disk were taken for duplicates and filed unanswered.
    config = maildir_config(tmp_path)
    disk = tmpfs("256k")
    config = dataclasses.replace(config, store=StoreConfig(path=str(disk / "s.json")))
    seed(config, [REVIEW.read_bytes()])
    Worker(config).run_once(NOW)
    filler = fill(disk)
    requests = [
        REVIEW.read_bytes()
        .replace(b"<sample-001@", b"<full%d@" % n)
        .replace(b"mario@mail.example.org", b"admin%d@mail.example.org" % n)
        .replace(b"81.2.69.142", b"81.2.69.%d" % (150 + n))
        for n in range(5)
    ]
    seed(config, requests)
    for _ in range(2):
        with pytest.raises(StoreError, match="No space left on device"):
            Worker(config).run_once(NOW + timedelta(minutes=1))
        assert len(mailbox.Maildir(config.mailbox.path, create=False)) == 5  # none moved
    filler.unlink()
    report = Worker(config).run_once(NOW + timedelta(minutes=2))
    assert sorted(r.case_id for r in report.processed) == [f"DL-00000{n}" for n in range(2, 7)]
    sent = [email.message_from_bytes(p.read_bytes()) for p in Path(config.smtp.path).glob("*.eml")]
    acknowledged = Counter(m["To"] for m in sent if m["X-Delist-Bot-Action"] == "review")
    assert acknowledged == Counter(f"admin{n}@mail.example.org" for n in range(5)) + Counter(
        ["mario@mail.example.org"]
    )
    assert sum(m["X-Delist-Bot-Action"] == "reviewer_notification" for m in sent) == 6


LINE = "Grüße aus Köln: àéèùç ÀÉÈÙ ñ ø å æ ß, voilà, déjà vu. ¡Olé!\n".encode("latin-1")


def big_request(size: int) -> bytes:
    """A review request with a SIZE-byte ISO-8859-1 text part: most lines are 8-bit."""
    body = (LINE * (size // len(LINE) + 1))[:size]
    part = b"--outer-b\nContent-Type: text/plain; charset=iso-8859-1\n"
    part += b"Content-Transfer-Encoding: 8bit\n\n" + body + b"\n"
    return REVIEW.read_bytes().replace(b"--outer-b--", part + b"--outer-b--")


def test_an_8_5_mb_latin_1_request_fits_a_40_mb_disk(tmpfs: Callable[[str], Path]) -> None:
    # Issue 18: as latin-1 text in JSON the spool took 50 MB for this request, and failed.
    disk = tmpfs("40m")
    raw = big_request(8_500_000)
    store = Store(disk / "store.json")
    with store.transaction() as tx:
        result = process(tx, "1", raw, NOW, SETTINGS)
    assert (result.action, result.replies) == ("review", ("review", "reviewer_notification"))
    spooled = sum(p.stat().st_size for p in (disk / "store.json.spool").iterdir())
    assert spooled <= 1.4 * len(raw)
    with store.transaction() as tx:
        notification = next(m for m in tx.outbox.all() if m.kind == "reviewer_notification")
        attached = tx.outbox.mail_bytes(notification)  # the request, as it came, for the reviewers
        assert attached.count(LINE.rstrip(b"\n")) == raw.count(LINE.rstrip(b"\n")) > 100_000
        for mail in tx.outbox.all():
            tx.outbox.update(mail.id, status="sent", sent_at=NOW.isoformat())
    store.compact(NOW + timedelta(days=1))  # sent: the spool file goes
    assert list((disk / "store.json.spool").iterdir()) == []
    assert len(store.archive.records("outbox")) == 2
    # What stays is the request, kept once for `cases show --raw` while its case is hot.
    assert store.request(result.case_id) == raw
    statvfs = os.statvfs(disk)
    assert (statvfs.f_blocks - statvfs.f_bfree) * statvfs.f_frsize < len(raw) + 1_000_000


def test_enospc_is_what_the_tmpfs_really_gives(tmpfs: Callable[[str], Path]) -> None:
    disk = tmpfs("256k")
    fill(disk)
    with pytest.raises(OSError) as failure, open(disk / "more", "wb") as handle:
        handle.write(b"x" * 8192)
        handle.flush()
    assert failure.value.errno == errno.ENOSPC


def test_a_pass_answers_an_8_5_mb_latin_1_request_with_the_store_on_a_40_mb_disk(
    tmpfs: Callable[[str], Path], dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer
) -> None:
    # Issue 18's target, end to end: Dovecot in, aiosmtpd out, three ordinary requests after it.
    disk = tmpfs("40m")
    config = from_dict(imap_settings(dovecot, imap_user, smtp_server, disk / "store.json"), {})
    ordinary = [
        REVIEW.read_bytes()
        .replace(b"<sample-001@", b"<after%d@" % n)
        .replace(b"mario@mail.example.org", b"admin%d@mail.example.org" % n)
        .replace(b"81.2.69.142", b"81.2.69.%d" % (150 + n))
        for n in range(3)
    ]
    deliver(dovecot, imap_user, [big_request(8_500_000), *ordinary])
    report = Worker(config).run_once(NOW)
    assert [r.outcome for r in report.processed] == ["replied"] * 4
    sent = Counter(
        (m["X-Delist-Bot-Action"], envelope.rcpt_tos[0])
        for envelope, m in smtp_server.recorder.messages
    )
    requesters = ["mario@mail.example.org"] + [f"admin{n}@mail.example.org" for n in range(3)]
    assert sent == Counter(
        [("review", r) for r in requesters]
        + [("reviewer_notification", "reviewer@delist.example.net")] * 4
    )
    (notification, *_) = (
        m
        for _, m in smtp_server.recorder.messages
        if m["X-Delist-Bot-Action"] == "reviewer_notification" and "mario" in m["Subject"]
    )
    assert LINE.rstrip(b"\n") in notification.as_bytes()


def test_a_commit_whose_archive_does_not_fit_leaves_no_new_file(
    tmpfs: Callable[[str], Path],
) -> None:
    disk = tmpfs("256k")
    store = Store(disk / "store.json")
    with store.transaction() as tx:
        tx.state.set("counter", 1)
    files = snapshot(disk)
    filler = fill(disk)
    months = [NOW - timedelta(days=31 * n) for n in range(12)]
    failing = pytest.raises(StoreWriteError, match=r"messages/20..-..\.jsonl: No space left on")
    with failing, store.transaction() as tx:  # a new file for each month: the disk runs out
        for n, month in enumerate(months):
            tx.messages.record(MessageRecord(f"k{n}", str(n), month, None, "done"))
    assert snapshot(disk) == files
    filler.unlink()
    with store.transaction() as tx:
        tx.messages.record(MessageRecord("k", "1", NOW, None, "done"))
    assert [r["key"] for r in store.archive.records("messages")] == ["k"]
