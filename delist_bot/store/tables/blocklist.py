"""The block list table. An entry is a network that is listed, or (exception) one IP taken off a
wider listed network by an approval; the most specific active entry holding an IP decides.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from tinydb import Query, TinyDB

from delist_bot.core.blocklist import BlocklistEntry, Delisting, contains, specificity
from delist_bot.core.ip import plain_address


class Blocklist:
    def __init__(self, db: TinyDB) -> None:
        self._db = db
        self._q = Query()

    def listings(self, active_only: bool = True) -> list[BlocklistEntry]:
        """Entries, exceptions included."""
        table = self._db.table("blocklist")
        found = table.search(self._q.active == True) if active_only else table.all()  # noqa: E712
        return [BlocklistEntry.from_doc(doc) for doc in found]

    def listing_for(self, ip: str) -> BlocklistEntry | None:
        """The most specific active entry that holds IP, unless that is an exception for it."""
        entry = self._deciding_entry(ip)
        return None if entry is None or entry.exception else entry

    def exception_for(self, ip: str) -> BlocklistEntry | None:
        """The exception that keeps IP off a wider listed network, if one does."""
        entry = self._deciding_entry(ip)
        return entry if entry is not None and entry.exception else None

    def _deciding_entry(self, ip: str) -> BlocklistEntry | None:
        holding = [e for e in self.listings() if contains(e.network, ip)]
        return max(holding, key=lambda e: (specificity(e.network), e.exception), default=None)

    def history_for(self, ip: str) -> list[BlocklistEntry]:
        """Every entry, active or not, that holds IP: its delistings and relistings."""
        return [e for e in self.listings(active_only=False) if contains(e.network, ip)]

    def _get(self, network: str, active_only: bool = False) -> BlocklistEntry | None:
        query = self._q.network == network
        if active_only:
            query &= self._q.active == True  # noqa: E712
        found = self._db.table("blocklist").get(query)
        return None if found is None else BlocklistEntry.from_doc(found)

    def add(self, network: str, reason: str, now: datetime) -> str:
        """'added', 'relisted' (it was delisted before, or was an exception) or 'already listed'."""
        table = self._db.table("blocklist")
        found = self._get(network)
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
        if found.active and not found.exception:
            return "already listed"
        relisted = found.relistings + (1 if found.delistings else 0)
        table.update(
            {
                "active": True,
                "exception": False,
                "reason": reason or found.reason,
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
        found = self._get(network, active_only=True)
        if found is None or found.exception:
            return False
        delistings = [d.to_doc() for d in found.delistings] + (
            [Delisting(now, delisted_by).to_doc()] if delisted_by else []
        )
        self._db.table("blocklist").update(
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
        self._except(single, wider.network, now, case_id)
        return f"{host} from {wider.network}"

    def _except(self, single: str, network: str, now: datetime, case_id: str) -> None:
        table = self._db.table("blocklist")
        found = self._get(single)
        fields = {
            "active": True,
            "exception": True,
            "reason": f"approved in {case_id}, within {network}",
            "added_at": now.isoformat(),
            "removed_at": None,
        }
        if found is None:
            table.insert({"network": single, **fields, "delistings": [], "relistings": 0})
        delistings = [d.to_doc() for d in found.delistings] if found else []
        if not found or not found.delistings or found.delistings[-1].case_id != case_id:
            # the /32 may have gone with this approval
            delistings = [*delistings, Delisting(now, case_id).to_doc()]
        table.update({**fields, "delistings": delistings}, self._q.network == single)
