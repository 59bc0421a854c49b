"""Delivery results between the SMTP server's acceptance and the store's next write.

A line per mail is written (to the OS) the moment the server accepts it, so a crash of the process
can send a reply twice only inside one SMTP reply; lines are fsynced once per batch sent, so a
power loss can repeat at most that batch. The store is written once a batch either way.
The sender thread appends to the live file; the worker seals it (a rename) before taking its
lines into the store, and deletes sealed files only once the store holds them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from delist_bot.store.files import open_private, private_folder


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None
        self._lock = threading.Lock()

    def record(self, mail_id: str, changes: dict[str, Any]) -> None:
        line = json.dumps({"id": mail_id, **changes}) + "\n"
        with self._lock:
            if self._handle is None:
                private_folder(self.path.parent)  # 0600/0700 whatever the umask
                handle = open_private(self.path, os.O_WRONLY | os.O_APPEND)
                self._handle = open(handle, "a", encoding="utf-8")  # noqa: SIM115
            self._handle.write(line)
            self._handle.flush()

    def sync(self) -> None:
        """Make the recorded lines durable (once per batch: an fsync per mail cost more than
        the SMTP conversation)."""
        with self._lock:
            if self._handle is not None:
                os.fsync(self._handle.fileno())

    def seal(self) -> list[Path]:
        """Every file whose lines the store has yet to take, oldest first (also those of a
        sender that died); lines recorded from now on go to a new file."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            if self.path.exists():
                self.path.rename(self.path.with_name(f"{self.path.name}.{time.time_ns():020d}"))
        prefix = self.path.name + "."
        if not self.path.parent.exists():
            return []
        return sorted(p for p in self.path.parent.iterdir() if p.name.startswith(prefix))

    @staticmethod
    def entries(files: list[Path]) -> list[dict[str, Any]]:
        """The lines of FILES in order; a torn last line is skipped."""
        found = []
        for path in files:
            try:
                with open(path, encoding="utf-8") as handle:
                    for line in handle:
                        try:
                            found.append(json.loads(line))
                        except ValueError:
                            continue
            except FileNotFoundError:
                continue
        return found

    @staticmethod
    def discard(files: list[Path]) -> None:
        """After the store holds their lines."""
        for path in files:
            path.unlink(missing_ok=True)
