"""One store transaction: the domain's reads and writes over one locked TinyDB snapshot.

Cases go through HotCases' indexes; history older than the hot windows lives in the archive.
"""

from __future__ import annotations

import bisect
import ipaddress
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from delist_bot.core.blocklist import contains, neighbourhood, specificity
from delist_bot.core.budget import Counts, Limits, Recipient
from delist_bot.core.ip import plain_address
from delist_bot.core.models import OPEN_STATUSES, Case, CaseStatus, Nearby, OutgoingMail
from delist_bot.store.archive import Archive
from delist_bot.store.codec import case_from_doc, case_to_doc
from delist_bot.store.files import SPOOL_SUFFIX, spool_mail
from delist_bot.store.hot_cases import OPEN_VALUES, HotCases

CLAIM_TIMEOUT = timedelta(minutes=5)
# What stays in the hot store; older history moves to the archive at each pass's compaction.
SEEN_WINDOW = timedelta(days=3)  # Message-IDs remembered against a second delivery
FINAL_CASES_HOT = timedelta(days=7)  # decided cases, for follow-ups and the digest
QUARANTINE_HOT = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)  # how long a reply count may outlive its window
FAILED_MAIL_HOT = timedelta(days=30)  # failed mail, kept with its bytes for `outbox retry`


class Transaction:
    """Domain reads and writes over one locked TinyDB snapshot."""

    def __init__(
        self, db: TinyDB, archive: Archive, spool: Path, hot_cases: HotCases | None = None
    ) -> None:
        self.db = db
        self.archive = archive
        self.spool = spool
        self.to_archive: dict[str, list[dict[str, Any]]] = {}
        self._outbox_ids: dict[str, int] | None = None
        self.spooled: dict[str, bytes] = {}  # mail bodies by id: one spool file per commit
        self.spool_name = uuid.uuid4().hex + SPOOL_SUFFIX
        self.requests: dict[str, bytes] = {}  # a new case's request, kept with the commit
        self._q = Query()
        # The last transaction's index, while the file is still the one it wrote: a worker
        # need not re-index thousands of open cases for every batch.
        self._hot: HotCases | None = hot_cases.bind(db.table("cases")) if hot_cases else None
        self._state: dict[str, Any] | None = None  # read once; written back at the commit
        self._state_changed: set[str] = set()
        self._new_mail: list[dict[str, Any]] = []
        self._mail_changes: dict[str, tuple[int, dict[str, Any]]] = {}  # mail id: doc id, fields
        self._mail_gone: list[int] = []

    @property
    def reusable_index(self) -> HotCases | None:
        return self._hot

    @property
    def hot_cases(self) -> HotCases:
        if self._hot is None:
            self._hot = HotCases(self.db.table("cases"))
        return self._hot

    def before_commit(self) -> None:
        """Write what was kept back for one table write each (TinyDB rebuilds a table per
        write: per message, that was the cost of a whole batch)."""
        if self._hot is not None:
            self._hot.flush()
        self._flush_outbox()
        state = self.db.table("state")
        for key in sorted(self._state_changed):
            state.upsert({"key": key, "value": self._states()[key]}, self._q.key == key)
        self._state_changed.clear()

    # State: counters, mailbox position, the review secret, recent Message-IDs and replies.
    def _states(self) -> dict[str, Any]:
        if self._state is None:
            self._state = {doc["key"]: doc["value"] for doc in self.db.table("state")}
        return self._state

    def get_state(self, key: str, default: Any = None) -> Any:
        return self._states().get(key, default)

    def set_state(self, key: str, value: Any) -> None:
        self._states()[key] = value
        self._state_changed.add(key)

    def next_case_number(self) -> int:
        number = int(self.get_state("case_counter", 0)) + 1
        self.set_state("case_counter", number)
        return number

    # Processed messages: the record that makes a second pass a no-op.
    def seen(self, key: str) -> bool:
        """Was a message with this key handled in the last SEEN_WINDOW?"""
        return key in self.get_state("seen", {})

    def archive_later(self, name: str, records: list[dict[str, Any]]) -> None:
        """History written with this transaction, straight to the archive."""
        self.to_archive.setdefault(name, []).extend(records)

    def record_message(self, record: dict[str, Any]) -> None:
        self.archive_later("messages", [record])
        seen = self.get_state("seen", {})
        seen[record["key"]] = record["received_at"]
        self.set_state("seen", seen)

    # Cases.
    def case(self, case_id: str) -> Case | None:
        """A case, hot or archived (a sender may answer a case closed long ago)."""
        found = self.hot_cases.get(case_id) or self.archive.case(case_id)
        return case_from_doc(found) if found else None

    def keep_request(self, case_id: str, raw: bytes) -> None:
        """The request a case was opened for, as it came (`Store.request` reads it)."""
        self.requests[case_id] = raw

    def open_case_for_ip(self, ip: str) -> Case | None:
        found = self.hot_cases.open_for_ip(ip)
        return case_from_doc(found) if found else None

    def save_case(self, case: Case) -> None:
        self.hot_cases.save(case_to_doc(case))

    def case_for_messages(self, message_ids: Iterable[str]) -> Case | None:
        """The case whose thread holds any of these Message-IDs (the newest such case)."""
        found = self.hot_cases.newest_with_message(m for m in message_ids if m)
        return case_from_doc(found) if found else None

    def cases_near(self, ip: str, excluding: str | None = None, latest: int = 5) -> Nearby:
        """Other cases for this IP and for its /24 or /48, hot and archived (for the dossier)."""
        docs = {d["id"]: d for d in self.archive.cases_near(ip)}
        docs |= {d["id"]: d for d in self.hot_cases.in_network(neighbourhood(ip))}
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

    # The block list. An entry is a network that is listed, or (exception) one IP taken off a
    # wider listed network by an approval; the most specific active entry holding an IP decides.
    def listings(self, active_only: bool = True) -> list[dict[str, Any]]:
        """Entries, exceptions included (their "exception" is true)."""
        table = self.db.table("blocklist")
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

    def add_listing(self, network: str, reason: str, now: datetime) -> str:
        """'added', 'relisted' (it was delisted before, or was an exception) or 'already listed'."""
        table = self.db.table("blocklist")
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

    def remove_listing(self, network: str, now: datetime, delisted_by: str | None = None) -> bool:
        """Deactivate a listed entry (not an exception); with DELISTED_BY (a case) it counts as
        a delisting."""
        table = self.db.table("blocklist")
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
        self.remove_listing(single, now, delisted_by=case_id)
        wider = self.listing_for(ip)
        if wider is None:
            return single
        self._except(single, wider["network"], now, case_id)
        return f"{host} from {wider['network']}"

    def _except(self, single: str, network: str, now: datetime, case_id: str) -> None:
        table = self.db.table("blocklist")
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

    def open_cases(self) -> list[Case]:
        return [case_from_doc(d) for d in self.hot_cases.all() if d["status"] in OPEN_VALUES]

    def cases(self, status: str | None = None) -> list[Case]:
        docs = self.hot_cases.all()
        return [case_from_doc(d) for d in docs if status is None or d["status"] == status]

    def take_history(self, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """Remove and return what is older than the hot windows."""

        def older(window: timedelta) -> str:
            return (now - window).isoformat()

        self.before_commit()
        self._hot = None  # the removals below change the table under the index
        self._outbox_ids = None
        q = self._q
        final = [s.value for s in CaseStatus if s not in OPEN_STATUSES]
        moved = {
            "cases": self._take(
                "cases", q.status.one_of(final) & (q.decided_at < older(FINAL_CASES_HOT))
            ),
            "quarantine": self._take("quarantine", q.at < older(QUARANTINE_HOT)),
            "outbox": self._take(
                "outbox", (q.status == "failed") & (q.failed_at < older(FAILED_MAIL_HOT))
            ),
        }
        seen = self.get_state("seen", {})
        kept = {key: at for key, at in seen.items() if at >= older(SEEN_WINDOW)}
        if len(kept) != len(seen):
            self.set_state("seen", kept)
        return {name: records for name, records in moved.items() if records}

    def _take(self, table_name: str, condition: Any) -> list[dict[str, Any]]:
        table = self.db.table(table_name)
        found = [dict(doc) for doc in table.search(condition)]
        if found:
            table.remove(condition)
        return found

    # The outgoing budget: mail to each outside address and each domain, within its window.
    # Each keeps its times sorted (ISO text in UTC sorts as time): counting is a bisection and
    # a flood at one domain costs no scan of its list per mail.
    def reply_counts(self, recipient: Recipient, now: datetime, limits: Limits) -> Counts:
        found = [
            _since(self.get_state(name, {}).get(key, ()), (now - window).isoformat())
            for name, key, window in _budgets(recipient, limits)
        ]
        return Counts(*found)

    def count_reply(self, recipient: Recipient, at: datetime, limits: Limits) -> None:
        """One dict per budget in the state, not a table: a lookup must not scan every sender.
        Every PRUNE_EVERY all of them lose their times past the window, so the state holds
        only the addresses written to lately, however many wrote over the weeks."""
        for name, key, window in _budgets(recipient, limits):
            counted = self.get_state(name, {})
            times = counted.setdefault(key, [])
            bisect.insort(times, at.isoformat())
            del times[: bisect.bisect_left(times, (at - window).isoformat())]
            self.set_state(name, counted)
        if self.get_state("replies_pruned_at", "") <= (at - PRUNE_EVERY).isoformat():
            self._prune_replies(at, limits)

    def _prune_replies(self, now: datetime, limits: Limits) -> None:
        for name, _, window in _budgets(Recipient("", ""), limits):
            since = (now - window).isoformat()
            counted = self.get_state(name, {})
            kept = {
                key: times[bisect.bisect_left(times, since) :]
                for key, times in counted.items()
                if times and times[-1] >= since
            }
            self.set_state(name, kept)
        self.set_state("replies_pruned_at", now.isoformat())

    # The outbox.
    def enqueue(self, mail: OutgoingMail) -> None:
        """Queue a mail: its bytes go to the spool now (once), its records with the
        transaction: one per envelope recipient, each sent and retried on its own."""
        self.spooled[mail.id] = mail.raw
        self._outbox_ids = None
        recipients = mail.envelope
        for n, address in enumerate(recipients):
            self._new_mail.append(
                {
                    "spool": self.spool_name,
                    "body": mail.id,
                    "id": mail.id if len(recipients) == 1 else f"{mail.id}-{n + 1}",
                    "kind": mail.kind,
                    "to": address,
                    "case_id": mail.case_id,
                    "message_id": mail.message_id,
                    "created_at": mail.created_at.isoformat(),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": mail.created_at.isoformat(),
                    "last_error": None,
                    "sent_at": None,
                    "claimed_at": None,
                }
            )

    def _flush_outbox(self) -> None:
        table = self.db.table("outbox")
        if self._mail_changes:
            changes = self._mail_changes
            doc_ids = [doc_id for doc_id, _ in changes.values()]
            table.update(lambda doc: doc.update(changes[doc["id"]][1]), doc_ids=doc_ids)
            self._mail_changes = {}
        if self._mail_gone:
            table.remove(doc_ids=self._mail_gone)
            self._mail_gone = []
        if self._new_mail:
            table.insert_multiple(self._new_mail)
            self._new_mail = []
            self._outbox_ids = None

    def mail_bytes(self, doc: dict[str, Any]) -> bytes:
        """A queued mail's bytes: from this transaction, or from the spool file of its commit."""
        body = doc.get("body", doc["id"])  # records from before team mail was split
        if doc["spool"] == self.spool_name:
            return self.spooled[body]
        return spool_mail(self.spool / doc["spool"], body)

    def claim_mail(self, now: datetime, limit: int = 1) -> list[dict[str, Any]]:
        """The oldest mail due at NOW, marked as being sent. A claim older than CLAIM_TIMEOUT
        belongs to a sender that died and is due again."""
        stale = (now - CLAIM_TIMEOUT).isoformat()
        due = (self._q.status == "pending") & (self._q.next_attempt_at <= now.isoformat())
        orphaned = (self._q.status == "sending") & (self._q.claimed_at < stale)
        self._flush_outbox()
        docs = sorted(self.db.table("outbox").search(due | orphaned), key=lambda d: d["created_at"])
        claimed, lost = [], []
        for doc in docs:
            if len(claimed) == limit:
                break
            (claimed if self._bytes_kept(doc) else lost).append(doc)
        table = self.db.table("outbox")
        if claimed:  # one update by document id: TinyDB rewrites its table once per call
            table.update(
                {"status": "sending", "claimed_at": now.isoformat()},
                doc_ids=[doc.doc_id for doc in claimed],
            )
        if lost:  # a spool file removed by hand: that mail fails, the rest goes on
            failed = {
                "status": "failed",
                "last_error": "its bytes are lost (the spool file is gone)",
            }
            table.update({**failed, "failed_at": now.isoformat()}, doc_ids=[d.doc_id for d in lost])
        return [dict(doc) for doc in claimed]

    def _bytes_kept(self, doc: dict[str, Any]) -> bool:
        try:
            self.mail_bytes(doc)
        except (OSError, KeyError, ValueError):
            return False
        return True

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        self._flush_outbox()
        table = self.db.table("outbox")
        return list(table.search(self._q.status == status) if status else table.all())

    def update_mail(self, mail_id: str, **fields: Any) -> None:
        """Change a queued mail; one that is sent leaves for the archive (a failed one stays,
        with its bytes, for `outbox retry`, FAILED_MAIL_HOT long). Changes are kept back and
        written with the commit: one table write for a whole batch of results."""
        if self._new_mail:
            self._flush_outbox()
        if self._outbox_ids is None:  # found by id once per transaction, not by a scan per mail
            self._outbox_ids = {doc["id"]: doc.doc_id for doc in self.db.table("outbox")}
        doc_id = self._outbox_ids.get(mail_id)
        if doc_id is None:
            return
        changes = self._mail_changes.setdefault(mail_id, (doc_id, {}))[1]
        changes.update(fields)
        if fields.get("status") == "sent":
            doc = self.db.table("outbox").get(doc_id=doc_id)
            self.archive_later("outbox", [{**doc, **self._mail_changes.pop(mail_id)[1]}])
            self._mail_gone.append(doc_id)
            del self._outbox_ids[mail_id]

    def retry_mail(self, mail_id: str, now: datetime) -> dict[str, Any]:
        """Queue a failed (or waiting) mail again, due at NOW with three days to go; the record
        as it now is. KeyError when no mail in the hot store has that id."""
        self._flush_outbox()
        table = self.db.table("outbox")
        doc = table.get(self._q.id == mail_id)
        if doc is None:
            raise KeyError(mail_id)
        if doc["status"] not in ("failed", "pending"):  # being sent now, by some courier
            raise ValueError(f"mail {mail_id} is {doc['status']}")
        changes = {
            "status": "pending",
            "next_attempt_at": now.isoformat(),
            "retried_at": now.isoformat(),
            "claimed_at": None,
        }
        table.update(changes, doc_ids=[doc.doc_id])
        return {**doc, **changes}

    # Quarantine log (the messages themselves stay in the mailbox's quarantine folder).
    def record_quarantine(self, record: dict[str, Any]) -> None:
        self.db.table("quarantine").insert(record)

    def quarantined(self) -> list[dict[str, Any]]:
        return list(self.db.table("quarantine").all())


def _budgets(recipient: Recipient, limits: Limits) -> tuple[tuple[str, str, timedelta], ...]:
    """(state name, key, window) of each budget a mail to RECIPIENT counts on."""
    return (
        ("replies", recipient.key, limits.window),
        ("domain_replies", recipient.domain, limits.domain_window),
    )


def _since(times: Sequence[str], since: str) -> int:
    return len(times) - bisect.bisect_left(times, since)
