"""The store's files: private files and folders, atomic replacement, the TinyDB storage, the file
lock, and the spool of queued mail (raw bytes, a small header of ids and lengths before them).

Every write goes to a private temporary file that is fsynced and renamed into place, so a crash
leaves the previous state and a failed write leaves no temporary file; the last good copy of the
store stays beside it as `<store>.bak` (a hard link). A failed write is a StoreWriteError.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from delist_bot import failpoints
from delist_bot.store.codec import utf8

LOCK_TIMEOUT = 30.0
PRIVATE_FILE = 0o600  # the store holds whole mails and the review secret
PRIVATE_FOLDER = 0o700
SPOOL_SUFFIX = ".mail"
OLD_SPOOL_SUFFIX = ".jsonl"  # older versions: latin-1 text in JSON lines, about 6x the bytes


class StoreError(Exception):
    """The store cannot be used; the message is the one line the user sees."""


class StoreCorrupt(StoreError):
    """The file cannot be read: the worker must stop rather than start over."""


class StoreWriteError(StoreError):
    """A write failed (a full disk, a read-only file system): nothing of the commit was kept.
    A fault of the store, not of a message: stop the pass and retry it later."""


def write_error(path: Path, exc: OSError) -> StoreWriteError:
    return StoreWriteError(f"cannot write {path}: {exc.strerror or exc}")


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


# Private files and folders, whatever the umask (and whatever an older version left).
def private_folder(path: Path) -> None:
    """Make PATH (and its missing parents) a folder only its user can enter."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(folder, PRIVATE_FOLDER)
        _make_private(folder, PRIVATE_FOLDER)


def bot_folder(path: Path) -> None:
    """A folder that only the bot writes (archive, spool): private even if it already exists."""
    private_folder(path)
    _make_private(path, PRIVATE_FOLDER)


def open_private(path: Path, flags: int) -> int:
    """os.open with O_CREAT, the file 0600 whether it is new or not (the umask only ever takes
    bits away, and an older version created 0644 files)."""
    handle = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(handle).st_mode) != PRIVATE_FILE:
            os.fchmod(handle, PRIVATE_FILE)
    except BaseException:
        os.close(handle)
        raise
    return handle


def _make_private(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)


def replace_file(
    path: Path, chunks: Iterable[bytes], *, keep_backup: bool = False, failpoint: str = ""
) -> None:
    """Write CHUNKS as the new PATH, or leave PATH as it was and no temporary file behind."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        private_folder(path.parent)
        with open(open_private(temporary, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            failpoints.reach(failpoint)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_backup and path.exists():
            # The last good copy, by a hard link: no bytes copied, and never a half-written file.
            _make_private(path, PRIVATE_FILE)  # an older version's 0644 store
            backup = backup_path(path)
            link = backup.with_name(backup.name + ".new")
            link.unlink(missing_ok=True)
            os.link(path, link)
            os.replace(link, backup)
        os.replace(temporary, path)
        sync_folder(path.parent)
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        temporary.unlink(missing_ok=True)  # gone already once renamed


def sync_folder(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# The hot store.
@dataclass
class Memo:
    """The last data this process read or wrote, and the file identity it belongs to.

    A worker writes its store once a batch; reading it back and parsing it again each time
    would cost as much as the write. Another process's write replaces the file (a new inode),
    which makes the memo stale."""

    key: tuple[int, int, int] | None = None
    data: dict[str, Any] | None = None
    derived: dict[str, Any] = field(default_factory=dict)  # indexes built over DATA

    def forget(self) -> None:
        self.key, self.data = None, None
        self.derived = {}


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat_ = path.stat()
    except FileNotFoundError:
        return None
    return stat_.st_ino, stat_.st_mtime_ns, stat_.st_size


class AtomicJSONStorage(Storage):
    """TinyDB storage that writes a temporary file, fsyncs it and renames it into place."""

    def __init__(self, path: str, memo: Memo | None = None) -> None:
        self.path = Path(path)
        self.memo = memo if memo is not None else Memo()

    def read(self) -> dict[str, Any] | None:
        identity = _identity(self.path)
        if identity is not None and identity == self.memo.key:
            return self.memo.data
        self.memo.forget()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            backup = backup_path(self.path)
            hint = f"; the last good copy is {backup}" if backup.exists() else ""
            raise StoreCorrupt(f"store {self.path} is unreadable ({exc}){hint}") from exc
        if not isinstance(data, dict):
            raise StoreCorrupt(f"store {self.path} is not a delist-bot store")
        self.memo.key, self.memo.data = identity, data
        return data

    def write(self, data: dict[str, Any]) -> None:
        self.memo.forget()
        # The C encoder (json.dump is not); text as UTF-8, a stray surrogate as U+FFFD.
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        replace_file(self.path, [utf8(text)], keep_backup=True, failpoint="store_write")
        self.memo.key, self.memo.data = _identity(self.path), data

    def close(self) -> None:
        pass


@contextlib.contextmanager
def locked(path: Path, *, blocking: bool = True, timeout: float = LOCK_TIMEOUT) -> Iterator[int]:
    """An exclusive flock on PATH for the block (closing the file releases it)."""
    try:
        private_folder(path.parent)
        handle = open_private(path, os.O_RDWR)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        yield handle
    finally:
        os.close(handle)


# The spool: the bytes of one commit's mail, kept as they are.
def write_spool(path: Path, mails: list[tuple[str, bytes]]) -> None:
    """One file with one fsync: a JSON line of [id, length] pairs, then the mails' bytes."""
    header = json.dumps({"mails": [[mail_id, len(raw)] for mail_id, raw in mails]})
    bot_folder(path.parent)
    replace_file(path, [header.encode() + b"\n", *(raw for _, raw in mails)])


def spool_mail(path: Path, mail_id: str) -> bytes:
    """One queued mail's bytes, from the spool file its commit wrote."""
    if path.suffix == OLD_SPOOL_SUFFIX:
        return _old_spool_file(path)[mail_id]
    offset, length = _spool_index(path)[mail_id]
    with open(path, "rb") as handle:
        handle.seek(offset)
        raw = handle.read(length)
    if len(raw) != length:
        raise StoreCorrupt(f"spool file {path} is cut short")
    return raw


@functools.lru_cache(maxsize=64)
def _spool_index(path: Path) -> dict[str, tuple[int, int]]:
    """Where each mail's bytes begin and how many (spool files never change once written)."""
    with open(path, "rb") as handle:
        header = handle.readline()
    offset, found = len(header), {}
    for mail_id, length in json.loads(header)["mails"]:
        found[mail_id] = (offset, length)
        offset += length
    return found


@functools.lru_cache(maxsize=8)
def _old_spool_file(path: Path) -> dict[str, bytes]:
    """A spool file of the old format: JSON lines of {"id", "raw" as latin-1 text}."""
    with open(path, encoding="utf-8") as handle:
        return {d["id"]: d["raw"].encode("latin-1") for d in map(json.loads, handle)}


def write_request(folder: Path, case_id: str, raw: bytes) -> None:
    """A case's request as it came, private to this user: for `cases show ID --raw`, and for
    reviewers when the notification had to be cut to fit the SMTP server."""
    replace_file(folder / f"{case_id}.eml", [raw])
