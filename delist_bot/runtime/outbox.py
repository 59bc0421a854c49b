"""The outbox job: claim the mail that is due, hand it to the courier, settle its answers.

The courier journals each answer as the server gives it; `settle` takes the journal into the
store with the next write, and a journal file goes only once that write is committed.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

from delist_bot.config import Config
from delist_bot.core.models import MailRecord, MailStatus
from delist_bot.runtime.courier import Claimed, Courier
from delist_bot.runtime.journal import Journal
from delist_bot.runtime.passes import GROUP_BATCHES, PassReport
from delist_bot.store import Store, Transaction

log = logging.getLogger("delist_bot")


class Outbox:
    def __init__(
        self, config: Config, store: Store, journal: Journal, sender: str, stopping: threading.Event
    ) -> None:
        self.config = config
        self.store = store
        self.journal = journal
        self.sender = sender  # the envelope sender of every mail
        self.stopping = stopping  # when set, only what was claimed already is sent

    def courier(self, now: datetime) -> Courier:
        return Courier(self.config, self.journal, self.sender, now)

    def deliver(self, now: datetime, report: PassReport | None = None) -> PassReport:
        """Send what is due now (the outbox job between passes, and the digest)."""
        report = report or PassReport()
        courier = self.courier(now)
        try:
            self.drain(courier, now, report)
        finally:
            courier.close()
        return report

    def drain(self, courier: Courier, now: datetime, report: PassReport) -> None:
        """Until nothing is due; when stopping, only what was claimed already."""
        while True:
            courier.wait()
            with self.store.transaction() as tx:
                settled = self.settle(tx, courier, report)
                claimed = [] if self.stopping.is_set() else self.claim(tx, now)
            self.journal.discard(settled)
            if not claimed:
                return
            courier.submit(claimed)

    def claim(self, tx: Transaction, now: datetime) -> list[Claimed]:
        """Mark the oldest due mail as being sent (so no other sender takes it)."""
        # A request's reply and its reviewers' mail, for every message of a full group.
        limit = 2 * GROUP_BATCHES * self.config.mailbox.batch_size
        return [(doc, tx.outbox.mail_bytes(doc)) for doc in tx.outbox.claim(now, limit=limit)]

    def settle(self, tx: Transaction, courier: Courier, report: PassReport) -> list[Path]:
        """Take the journaled delivery results into TX (also those of a sender that died);
        the returned journal files may go once TX is committed."""
        files = self.journal.seal()
        for entry in self.journal.entries(files):
            mail_id = entry.pop("id", None)
            if mail_id is not None:
                tx.outbox.update(mail_id, **entry)
        for attempt in courier.finished():
            mail = MailRecord.from_doc({**attempt.mail.to_doc(), **attempt.changes})
            bucket = {
                MailStatus.SENT: report.sent,
                MailStatus.PENDING: report.retrying,
                MailStatus.FAILED: report.failed,
            }
            bucket[mail.status].append(mail)
            if mail.status is not MailStatus.SENT:
                log.warning("mail %s to %s: %s", mail.kind, mail.to, attempt.detail)
        return files
