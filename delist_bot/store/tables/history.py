"""History a transaction hands to the archive with its commit, and what it takes from the tables.

The tables add records here; Store._commit appends them all at once.
"""

from __future__ import annotations

from typing import Any

from tinydb import TinyDB
from tinydb.queries import QueryLike

Records = dict[str, list[dict[str, Any]]]


class History:
    def __init__(self) -> None:
        self.records: Records = {}

    def later(self, name: str, records: list[dict[str, Any]]) -> None:
        """History written with this transaction, straight to the archive."""
        self.records.setdefault(name, []).extend(records)


def take(db: TinyDB, table_name: str, condition: QueryLike) -> list[dict[str, Any]]:
    """Remove and return the documents of TABLE_NAME that match CONDITION."""
    table = db.table(table_name)
    found = [dict(doc) for doc in table.search(condition)]
    if found:
        table.remove(condition)
    return found
