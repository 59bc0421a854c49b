"""The store's files: the atomic TinyDB storage, the file lock, and the spool of queued mail.

Every write goes to a temporary file that is fsynced and renamed into place, so a crash leaves
the previous state; the last good copy stays beside it as `<store>.bak` (a hard link).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from delist_bot import failpoints

LOCK_TIMEOUT = 30.0


class StoreError(Exception):
    """The store cannot be used; the message is the one line the user sees."""


class StoreCorrupt(StoreError):
    """The file cannot be read: the worker must stop rather than start over."""


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


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
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


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
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            text = json.dumps(data, separators=(",", ":"))  # the C encoder; json.dump is not
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
                failpoints.reach("store_write")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a full disk: the store stays as it was
            temporary.unlink(missing_ok=True)
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        if self.path.exists():
            # The last good copy, by a hard link: no bytes copied, and never a half-written file.
            backup = backup_path(self.path)
            link = backup.with_name(backup.name + ".new")
            link.unlink(missing_ok=True)
            os.link(self.path, link)
            os.replace(link, backup)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self.memo.key, self.memo.data = _identity(self.path), data

    def close(self) -> None:
        pass


@contextlib.contextmanager
def locked(path: Path, *, blocking: bool = True, timeout: float = LOCK_TIMEOUT) -> Iterator[int]:
    """An exclusive flock on PATH for the block (closing the file releases it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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


def write_spool(path: Path, mails: list[tuple[str, bytes]]) -> None:
    """The bodies of one commit's mail, in one file with one fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": i, "raw": raw.decode("latin-1")}) for i, raw in mails]
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@functools.lru_cache(maxsize=8)
def spool_file(path: Path) -> dict[str, bytes]:
    """A spool file's mail by id (spool files never change once written, so they are cached)."""
    with open(path, encoding="utf-8") as handle:
        return {d["id"]: d["raw"].encode("latin-1") for d in map(json.loads, handle)}


def write_request(folder: Path, case_id: str, raw: bytes) -> None:
    """A case's request as it came, private to this user: for `cases show ID --raw`, and for
    reviewers when the notification had to be cut to fit the SMTP server."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"{case_id}.eml"
    temporary = folder / f".{case_id}.{os.getpid()}.tmp"
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(handle, "wb") as stream:
            stream.write(raw)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
