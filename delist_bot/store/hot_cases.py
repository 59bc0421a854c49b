"""The hot store's cases table, indexed once per transaction and written back once at its end.

TinyDB scans a table for every query and rebuilds it for every write; with thousands of open
cases that would cost milliseconds per message, so lookups go through these indexes instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tinydb.table import Table

from delist_bot.core.models import OPEN_STATUSES

Doc = dict[str, Any]
OPEN_VALUES = frozenset(s.value for s in OPEN_STATUSES)


class HotCases:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.docs: dict[str, Doc] = {}
        self.doc_ids: dict[str, int] = {}
        self._open_by_ip: defaultdict[str, set[str]] = defaultdict(set)
        self._by_message: defaultdict[str, set[str]] = defaultdict(set)
        self._by_network: defaultdict[str, set[str]] = defaultdict(set)
        self._dirty: set[str] = set()
        for doc in table:
            self.doc_ids[doc["id"]] = doc.doc_id
            self._add(dict(doc))

    def bind(self, table: Table) -> HotCases:
        """The same index over TABLE: another transaction's view of the same file."""
        self.table = table
        return self

    # Reads.
    def get(self, case_id: str) -> Doc | None:
        return self.docs.get(case_id)

    def open_for_ip(self, ip: str) -> Doc | None:
        """The oldest open case for IP (there is at most one unless the store was edited)."""
        ids = self._open_by_ip.get(ip)
        return self.docs[min(ids)] if ids else None

    def newest_with_message(self, message_ids: Iterable[str]) -> Doc | None:
        ids = set().union(*(self._by_message.get(m, ()) for m in message_ids))
        return self.docs[max(ids)] if ids else None

    def in_network(self, network: str) -> list[Doc]:
        return [self.docs[i] for i in self._by_network.get(network, ())]

    def all(self) -> list[Doc]:
        return list(self.docs.values())

    # Writes: kept here until flush().
    def save(self, doc: Doc) -> None:
        previous = self.docs.get(doc["id"])
        if previous is not None:
            self._drop(previous)
        self._add(doc)
        self._dirty.add(doc["id"])

    def flush(self) -> None:
        """Write the saved cases to the table: one rebuild for changed ones, one for new ones."""
        changed = [i for i in self._dirty if i in self.doc_ids]
        new = [i for i in self._dirty if i not in self.doc_ids]
        if changed:
            self.table.update(self._replace, doc_ids=[self.doc_ids[i] for i in changed])
        if new:
            ids = self.table.insert_multiple(self.docs[i] for i in new)
            self.doc_ids.update(zip(new, ids, strict=True))
        self._dirty.clear()

    def _replace(self, doc: Doc) -> None:
        saved = self.docs[doc["id"]]
        doc.clear()
        doc.update(saved)

    def _add(self, doc: Doc) -> None:
        case_id = doc["id"]
        self.docs[case_id] = doc
        if doc["status"] in OPEN_VALUES:
            self._open_by_ip[doc.get("ip") or ""].add(case_id)
        for message_id in doc["message_ids"]:
            self._by_message[message_id].add(case_id)
        self._by_network[doc.get("network") or ""].add(case_id)

    def _drop(self, doc: Doc) -> None:
        case_id = doc["id"]
        self._open_by_ip[doc.get("ip") or ""].discard(case_id)
        for message_id in doc["message_ids"]:
            self._by_message[message_id].discard(case_id)
        self._by_network[doc.get("network") or ""].discard(case_id)
