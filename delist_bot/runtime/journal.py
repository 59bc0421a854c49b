"""Delivery results between the SMTP server's acceptance and the store's next write.

A line per mail is written (to the OS) the moment the server accepts it, so a crash of the process
can send a reply twice only inside one SMTP reply; lines are fsynced once per batch sent, so a
power loss can repeat at most that batch. The store is written once a batch either way.
Each process appends to a live file of its own, named after it and held under an exclusive
flock for as long as it is open: no process ever seals or deletes another's live file. A live
file that can be locked belongs to a process that died; it is sealed like one's own. Sealed
files are deleted only once the store holds their lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

from delist_bot.store.files import open_private, private_folder

LIVE = "live"  # <journal>.live.<pid>.<ns>: a live file; <journal>.<ns>: a sealed one


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._live: Path | None = None
        self._lock = threading.Lock()

    def record(self, mail_id: str, changes: dict[str, Any]) -> None:
        line = json.dumps({"id": mail_id, **changes}) + "\n"
        with self._lock:
            if self._handle is None:
                self._open_live()
            assert self._handle is not None
            self._handle.write(line)
            self._handle.flush()

    def _open_live(self) -> None:
        """Lock the file before it has its live name, so a live name is always locked by a
        living owner (a sealer that can lock one knows its owner is gone)."""
        private_folder(self.path.parent)  # 0600/0700 whatever the umask
        stamp = f"{os.getpid()}.{time.time_ns():020d}"
        creating = self.path.with_name(f".{self.path.name}.creating.{stamp}")
        descriptor = open_private(creating, os.O_WRONLY | os.O_APPEND)
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        live = self.path.with_name(f"{self.path.name}.{LIVE}.{stamp}")
        os.rename(creating, live)
        self._handle = os.fdopen(descriptor, "a", encoding="utf-8")
        self._live = live

    def sync(self) -> None:
        """Make the recorded lines durable (once per batch: an fsync per mail cost more than
        the SMTP conversation)."""
        with self._lock:
            if self._handle is not None:
                os.fsync(self._handle.fileno())

    def seal(self) -> list[Path]:
        """Every file whose lines the store has yet to take, oldest first: this process's own
        and those of a sender that died; lines recorded from now on go to a new file."""
        with self._lock:
            if self._handle is not None:
                assert self._live is not None
                self._live.rename(self._sealed_name())  # renamed while still locked
                self._handle.close()
                self._handle, self._live = None, None
        if not self.path.parent.exists():
            return []
        for orphan in self._live_files():
            # Named by when it was opened: its lines come before those of files sealed later.
            opened = orphan.name.rpartition(".")[2]
            _seal_if_dead(orphan, self._sealed_name(opened if opened.isdigit() else None))
        prefix = self.path.name + "."
        return sorted(
            p
            for p in self.path.parent.iterdir()
            if p.name.startswith(prefix) and p.name[len(prefix) :].isdigit()
        )

    def _sealed_name(self, stamp: str | None = None) -> Path:
        return self.path.with_name(f"{self.path.name}.{stamp or f'{time.time_ns():020d}'}")

    def _live_files(self) -> list[Path]:
        prefix = f"{self.path.name}.{LIVE}."
        found = [p for p in self.path.parent.iterdir() if p.name.startswith(prefix)]
        legacy = self.path  # the one shared live file of earlier versions
        return found + ([legacy] if legacy.exists() else [])

    @staticmethod
    def entries(files: list[Path]) -> list[dict[str, Any]]:
        """The lines of FILES in order; a torn last line is skipped."""
        found = []
        for path in files:
            try:
                with open(path, "rb") as handle:
                    found.extend(e for e in map(_entry, handle) if e is not None)
            except FileNotFoundError:
                continue
        return found

    @staticmethod
    def discard(files: list[Path]) -> None:
        """After the store holds their lines."""
        for path in files:
            path.unlink(missing_ok=True)


def _entry(line: bytes) -> dict[str, Any] | None:
    """LINE's entry, or None for a torn one: cut short, or not even UTF-8 (a crash can leave
    a block of old disk contents at a file's end), or not a JSON object."""
    try:
        entry = json.loads(line.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        return None
    return entry if isinstance(entry, dict) else None


def _seal_if_dead(live: Path, sealed: Path) -> None:
    """Seal another process's live file only if no process holds its lock."""
    try:
        descriptor = os.open(live, os.O_RDONLY)
    except FileNotFoundError:
        return  # its owner sealed it meanwhile
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return  # alive: its lines are its owner's to hand over
    try:
        with contextlib.suppress(FileNotFoundError):
            live.rename(sealed)
    finally:
        os.close(descriptor)
