"""Processed messages: the record that makes a second pass a no-op.

Recent keys stay in the state ("seen"); the records themselves go straight to the archive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from delist_bot.core.models import MessageRecord
from delist_bot.store.tables.history import History
from delist_bot.store.tables.state import State

SEEN_WINDOW = timedelta(days=3)  # Message-IDs remembered against a second delivery


class Messages:
    def __init__(self, state: State, history: History) -> None:
        self._state = state
        self._history = history

    def seen(self, key: str) -> bool:
        """Was a message with this key handled in the last SEEN_WINDOW?"""
        return key in self._state.get("seen", {})

    def record(self, record: MessageRecord) -> None:
        self._history.later("messages", [record.to_doc()])
        seen = self._state.get("seen", {})
        seen[record.key] = record.received_at.isoformat()
        self._state.set("seen", seen)

    def forget_old(self, now: datetime) -> None:
        """Forget keys older than SEEN_WINDOW."""
        since = (now - SEEN_WINDOW).isoformat()
        seen = self._state.get("seen", {})
        kept = {key: at for key, at in seen.items() if at >= since}
        if len(kept) != len(seen):
            self._state.set("seen", kept)
