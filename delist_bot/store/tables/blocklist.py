"""The block list table. An entry is a network that is listed, or (exception) one IP taken off a
wider listed network by an approval; the most specific active entry holding an IP decides.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from tinydb import Query, TinyDB

from delist_bot.core.blocklist import contains, specificity
from delist_bot.core.ip import plain_address


class Blocklist:
    def __init__(self, db: TinyDB) -> None:
        self._db = db
        self._q = Query()

    def listings(self, active_only: bool = True) -> list[dict[str, Any]]:
        """Entries, exceptions included (their "exception" is true)."""
        table = self._db.table("blocklist")
        found = table.search(self._q.active == True) if active_only else table.all()  # noqa: E712
        return [{**doc, "exception": bool(doc.get("exception"))} for doc in found]

    def listing_for(self, ip: str) -> dict[str, Any] | None:
        """The most specific active entry that holds IP, unless that is an exception for it."""
        entry = self._deciding_entry(ip)
        return None if entry is None or entry["exception"] else entry

    def exception_for(self, ip: str) -> dict[str, Any] | None:
        """The exception that keeps IP off a wider listed network, if one does."""
        entry = self._deciding_entry(ip)
        return entry if entry is not None and entry["exception"] else None

    def _deciding_entry(self, ip: str) -> dict[str, Any] | None:
        holding = [doc for doc in self.listings() if contains(doc["network"], ip)]
        return max(holding, key=lambda d: (specificity(d["network"]), d["exception"]), default=None)

    def history_for(self, ip: str) -> list[dict[str, Any]]:
        """Every entry, active or not, that holds IP: its delistings and relistings."""
        return [doc for doc in self.listings(active_only=False) if contains(doc["network"], ip)]

    def add(self, network: str, reason: str, now: datetime) -> str:
        """'added', 'relisted' (it was delisted before, or was an exception) or 'already listed'."""
        table = self._db.table("blocklist")
        found = table.get(self._q.network == network)
        if found is None:
            table.insert(
                {
                    "network": network,
                    "reason": reason,
                    "added_at": now.isoformat(),
                    "active": True,
                    "exception": False,
                    "removed_at": None,
                    "delistings": [],
                    "relistings": 0,
                }
            )
            return "added"
        if found["active"] and not found.get("exception"):
            return "already listed"
        relisted = found["relistings"] + (1 if found["delistings"] else 0)
        table.update(
            {
                "active": True,
                "exception": False,
                "reason": reason or found["reason"],
                "removed_at": None,
                "relistings": relisted,
                "added_at": now.isoformat(),
            },
            self._q.network == network,
        )
        return "relisted"

    def remove(self, network: str, now: datetime, delisted_by: str | None = None) -> bool:
        """Deactivate a listed entry (not an exception); with DELISTED_BY (a case) it counts as
        a delisting."""
        table = self._db.table("blocklist")
        found = table.get((self._q.network == network) & (self._q.active == True))  # noqa: E712
        if found is None or found.get("exception"):
            return False
        delistings = found["delistings"] + (
            [f"{now.isoformat()} {delisted_by}"] if delisted_by else []
        )
        table.update(
            {"active": False, "removed_at": now.isoformat(), "delistings": delistings},
            self._q.network == network,
        )
        return True

    def record_delisting(self, ip: str, now: datetime, case_id: str) -> str | None:
        """Approval: IP, and only IP, leaves the list. Its own entry goes; where a wider network
        still holds it, an exception entry for IP keeps the rest of that network listed. What
        was removed ('81.2.69.142/32', '81.2.69.142 from 81.2.0.0/16'), or None."""
        entry = self.listing_for(ip)
        if entry is None:
            return None
        host = plain_address(ip)  # a case stored as ::ffff:81.2.69.142 is about 81.2.69.142
        single = str(ipaddress.ip_network(host))
        self.remove(single, now, delisted_by=case_id)
        wider = self.listing_for(ip)
        if wider is None:
            return single
        self._except(single, wider["network"], now, case_id)
        return f"{host} from {wider['network']}"

    def _except(self, single: str, network: str, now: datetime, case_id: str) -> None:
        table = self._db.table("blocklist")
        found = table.get(self._q.network == single)
        fields = {
            "active": True,
            "exception": True,
            "reason": f"approved in {case_id}, within {network}",
            "added_at": now.isoformat(),
            "removed_at": None,
        }
        if found is None:
            table.insert({"network": single, **fields, "delistings": [], "relistings": 0})
        delistings = (found or {}).get("delistings", [])
        if not delistings or not delistings[-1].endswith(f" {case_id}"):  # the /32 may have gone
            delistings = [*delistings, f"{now.isoformat()} {case_id}"]  # with this approval
        table.update({**fields, "delistings": delistings}, self._q.network == single)
