"""The journal (runtime/journal.py): delivery results written the moment the server answers,
read back in order, one live file per process under flock, and what survives a crash.

Real files, a real second process (forked) for the lock; no server.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from delist_bot.runtime.journal import Journal

SENT = {"status": "sent", "attempts": 1, "sent_at": "2026-03-02T09:00:00+00:00", "last_error": None}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.json.journal"


def live_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".live.*"))


def test_a_line_per_mail_read_back_in_order(path: Path) -> None:
    journal = Journal(path)
    journal.record("m1", SENT)
    journal.record("m2", {"status": "pending", "last_error": "451 later (at DATA)"})
    journal.sync()
    files = journal.seal()
    assert [f.name for f in files] == [f.name for f in path.parent.iterdir()]
    assert Journal.entries(files) == [
        {"id": "m1", **SENT},
        {"id": "m2", "status": "pending", "last_error": "451 later (at DATA)"},
    ]


def test_the_live_file_is_named_after_its_process_and_private(path: Path) -> None:
    previous = os.umask(0)
    try:
        Journal(path).record("m1", SENT)
    finally:
        os.umask(previous)
    [live] = live_files(path)
    assert re.fullmatch(rf"store\.json\.journal\.live\.{os.getpid()}\.\d{{20}}", live.name)
    assert stat.S_IMODE(live.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert live.read_text() == '{"id": "m1", "status": "sent", "attempts": 1, ' + (
        '"sent_at": "2026-03-02T09:00:00+00:00", "last_error": null}\n'
    )


def test_nothing_recorded_makes_no_file(path: Path) -> None:
    journal = Journal(path)
    journal.sync()
    assert journal.seal() == []
    assert not path.parent.exists()


def test_lines_after_a_seal_go_to_a_new_file_that_sorts_after(path: Path) -> None:
    journal = Journal(path)
    journal.record("m1", SENT)
    first = journal.seal()
    journal.record("m2", SENT)
    assert len(live_files(path)) == 1
    both = journal.seal()  # the store has not taken the first yet: both, oldest first
    assert both[0] == first[0] and len(both) == 2
    assert [e["id"] for e in Journal.entries(both)] == ["m1", "m2"]
    Journal.discard(both)
    Journal.discard(both)  # twice, or after another process: no error
    assert list(path.parent.iterdir()) == []


TORN = [  # what a crash leaves at the end of the last line written
    pytest.param(b'{"id": "m3", "sta', ["m1", "m2"], id="cut in the middle"),
    pytest.param(b"{", ["m1", "m2"], id="one byte"),
    pytest.param(b"\x00" * 4096, ["m1", "m2"], id="a block of zeros after a power loss"),
    pytest.param(b'{"id": "m3", "status": "sent"}', ["m1", "m2", "m3"], id="whole, no newline"),
    pytest.param(b"\n", ["m1", "m2"], id="an empty line"),
]


@pytest.mark.parametrize(("tail", "ids"), TORN)
def test_a_torn_last_line_is_skipped_and_the_rest_kept(
    path: Path, tail: bytes, ids: list[str]
) -> None:
    journal = Journal(path)
    journal.record("m1", SENT)
    journal.record("m2", SENT)
    files = journal.seal()
    with open(files[-1], "ab") as handle:
        handle.write(tail)
    assert [e["id"] for e in Journal.entries(files)] == ids


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b'{"id": "m2\xff\xfe', id="cut-inside-invalid-utf8"),
        pytest.param(b"\x00" * 4096, id="zeroed-block"),
        pytest.param(b"\xff\xfe{\x00}\x00\n", id="utf16-looking"),
        pytest.param(b"12345\n", id="json-but-not-an-object"),
    ],
)
def test_a_torn_tail_that_is_not_an_entry_is_skipped(path: Path, tail: bytes) -> None:
    """A crash can leave old disk contents at a file's end: the good lines are kept, the
    next file's too."""
    journal = Journal(path)
    journal.record("m1", SENT)
    files = journal.seal()
    with open(files[-1], "ab") as handle:
        handle.write(tail)
    journal.record("m3", SENT)
    files = journal.seal()
    assert [e["id"] for e in Journal.entries(files)] == ["m1", "m3"]


def test_a_file_gone_meanwhile_is_no_error(path: Path) -> None:
    journal = Journal(path)
    journal.record("m1", SENT)
    files = journal.seal()
    assert Journal.entries([path.with_name(path.name + ".1"), *files]) == [{"id": "m1", **SENT}]


def test_the_shared_file_of_earlier_versions_is_taken_in(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text('{"id": "old", "status": "sent"}\n')
    journal = Journal(path)
    files = journal.seal()
    assert not path.exists()
    assert [e["id"] for e in Journal.entries(files)] == ["old"]


def test_threads_write_whole_lines_to_one_file(path: Path) -> None:
    """The courier's thread and the worker's both may record: every line whole, one live file,
    each thread's lines in its order."""
    journal = Journal(path)

    def send(thread: int) -> None:
        for n in range(200):
            journal.record(f"t{thread}-{n}", SENT)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(live_files(path)) == 1
    ids = [e["id"] for e in Journal.entries(journal.seal())]
    assert len(ids) == 800
    for t in range(4):
        assert [i for i in ids if i.startswith(f"t{t}-")] == [f"t{t}-{n}" for n in range(200)]


# Another process's live file: never touched while it lives, taken in once it has died --------


@contextmanager
def other_process(path: Path, mail_id: str) -> Iterator[int]:
    """A forked process that records MAIL_ID and stays alive until the block ends; then it dies
    without sealing (as a killed worker does). Yields its pid."""
    ready_r, ready_w = os.pipe()
    end_r, end_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery, no cleanup, just the journal
        try:
            os.close(end_w)  # or its own copy would keep the pipe open
            os.close(ready_r)
            journal = Journal(path)  # held: its file (and lock) lives as long as it does
            journal.record(mail_id, SENT)
            os.write(ready_w, b"x")
            os.read(end_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(end_r)
    try:
        assert os.read(ready_r, 1) == b"x", "the other process did not record"
        yield pid
    finally:
        os.close(end_w)  # the child's read returns: it exits
        os.waitpid(pid, 0)
        os.close(ready_r)


def test_a_living_process_keeps_its_file_and_a_dead_ones_is_taken_in(path: Path) -> None:
    mine = Journal(path)
    with other_process(path, "theirs") as pid:
        [theirs] = live_files(path)
        assert f".live.{pid}." in theirs.name
        mine.record("mine-1", SENT)
        own = mine.seal()
        assert [e["id"] for e in Journal.entries(own)] == ["mine-1"]
        assert live_files(path) == [theirs] and theirs.exists()  # locked: alive, not mine
        Journal.discard(own)
        mine.record("mine-2", SENT)  # opened after theirs
    files = mine.seal()
    assert live_files(path) == []
    # Sealed by when it was opened: the dead process's lines come first.
    assert [e["id"] for e in Journal.entries(files)] == ["theirs", "mine-2"]


def test_two_journals_in_one_process_lock_each_other_out(path: Path) -> None:
    """flock belongs to the open file, not the process: a second sender in this process is
    kept out the same way, and a closed file (the sender died) is taken in."""
    mine, other = Journal(path), Journal(path)
    mine.record("m1", SENT)
    assert other.seal() == []  # alive (its flock is held): not another's to seal
    assert len(live_files(path)) == 1
    sealed = mine.seal()
    assert [e["id"] for e in Journal.entries(sealed)] == ["m1"]
    mine.record("m2", SENT)
    assert mine._handle is not None
    mine._handle.close()  # the sender died: its lock is gone with it
    orphaned = other.seal()
    assert [e["id"] for e in Journal.entries(orphaned)] == ["m1", "m2"]
