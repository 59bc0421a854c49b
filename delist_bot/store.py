"""The case store: the only module that imports TinyDB.

Every transaction holds an exclusive file lock and ends in one atomic file replacement, so
a crash leaves the previous state and two processes never interleave their writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from delist_bot import failpoints
from delist_bot.archive import Archive
from delist_bot.blocklist import contains, neighbourhood, specificity
from delist_bot.models import OPEN_STATUSES, Case, CaseStatus, Event, OutgoingMail

LOCK_TIMEOUT = 30.0
CLAIM_TIMEOUT = timedelta(minutes=5)
# What stays in the hot store; older history moves to the archive at each pass's compaction.
SEEN_WINDOW = timedelta(days=3)  # Message-IDs remembered against a second delivery
FINAL_CASES_HOT = timedelta(days=7)  # decided cases, for follow-ups and the digest
QUARANTINE_HOT = timedelta(days=30)
TIME_FIELDS = (
    "received_at",
    "due_at",
    "first_contact_at",
    "decided_at",
    "reminded_at",
    "escalated_at",
    "holding_sent_at",
    "breached_at",
)


class StoreError(Exception):
    """The store cannot be used; the message is the one line the user sees."""


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


class StoreCorrupt(StoreError):
    """The file cannot be read: the worker must stop rather than start over."""


class AtomicJSONStorage(Storage):
    """TinyDB storage that writes a temporary file, fsyncs it and renames it into place."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            backup = backup_path(self.path)
            hint = f"; the last good copy is {backup}" if backup.exists() else ""
            raise StoreCorrupt(f"store {self.path} is unreadable ({exc}){hint}") from exc
        if not isinstance(data, dict):
            raise StoreCorrupt(f"store {self.path} is not a delist-bot store")
        return data

    def write(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            text = json.dumps(data, separators=(",", ":"))  # the C encoder; json.dump is not
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
                failpoints.reach("store_write")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a full disk: the store stays as it was
            temporary.unlink(missing_ok=True)
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        if self.path.exists():
            # The last good copy, by a hard link: no bytes copied, and never a half-written file.
            backup = backup_path(self.path)
            link = backup.with_name(backup.name + ".new")
            link.unlink(missing_ok=True)
            os.link(self.path, link)
            os.replace(link, backup)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _locked(path: Path, *, blocking: bool = True, timeout: float = LOCK_TIMEOUT) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        yield handle
    finally:
        os.close(handle)  # closing releases the lock


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._worker_lock_path = self.path.with_name(self.path.name + ".worker")
        self.archive = Archive(self.path.with_name(self.path.name + ".archive"))
        self.spool = self.path.with_name(self.path.name + ".spool")
        self._worker_lock: contextlib.ExitStack | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All changes inside are written at once at the end, or not at all."""
        try:
            lock = _locked(self._lock_path)
            lock.__enter__()
        except BlockingIOError as exc:
            raise StoreError(f"store {self.path} stayed locked for {LOCK_TIMEOUT:.0f} s") from exc
        try:
            db = TinyDB(str(self.path), storage=CachingMiddleware(AtomicJSONStorage))
            db.storage.WRITE_CACHE_SIZE = 1 << 30  # write only at the end of the transaction
            db.storage.read()  # a damaged file is reported now, not by the first query
            tx = Transaction(db, self.archive, self.spool)
            yield tx
            if tx.spooled:
                write_spool(self.spool / tx.spool_name, tx.spooled)
            for name, records in tx.to_archive.items():  # before the commit: see compact()
                self.archive.append(name, records)
            db.storage.flush()
        finally:
            lock.__exit__(None, None, None)

    def hold_worker_lock(self) -> None:
        """Claim the store for this worker process; a second worker gets a clear refusal."""
        stack = contextlib.ExitStack()
        try:
            handle = stack.enter_context(_locked(self._worker_lock_path, blocking=False))
        except BlockingIOError as exc:
            stack.close()
            raise StoreError(
                f"another delist-bot worker is already running on {self.path}"
            ) from exc
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._worker_lock = stack
        with self.transaction():  # under the store lock, no writer is mid-way: clear dead temps
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)

    def compact(self, now: datetime) -> dict[str, int]:
        """Move history out of the hot store, so that its size (and every write's cost) stays
        that of the recent past. Archive first, then the hot store: a crash in between only
        leaves duplicates in the archive, which its readers drop."""
        with self.transaction() as tx:
            moved = tx.take_history(now)
            for name, records in moved.items():
                self.archive.append(name, records)
            wanted = {doc.get("spool") for doc in tx.outbox()}
            for path in self.spool.glob("*.jsonl") if self.spool.exists() else ():
                if path.name not in wanted:  # all its mail is sent, or its commit never happened
                    path.unlink(missing_ok=True)
        return {name: len(records) for name, records in moved.items()}

    def history(
        self, since: datetime | None = None
    ) -> tuple[list[Case], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Cases, message records, mail and quarantine records, hot and archived (for reports)."""
        month = since.isoformat()[:7] if since else ""
        with self.transaction() as tx:
            cases = {d["id"]: d for d in self.archive.records("cases")}
            cases |= {d["id"]: d for d in tx.db.table("cases").all()}
            messages = self.archive.records("messages", month)
            outbox = self.archive.records("outbox", month) + tx.outbox()
            quarantine = self.archive.records("quarantine", month) + tx.quarantined()
        return [case_from_doc(d) for d in cases.values()], messages, outbox, quarantine

    def worker_running(self) -> bool:
        """True while some worker process holds this store's worker lock."""
        if self._worker_lock is not None:
            return True
        try:
            with _locked(self._worker_lock_path, blocking=False):
                return False
        except BlockingIOError:
            return True

    def release_worker_lock(self) -> None:
        if self._worker_lock is not None:
            self._worker_lock.close()
            self._worker_lock = None


class Transaction:
    """Domain reads and writes over one locked TinyDB snapshot."""

    def __init__(self, db: TinyDB, archive: Archive, spool: Path) -> None:
        self.db = db
        self.archive = archive
        self.spool = spool
        self.to_archive: dict[str, list[dict[str, Any]]] = {}
        self._outbox_ids: dict[str, int] | None = None
        self.spooled: list[tuple[str, bytes]] = []  # mail bodies: one spool file per commit
        self.spool_name = f"{uuid.uuid4().hex}.jsonl"
        self._q = Query()

    # State: counters, mailbox position, the review secret.
    def get_state(self, key: str, default: Any = None) -> Any:
        found = self.db.table("state").get(self._q.key == key)
        return found["value"] if found else default

    def set_state(self, key: str, value: Any) -> None:
        self.db.table("state").upsert({"key": key, "value": value}, self._q.key == key)

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
        found = self.db.table("cases").get(self._q.id == case_id) or self.archive.case(case_id)
        return case_from_doc(found) if found else None

    def open_case_for_ip(self, ip: str) -> Case | None:
        statuses = [s.value for s in OPEN_STATUSES]
        found = self.db.table("cases").get((self._q.ip == ip) & self._q.status.one_of(statuses))
        return case_from_doc(found) if found else None

    def save_case(self, case: Case) -> None:
        self.db.table("cases").upsert(case_to_doc(case), self._q.id == case.id)

    def case_for_messages(self, message_ids: Iterable[str]) -> Case | None:
        """The case whose thread holds any of these Message-IDs (the newest such case)."""
        wanted = [m for m in message_ids if m]
        if not wanted:
            return None
        found = self.db.table("cases").search(self._q.message_ids.any(wanted))
        return case_from_doc(max(found, key=lambda d: d["id"])) if found else None

    def cases_near(self, ip: str) -> tuple[list[Case], list[Case]]:
        """Cases for this IP, and for its /24 or /48, oldest first (for the dossier)."""
        network = neighbourhood(ip)
        docs = {d["id"]: d for d in self.archive.cases_near(ip)}
        docs |= {d["id"]: d for d in self.db.table("cases").search(self._q.network == network)}
        near = [case_from_doc(docs[key]) for key in sorted(docs)]
        return [c for c in near if c.ip == ip], [c for c in near if c.ip != ip]

    # The block list.
    def listings(self, active_only: bool = True) -> list[dict[str, Any]]:
        table = self.db.table("blocklist")
        return list(table.search(self._q.active == True) if active_only else table.all())  # noqa: E712

    def listing_for(self, ip: str) -> dict[str, Any] | None:
        """The most specific active entry that holds IP."""
        holding = [doc for doc in self.listings() if contains(doc["network"], ip)]
        return max(holding, key=lambda d: specificity(d["network"]), default=None)

    def history_for(self, ip: str) -> list[dict[str, Any]]:
        """Every entry, active or not, that holds IP: its delistings and relistings."""
        return [doc for doc in self.listings(active_only=False) if contains(doc["network"], ip)]

    def add_listing(self, network: str, reason: str, now: datetime) -> str:
        """'added', 'relisted' (it was delisted before) or 'already listed'."""
        table = self.db.table("blocklist")
        found = table.get(self._q.network == network)
        if found is None:
            table.insert(
                {
                    "network": network,
                    "reason": reason,
                    "added_at": now.isoformat(),
                    "active": True,
                    "removed_at": None,
                    "delistings": [],
                    "relistings": 0,
                }
            )
            return "added"
        if found["active"]:
            return "already listed"
        relisted = found["relistings"] + (1 if found["delistings"] else 0)
        table.update(
            {
                "active": True,
                "reason": reason or found["reason"],
                "removed_at": None,
                "relistings": relisted,
                "added_at": now.isoformat(),
            },
            self._q.network == network,
        )
        return "relisted"

    def remove_listing(self, network: str, now: datetime, delisted_by: str | None = None) -> bool:
        """Deactivate an entry; with DELISTED_BY (a case) it counts as a delisting."""
        table = self.db.table("blocklist")
        found = table.get((self._q.network == network) & (self._q.active == True))  # noqa: E712
        if found is None:
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
        """Approval: take the entry that holds IP off the list; the network it was, if any."""
        entry = self.listing_for(ip)
        if entry is None:
            return None
        self.remove_listing(entry["network"], now, delisted_by=case_id)
        return entry["network"]

    def open_cases(self) -> list[Case]:
        statuses = [s.value for s in OPEN_STATUSES]
        return [
            case_from_doc(d) for d in self.db.table("cases").search(self._q.status.one_of(statuses))
        ]

    def cases(self, status: str | None = None) -> list[Case]:
        table = self.db.table("cases")
        docs = table.search(self._q.status == status) if status else table.all()
        return [case_from_doc(doc) for doc in docs]

    def take_history(self, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """Remove and return what is older than the hot windows."""

        def older(window: timedelta) -> str:
            return (now - window).isoformat()

        q = self._q
        final = [s.value for s in CaseStatus if s not in OPEN_STATUSES]
        moved = {
            "cases": self._take(
                "cases", q.status.one_of(final) & (q.decided_at < older(FINAL_CASES_HOT))
            ),
            "quarantine": self._take("quarantine", q.at < older(QUARANTINE_HOT)),
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

    # Reply rate limits per sender address.
    def replies_since(self, address: str, since: datetime) -> int:
        replies = self.get_state("replies", {}).get(address.lower(), [])
        return sum(1 for at in replies if at >= since.isoformat())

    def count_reply(self, address: str, at: datetime, since: datetime) -> None:
        """One dict in the state, not a table: a lookup must not scan every sender."""
        replies = self.get_state("replies", {})
        recent = [t for t in replies.get(address.lower(), []) if t >= since.isoformat()]
        replies[address.lower()] = [*recent, at.isoformat()]
        self.set_state("replies", replies)

    # The outbox.
    def enqueue(self, mail: OutgoingMail) -> None:
        """Queue a mail: its bytes go to the spool now, its record with the transaction."""
        self.spooled.append((mail.id, mail.raw))
        self._outbox_ids = None
        doc = {
            "spool": self.spool_name,
            "id": mail.id,
            "kind": mail.kind,
            "to": mail.to,
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
        self.db.table("outbox").insert(doc)

    def claim_mail(self, now: datetime, limit: int = 1) -> list[dict[str, Any]]:
        """The oldest mail due at NOW, marked as being sent. A claim older than CLAIM_TIMEOUT
        belongs to a sender that died and is due again."""
        stale = (now - CLAIM_TIMEOUT).isoformat()
        due = (self._q.status == "pending") & (self._q.next_attempt_at <= now.isoformat())
        orphaned = (self._q.status == "sending") & (self._q.claimed_at < stale)
        docs = sorted(self.db.table("outbox").search(due | orphaned), key=lambda d: d["created_at"])
        claimed = docs[:limit]
        if claimed:  # one update by document id: TinyDB rewrites its table once per call
            self.db.table("outbox").update(
                {"status": "sending", "claimed_at": now.isoformat()},
                doc_ids=[doc.doc_id for doc in claimed],
            )
        return [dict(doc) for doc in claimed]

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        table = self.db.table("outbox")
        return list(table.search(self._q.status == status) if status else table.all())

    def update_mail(self, mail_id: str, **fields: Any) -> None:
        """Change a queued mail; one that is sent or failed leaves for the archive."""
        table = self.db.table("outbox")
        if self._outbox_ids is None:  # found by id once per transaction, not by a scan per mail
            self._outbox_ids = {doc["id"]: doc.doc_id for doc in table.all()}
        doc_id = self._outbox_ids.get(mail_id)
        if doc_id is None:
            return
        if fields.get("status") in ("sent", "failed"):
            doc = table.get(doc_id=doc_id)
            table.remove(doc_ids=[doc_id])
            del self._outbox_ids[mail_id]
            self.archive_later("outbox", [{**doc, **fields}])
            return
        table.update(fields, doc_ids=[doc_id])

    # Quarantine log (the messages themselves stay in the mailbox's quarantine folder).
    def record_quarantine(self, record: dict[str, Any]) -> None:
        self.db.table("quarantine").insert(record)

    def quarantined(self) -> list[dict[str, Any]]:
        return list(self.db.table("quarantine").all())


def write_spool(path: Path, mails: list[tuple[str, bytes]]) -> None:
    """The bodies of one commit's mail, in one file with one fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": i, "raw": raw.decode("latin-1")}) for i, raw in mails]
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@functools.lru_cache(maxsize=8)
def _spool_file(path: Path) -> dict[str, bytes]:
    with open(path, encoding="utf-8") as handle:
        return {d["id"]: d["raw"].encode("latin-1") for d in map(json.loads, handle)}


def raw_of(store: Store, doc: dict[str, Any]) -> bytes:
    """A queued mail's bytes (spool files never change once written, so they are cached)."""
    return _spool_file(store.spool / doc["spool"])[doc["id"]]


def case_to_doc(case: Case) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies, which costs more than the whole write.
    doc = {f.name: getattr(case, f.name) for f in dataclasses.fields(case)}
    doc["network"] = neighbourhood(case.ip)  # stored for the dossier's neighbourhood query
    doc["status"] = case.status.value
    doc["message_ids"] = list(case.message_ids)
    doc["events"] = [
        {"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "text": e.text}
        for e in case.events
    ]
    for key in TIME_FIELDS:
        doc[key] = doc[key].isoformat() if doc[key] else None
    return doc


def case_from_doc(doc: dict[str, Any]) -> Case:
    values = dict(doc)
    values.pop("network", None)
    values["status"] = CaseStatus(doc["status"])
    values["message_ids"] = tuple(doc["message_ids"])
    values["events"] = tuple(
        Event(datetime.fromisoformat(e["at"]), e["actor"], e["kind"], e.get("text", ""))
        for e in doc["events"]
    )
    for key in TIME_FIELDS:
        values[key] = datetime.fromisoformat(doc[key]) if doc.get(key) else None
    return Case(**values)
