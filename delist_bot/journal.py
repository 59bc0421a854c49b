"""Delivery results between the SMTP server's acceptance and the store's next write.

One fsync'd line per mail costs a fraction of a store write, so the window in which a crash can
send a reply twice stays as narrow as one SMTP reply, while the store is written once a batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def record(self, mail_id: str, changes: dict[str, Any]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._handle.write(json.dumps({"id": mail_id, **changes}) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def entries(self) -> list[dict[str, Any]]:
        """What a sender that died had recorded; a torn last line is skipped."""
        found = []
        try:
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        found.append(json.loads(line))
                    except ValueError:
                        continue
        except FileNotFoundError:
            pass
        return found

    def clear(self) -> None:
        """After the store holds the results."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.path.unlink(missing_ok=True)
