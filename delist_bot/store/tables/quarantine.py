"""The quarantine log: why each message went to the mailbox's quarantine folder.

The messages themselves stay in that folder; their records leave for the archive after a month.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tinydb import Query, TinyDB

from delist_bot.core.models import QuarantineRecord
from delist_bot.store.tables.history import take

QUARANTINE_HOT = timedelta(days=30)


class Quarantine:
    def __init__(self, db: TinyDB) -> None:
        self._db = db

    def record(self, record: QuarantineRecord) -> None:
        self._db.table("quarantine").insert(record.to_doc())

    def all(self) -> list[QuarantineRecord]:
        return [QuarantineRecord.from_doc(doc) for doc in self._db.table("quarantine").all()]

    def take_old(self, now: datetime) -> list[dict[str, Any]]:
        """Remove and return the records older than QUARANTINE_HOT (for the archive)."""
        return take(self._db, "quarantine", Query().at < (now - QUARANTINE_HOT).isoformat())
