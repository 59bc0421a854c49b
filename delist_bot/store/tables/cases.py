"""The cases table: reads and writes of cases through HotCases' indexes, history in the archive.

A decided case stays hot FINAL_CASES_HOT long (for follow-ups and the digest), then is archived.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from tinydb import Query, TinyDB

from delist_bot.core.blocklist import neighbourhood
from delist_bot.core.models import OPEN_STATUSES, Case, CaseStatus, Nearby
from delist_bot.store.archive import Archive
from delist_bot.store.codec import case_from_doc, case_to_doc
from delist_bot.store.hot_cases import OPEN_VALUES, HotCases
from delist_bot.store.tables.history import take
from delist_bot.store.tables.state import State

FINAL_CASES_HOT = timedelta(days=7)  # decided cases, for follow-ups and the digest


class Cases:
    def __init__(
        self, db: TinyDB, archive: Archive, state: State, hot: HotCases | None = None
    ) -> None:
        self._db = db
        self._archive = archive
        self._state = state
        # The last transaction's index, while the file is still the one it wrote: a worker
        # need not re-index thousands of open cases for every batch.
        self.index: HotCases | None = hot.bind(db.table("cases")) if hot else None
        self.requests: dict[str, bytes] = {}  # a new case's request, kept with the commit

    @property
    def hot(self) -> HotCases:
        if self.index is None:
            self.index = HotCases(self._db.table("cases"))
        return self.index

    def flush(self) -> None:
        if self.index is not None:
            self.index.flush()

    def get(self, case_id: str) -> Case | None:
        """A case, hot or archived (a sender may answer a case closed long ago)."""
        found = self.hot.get(case_id) or self._archive.case(case_id)
        return case_from_doc(found) if found else None

    def save(self, case: Case) -> None:
        self.hot.save(case_to_doc(case))

    def keep_request(self, case_id: str, raw: bytes) -> None:
        """The request a case was opened for, as it came (`Store.request` reads it)."""
        self.requests[case_id] = raw

    def next_number(self) -> int:
        number = int(self._state.get("case_counter", 0)) + 1
        self._state.set("case_counter", number)
        return number

    def open_for_ip(self, ip: str) -> Case | None:
        found = self.hot.open_for_ip(ip)
        return case_from_doc(found) if found else None

    def for_messages(self, message_ids: Iterable[str]) -> Case | None:
        """The case whose thread holds any of these Message-IDs (the newest such case)."""
        found = self.hot.newest_with_message(m for m in message_ids if m)
        return case_from_doc(found) if found else None

    def near(self, ip: str, excluding: str | None = None, latest: int = 5) -> Nearby:
        """Other cases for this IP and for its /24 or /48, hot and archived (for the dossier)."""
        docs = {d["id"]: d for d in self._archive.cases_near(ip)}
        docs |= {d["id"]: d for d in self.hot.in_network(neighbourhood(ip))}
        docs.pop(excluding or "", None)
        ids = sorted(docs)  # case ids count up: oldest first
        same_ip = [i for i in ids if docs[i]["ip"] == ip]
        same_network = [i for i in ids if docs[i]["ip"] != ip]
        return Nearby(
            tuple(case_from_doc(docs[i]) for i in same_ip[-latest:]),
            len(same_ip),
            tuple(case_from_doc(docs[i]) for i in same_network[-latest:]),
            len(same_network),
        )

    def open(self) -> list[Case]:
        return [case_from_doc(d) for d in self.hot.all() if d["status"] in OPEN_VALUES]

    def all(self, status: str | None = None) -> list[Case]:
        docs = self.hot.all()
        return [case_from_doc(d) for d in docs if status is None or d["status"] == status]

    def take_old(self, now: datetime) -> list[dict[str, Any]]:
        """Remove and return the cases decided over FINAL_CASES_HOT ago (for the archive)."""
        self.index = None  # the removal changes the table under the index
        q = Query()
        final = [s.value for s in CaseStatus if s not in OPEN_STATUSES]
        old = (now - FINAL_CASES_HOT).isoformat()
        return take(self._db, "cases", q.status.one_of(final) & (q.decided_at < old))
