"""The outbox table: one record per envelope recipient of each queued mail, its bytes in a spool.

Changes are kept back and written with the commit: one table write for a whole batch of results.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from delist_bot.core.models import MailRecord, MailStatus, OutgoingMail
from delist_bot.store.files import SPOOL_SUFFIX, spool_mail
from delist_bot.store.tables.history import History, take

CLAIM_TIMEOUT = timedelta(minutes=5)
FAILED_MAIL_HOT = timedelta(days=30)  # failed mail, kept with its bytes for `outbox retry`
LOST_BYTES = "its bytes are lost (the spool file is gone)"


class Outbox:
    def __init__(self, db: TinyDB, spool: Path, history: History) -> None:
        self._db = db
        self._spool = spool
        self._history = history
        self._q = Query()
        self.spooled: dict[str, bytes] = {}  # mail bodies by id: one spool file per commit
        self.spool_name = uuid.uuid4().hex + SPOOL_SUFFIX
        self._ids: dict[str, int] | None = None
        self._new: list[dict[str, Any]] = []
        self._changes: dict[str, tuple[int, dict[str, Any]]] = {}  # mail id: doc id, fields
        self._gone: list[int] = []

    def enqueue(self, mail: OutgoingMail) -> None:
        """Queue a mail: its bytes go to the spool now (once), its records with the
        transaction: one per envelope recipient, each sent and retried on its own."""
        self.spooled[mail.id] = mail.raw
        self._ids = None
        recipients = mail.envelope
        for n, address in enumerate(recipients):
            record = MailRecord(
                id=mail.id if len(recipients) == 1 else f"{mail.id}-{n + 1}",
                body=mail.id,
                spool=self.spool_name,
                kind=mail.kind,
                to=address,
                message_id=mail.message_id,
                created_at=mail.created_at,
                next_attempt_at=mail.created_at,
                case_id=mail.case_id,
            )
            self._new.append(record.to_doc())

    def flush(self) -> None:
        table = self._db.table("outbox")
        if self._changes:
            changes = self._changes
            doc_ids = [doc_id for doc_id, _ in changes.values()]
            table.update(lambda doc: doc.update(changes[doc["id"]][1]), doc_ids=doc_ids)
            self._changes = {}
        if self._gone:
            table.remove(doc_ids=self._gone)
            self._gone = []
        if self._new:
            table.insert_multiple(self._new)
            self._new = []
            self._ids = None

    def mail_bytes(self, mail: MailRecord) -> bytes:
        """A queued mail's bytes: from this transaction, or from the spool file of its commit."""
        if mail.spool == self.spool_name:
            return self.spooled[mail.body]
        return spool_mail(self._spool / mail.spool, mail.body)

    def claim(self, now: datetime, limit: int = 1) -> list[MailRecord]:
        """The oldest mail due at NOW, marked as being sent. A claim older than CLAIM_TIMEOUT
        belongs to a sender that died and is due again."""
        stale = (now - CLAIM_TIMEOUT).isoformat()
        q = self._q
        due = (q.status == MailStatus.PENDING) & (q.next_attempt_at <= now.isoformat())
        orphaned = (q.status == MailStatus.SENDING) & (q.claimed_at < stale)
        self.flush()
        table = self._db.table("outbox")
        docs = sorted(table.search(due | orphaned), key=lambda d: d["created_at"])
        claimed: list[tuple[int, MailRecord]] = []
        for doc in docs:
            if len(claimed) == limit:
                break
            mail, problem = self._sendable(doc)
            if mail is None:  # this mail fails, the rest goes on
                fields = {"status": MailStatus.FAILED.value, "last_error": problem}
                table.update({**fields, "failed_at": now.isoformat()}, doc_ids=[doc.doc_id])
            else:
                claimed.append((doc.doc_id, mail))
        if claimed:  # one update by document id: TinyDB rewrites its table once per call
            sending = {"status": MailStatus.SENDING.value, "claimed_at": now.isoformat()}
            table.update(sending, doc_ids=[doc_id for doc_id, _ in claimed])
        return [mail for _, mail in claimed]  # as found: their attempts start from that

    def _sendable(self, doc: dict[str, Any]) -> tuple[MailRecord | None, str]:
        """DOC as a record whose bytes are kept, or None and why not (a damaged record, or a
        spool file removed by hand)."""
        try:
            mail = MailRecord.from_doc(doc)
        except (KeyError, ValueError, TypeError) as exc:
            return None, f"its record is damaged ({type(exc).__name__}: {exc})"
        try:
            self.mail_bytes(mail)
        except (OSError, KeyError, ValueError):
            return None, LOST_BYTES
        return mail, ""

    def all(self, status: MailStatus | None = None) -> list[MailRecord]:
        self.flush()
        table = self._db.table("outbox")
        found = table.search(self._q.status == status) if status else table.all()
        return [MailRecord.from_doc(doc) for doc in found]

    def update(self, mail_id: str, **fields: Any) -> None:
        """Change a queued mail; one that is sent leaves for the archive (a failed one stays,
        with its bytes, for `outbox retry`, FAILED_MAIL_HOT long)."""
        if self._new:
            self.flush()
        if self._ids is None:  # found by id once per transaction, not by a scan per mail
            self._ids = {doc["id"]: doc.doc_id for doc in self._db.table("outbox")}
        doc_id = self._ids.get(mail_id)
        if doc_id is None:
            return
        changes = self._changes.setdefault(mail_id, (doc_id, {}))[1]
        changes.update(fields)
        if fields.get("status") == MailStatus.SENT:
            doc = self._db.table("outbox").get(doc_id=doc_id)
            self._history.later("outbox", [{**doc, **self._changes.pop(mail_id)[1]}])
            self._gone.append(doc_id)
            del self._ids[mail_id]

    def retry(self, mail_id: str, now: datetime) -> MailRecord:
        """Queue a failed (or waiting) mail again, due at NOW with three days to go; the record
        as it now is. KeyError when no mail in the hot store has that id."""
        self.flush()
        table = self._db.table("outbox")
        doc = table.get(self._q.id == mail_id)
        if doc is None:
            raise KeyError(mail_id)
        if doc["status"] not in (MailStatus.FAILED, MailStatus.PENDING):  # being sent now
            raise ValueError(f"mail {mail_id} is {doc['status']}")
        changes = {
            "status": MailStatus.PENDING.value,
            "next_attempt_at": now.isoformat(),
            "retried_at": now.isoformat(),
            "claimed_at": None,
        }
        table.update(changes, doc_ids=[doc.doc_id])
        return MailRecord.from_doc({**doc, **changes})

    def take_old(self, now: datetime) -> list[dict[str, Any]]:
        """Remove and return the mail failed over FAILED_MAIL_HOT ago (for the archive)."""
        self.flush()
        self._ids = None
        old = (now - FAILED_MAIL_HOT).isoformat()
        return take(
            self._db, "outbox", (self._q.status == MailStatus.FAILED) & (self._q.failed_at < old)
        )
