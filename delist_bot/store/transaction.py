"""One store transaction: the domain's tables over one locked TinyDB snapshot.

Each table is a small class in store/tables/; Transaction composes them and owns the commit.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from delist_bot.store.archive import Archive
from delist_bot.store.hot_cases import HotCases
from delist_bot.store.tables.blocklist import Blocklist
from delist_bot.store.tables.cases import Cases
from delist_bot.store.tables.history import History, Records
from delist_bot.store.tables.messages import Messages
from delist_bot.store.tables.outbox import Outbox
from delist_bot.store.tables.quarantine import Quarantine
from delist_bot.store.tables.replies import Replies
from delist_bot.store.tables.state import State


class Transaction:
    """The tables of one locked TinyDB snapshot: tx.cases, tx.outbox, tx.blocklist, ..."""

    def __init__(
        self, db: TinyDB, archive: Archive, spool: Path, hot_cases: HotCases | None = None
    ) -> None:
        self.db = db
        self.history = History()
        self.state = State(db)
        self.cases = Cases(db, archive, self.state, hot_cases)
        self.outbox = Outbox(db, spool, self.history)
        self.blocklist = Blocklist(db)
        self.replies = Replies(self.state)
        self.messages = Messages(self.state, self.history)
        self.quarantine = Quarantine(db)

    @property
    def reusable_index(self) -> HotCases | None:
        return self.cases.index

    def before_commit(self) -> None:
        """Write what was kept back for one table write each (TinyDB rebuilds a table per
        write: per message, that was the cost of a whole batch)."""
        self.cases.flush()
        self.outbox.flush()
        self.state.flush()

    def archive_later(self, name: str, records: list[dict[str, Any]]) -> None:
        """History written with this transaction, straight to the archive."""
        self.history.later(name, records)

    def take_history(self, now: datetime) -> Records:
        """Remove and return what is older than the hot windows."""
        self.before_commit()
        moved = {
            "cases": self.cases.take_old(now),
            "quarantine": self.quarantine.take_old(now),
            "outbox": self.outbox.take_old(now),
        }
        self.messages.forget_old(now)
        return {name: records for name, records in moved.items() if records}
