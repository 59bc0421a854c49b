"""The worker: one pass (intake, deadlines, outbox), the testable unit `Worker.run_once`.

The deadlines and the outbox run whatever the mailbox does; an unreachable mailbox is raised
only after them. The loop around the pass (APScheduler, signals) is scheduler.py's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from delist_bot.config import Config
from delist_bot.mailbox import MailboxError
from delist_bot.runtime.deadlines import check_deadlines
from delist_bot.runtime.digest import send_digest
from delist_bot.runtime.intake import Intake
from delist_bot.runtime.outbox import Outbox
from delist_bot.runtime.passes import PassReport
from delist_bot.runtime.pipeline import Processed
from delist_bot.runtime.wiring import evidence_gatherer, journal_for, open_store, store_settings
from delist_bot.store import StoreCorrupt, StoreError

log = logging.getLogger("delist_bot")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Worker:
    def __init__(self, config: Config, after_commit: Callable[[Processed], None] | None = None):
        self.config = config
        self.store = open_store(config)
        self.journal = journal_for(self.store)
        self.settings = store_settings(config, self.store)
        self.stopping = threading.Event()  # set by SIGTERM: finish the group at hand, then stop
        self.fatal: StoreError | None = None
        self._last_error: str | None = None
        self._last_fault: str | None = None  # what the logged error was about
        sender = self.settings.sender.address
        self.outbox = Outbox(config, self.store, self.journal, sender, self.stopping)
        self.intake = Intake(
            config,
            self.store,
            self.settings,
            self.outbox,
            evidence_gatherer(config),
            self.stopping,
            after_commit,
        )

    def run_once(self, now: datetime | None = None) -> PassReport:
        """Poll, then the deadlines and the outbox, which run whatever the mailbox does: an
        unreachable mailbox is raised only after them."""
        now = now or utcnow()
        report = PassReport()
        courier = self.outbox.courier(now)
        unreachable: MailboxError | None = None
        try:
            try:
                report.processed = self.intake.poll(now, report, courier)
            except MailboxError as exc:
                unreachable = exc
            if not self.stopping.is_set():
                report.deadlines = check_deadlines(self.store, now, self.settings)
            self.outbox.drain(courier, now, report)
        finally:
            courier.close()
        if not self.stopping.is_set():
            self._compact(now)
        if unreachable is not None:
            raise unreachable
        return report

    def _compact(self, now: datetime) -> None:
        moved = self.store.compact(now)
        if moved:
            log.info("archived %s", ", ".join(f"{n} {name}" for name, n in moved.items()))

    def deliver(self, now: datetime, report: PassReport | None = None) -> PassReport:
        """Send what is due now (the outbox job between passes, and the digest)."""
        return self.outbox.deliver(now, report)

    def send_digest(self, now: datetime | None = None) -> PassReport:
        """The operators' daily digest: queued like any mail, then delivered at once."""
        return send_digest(self.store, self.outbox, self.settings, now or utcnow())

    def guarded_delivery(self) -> None:
        """The outbox job between passes; failures are the pass's to report."""
        try:
            self.deliver(utcnow())
        except (StoreError, OSError) as exc:
            log.debug("outbox run failed: %s", exc)

    def guarded_pass(self) -> None:
        """One pass for the scheduler: a failure is logged once, and recovery is logged too.

        A store that cannot be read stops the worker (self.fatal); everything else is retried.
        """
        try:
            self.run_once()
        except StoreCorrupt as exc:
            log.critical("stopping: %s", exc)
            self.fatal = exc
            return
        except (MailboxError, StoreError, OSError) as exc:
            # A store fault is one fault however its wording varies (each write names its own
            # spool file); a mailbox's wording says what changed (refused, then wrong password).
            fault = "store" if isinstance(exc, StoreError | OSError) else str(exc)
            if fault != self._last_fault:
                log.error("pass failed: %s (will retry)", exc)
            else:
                log.debug("pass failed again: %s", exc)
            self._last_error, self._last_fault = str(exc), fault
            return
        if self._last_error is not None:
            log.info("recovered after: %s", self._last_error)
            self._last_error = self._last_fault = None
