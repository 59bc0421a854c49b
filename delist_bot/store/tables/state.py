"""The state table: counters, the mailbox position, the review secret, recent ids and replies.

Read once per transaction, kept in memory, and written back key by key at the commit.
"""

from __future__ import annotations

from typing import Any

from tinydb import Query, TinyDB


class State:
    def __init__(self, db: TinyDB) -> None:
        self._db = db
        self._values: dict[str, Any] | None = None
        self._changed: set[str] = set()

    def _all(self) -> dict[str, Any]:
        if self._values is None:
            self._values = {doc["key"]: doc["value"] for doc in self._db.table("state")}
        return self._values

    def get(self, key: str, default: Any = None) -> Any:
        return self._all().get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._all()[key] = value
        self._changed.add(key)

    def flush(self) -> None:
        """One upsert per changed key."""
        table, q = self._db.table("state"), Query()
        for key in sorted(self._changed):
            table.upsert({"key": key, "value": self._all()[key]}, q.key == key)
        self._changed.clear()
