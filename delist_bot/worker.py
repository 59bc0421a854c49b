"""The worker: one pass (poll, decide, send, time checks) and the APScheduler loop around it.

A message that cannot be handled is quarantined with its reason and never blocks the next one.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from delist_bot import failpoints, sla
from delist_bot.config import Config, resolve
from delist_bot.courier import Claimed, Courier
from delist_bot.digest import DIGEST_PERIOD, digest_mail, queue_data
from delist_bot.journal import Journal
from delist_bot.mailbox import Fetched, Mailbox, MailboxError, open_mailbox
from delist_bot.pipeline import Processed, Settings, deadline_pass, process
from delist_bot.quarantine import QuarantineKind, quarantine_record
from delist_bot.replies import Sender
from delist_bot.store import Store, StoreCorrupt, StoreError, Transaction

log = logging.getLogger("delist_bot")
GROUP_SECONDS = 1.0  # a backlog is committed about once a second ...
GROUP_BATCHES = 10  # ... and holds at most this many fetched batches in memory


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassReport:
    processed: list[Processed] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    retrying: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[tuple[str, str]] = field(default_factory=list)


def settings_for(config: Config, secret: str) -> Settings:
    sender = Sender.from_address(config.smtp.from_address)
    own = (config.smtp.from_address, config.mailbox.username)
    review = config.review
    return Settings(
        sender=sender,
        own_addresses=tuple(a for a in own if "@" in a),
        reviewers=tuple(review.reviewers),
        operators=tuple(review.operators),
        secret=secret,
        authserv_id=review.authserv_id,
        require_listed=review.require_listed,
        replies_per_sender=config.limits.replies_per_sender,
        reply_window_hours=config.limits.reply_window_hours,
        ages=sla.Ages(
            reminder=timedelta(hours=review.reminder_hours),
            escalation=timedelta(hours=review.escalation_hours),
            holding=timedelta(hours=review.holding_hours),
        ),
    )


def review_secret(config: Config, store: Store) -> str:
    """The configured secret, else one generated on first run and kept in the store."""
    if config.review.secret:
        return config.review.secret
    with store.transaction() as tx:
        secret = tx.get_state("review_secret")
        if not secret:
            secret = secrets.token_hex(32)
            tx.set_state("review_secret", secret)
    return str(secret)


class Worker:
    def __init__(self, config: Config, after_commit: Callable[[Processed], None] | None = None):
        self.config = config
        self.store = Store(resolve(config, config.store.path))
        self.journal = Journal(self.store.path.with_name(self.store.path.name + ".journal"))
        self.settings = settings_for(config, review_secret(config, self.store))
        self.after_commit = after_commit  # a seam for crash tests: called between commit and move
        self._last_error: str | None = None
        self.fatal: StoreError | None = None

    # One pass -------------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> PassReport:
        now = now or utcnow()
        report = PassReport()
        courier = self._courier(now)
        try:
            report.processed = self.poll(now, report, courier)
            report.deadlines = self.check_deadlines(now)
            self._deliver(courier, now, report)
        finally:
            courier.close()
        moved = self.store.compact(now)
        if moved:
            log.info("archived %s", ", ".join(f"{n} {name}" for name, n in moved.items()))
        return report

    def check_deadlines(self, now: datetime) -> list[tuple[str, str]]:
        """The 48-hour promise: reminders, escalations and holding replies that are due."""
        with self.store.transaction() as tx:
            done = deadline_pass(tx, now, self.settings)
        for case_id, step in done:
            log.info("case %s: %s sent", case_id, step)
        return done

    def poll(self, now: datetime, report: PassReport, courier: Courier) -> list[Processed]:
        """Every request in the mailbox, a group of batches at a time. A group's replies are
        claimed in its commit and sent by the courier while the next group is read."""
        mailbox = open_mailbox(self.config)
        try:
            done = []
            batches = mailbox.batches()
            while True:
                results, claimed = self._commit_group(batches, now, courier, report)
                for result in results:
                    failpoints.reach("after_commit")
                    if self.after_commit is not None:
                        self.after_commit(result)
                courier.submit(claimed)  # claimed mail is always handed over, or it waits 5 min
                done.extend(self._file_away(mailbox, results))
                if not results:
                    break
            courier.wait()
            with self.store.transaction() as tx:
                settled = self._settle(tx, courier, report)
                tx.set_state("last_poll", now.isoformat())
                tx.set_state("mailbox_position", mailbox.position())
            self.journal.discard(settled)
            return done
        finally:
            mailbox.close()

    def _commit_group(
        self,
        batches: Iterator[list[Fetched]],
        now: datetime,
        courier: Courier,
        report: PassReport,
    ) -> tuple[list[Processed], list[Claimed]]:
        """One store write for the next batches, with the delivery results so far and the claim
        on the mail that is due; no results when the mailbox is done. A backlog is taken
        GROUP_SECONDS at a time, since a write costs as much as the hot store is large; a
        single batch is written at once. If one message breaks the group, each is done alone."""
        fetched: list[Fetched] = []
        try:
            with self.store.transaction() as tx:
                settled = self._settle(tx, courier, report)
                results: list[Processed] = []
                started = time.monotonic()
                for batch in batches:
                    fetched += batch
                    results += [self._record(tx, message, now) for message in batch]
                    full = len(fetched) >= GROUP_BATCHES * self.config.mailbox.batch_size
                    if full or time.monotonic() - started >= GROUP_SECONDS:
                        break
                claimed = self._claim(tx, now)
            self.journal.discard(settled)
        except (MailboxError, StoreError):
            raise  # the world is broken, not the messages: retry the pass later
        except Exception:
            results = [self._commit_alone(message, now) for message in fetched]
            with self.store.transaction() as tx:
                claimed = self._claim(tx, now)
        return results, claimed

    def _commit_alone(self, fetched: Fetched, now: datetime) -> Processed:
        try:
            with self.store.transaction() as tx:
                return self._record(tx, fetched, now)
        except (MailboxError, StoreError):
            raise
        except Exception as exc:  # a bug on one message must not block the queue
            log.exception("message %s could not be handled; quarantining it", fetched.uid)
            result = Processed(
                fetched.uid,
                f"uid:{fetched.uid}",
                None,
                None,
                "quarantined",
                f"internal error: {type(exc).__name__}: {exc}",
            )
            with self.store.transaction() as tx:
                _log_quarantine(tx, result, now, fetched, QuarantineKind.INTERNAL)
            return result

    def _file_away(self, mailbox: Mailbox, results: list[Processed]) -> list[Processed]:
        """Only after the commit: the batch leaves the request folder, in one move per folder."""
        folders = self.config.mailbox
        filed = []
        for folder in (folders.processed_folder, folders.quarantine_folder):
            going = [
                r
                for r in results
                if (r.outcome == "quarantined") == (folder == folders.quarantine_folder)
            ]
            mailbox.move([r.uid for r in going], folder)
            filed += [replace(r, folder=folder) for r in going]
        for result in filed:
            _log_processed(result)
        order = {r.uid: i for i, r in enumerate(results)}
        return sorted(filed, key=lambda r: order[r.uid])

    def _record(self, tx: Transaction, fetched: Fetched, now: datetime) -> Processed:
        if fetched.raw is None:
            limit = self.config.mailbox.max_message_bytes
            result = Processed(
                fetched.uid,
                f"oversize:{fetched.uid}",
                None,
                None,
                "quarantined",
                f"message is {fetched.size} bytes, over the {limit}-byte limit",
            )
            _log_quarantine(tx, result, now, fetched)
            return result
        result = process(tx, fetched.uid, fetched.raw, now, self.settings)
        if result.outcome == "quarantined":
            _log_quarantine(tx, result, now, fetched)
        return result

    def send_digest(self, now: datetime | None = None) -> PassReport:
        """The operators' daily digest: queued like any mail, then delivered at once."""
        now = now or utcnow()
        mail = digest_mail(queue_data(self.store, now - DIGEST_PERIOD), self.settings, now)
        if mail is None:
            log.warning("no [review] operators configured: no digest sent")
            return PassReport()
        with self.store.transaction() as tx:
            tx.enqueue(mail)
            tx.set_state("last_digest", now.isoformat())
        return self.deliver(now)

    # The outbox -----------------------------------------------------------------------------
    def deliver(self, now: datetime, report: PassReport | None = None) -> PassReport:
        """Send what is due now (the outbox job between passes, and the digest)."""
        report = report or PassReport()
        courier = self._courier(now)
        try:
            self._deliver(courier, now, report)
        finally:
            courier.close()
        return report

    def _courier(self, now: datetime) -> Courier:
        return Courier(self.config, self.journal, self.settings.sender.address, now)

    def _deliver(self, courier: Courier, now: datetime, report: PassReport) -> None:
        while True:
            with self.store.transaction() as tx:
                settled = self._settle(tx, courier, report)
                claimed = self._claim(tx, now)
            self.journal.discard(settled)
            if not claimed:
                return
            courier.submit(claimed)
            courier.wait()

    def _claim(self, tx: Transaction, now: datetime) -> list[Claimed]:
        """Mark the oldest due mail as being sent (so no other sender takes it)."""
        # A request's reply and its reviewers' mail, for every message of a full group.
        limit = 2 * GROUP_BATCHES * self.config.mailbox.batch_size
        return [(doc, tx.mail_bytes(doc)) for doc in tx.claim_mail(now, limit=limit)]

    def _settle(self, tx: Transaction, courier: Courier, report: PassReport) -> list[Path]:
        """Take the journaled delivery results into TX (also those of a sender that died);
        the returned journal files may go once TX is committed."""
        files = self.journal.seal()
        for entry in self.journal.entries(files):
            mail_id = entry.pop("id", None)
            if mail_id is not None:
                tx.update_mail(mail_id, **entry)
        for attempt in courier.finished():
            status = attempt.changes["status"]
            bucket = {"sent": report.sent, "pending": report.retrying, "failed": report.failed}
            bucket[status].append({**attempt.mail, **attempt.changes})
            if status != "sent":
                log.warning(
                    "mail %s to %s: %s", attempt.mail["kind"], attempt.mail["to"], attempt.detail
                )
        return files

    # The loop -------------------------------------------------------------------------------
    def serve(self) -> None:
        from delist_bot.scheduler import serve

        self.store.hold_worker_lock()
        try:
            serve(self)
        finally:
            self.store.release_worker_lock()
        if self.fatal is not None:
            raise self.fatal

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
            message = str(exc)
            if message != self._last_error:
                log.error("pass failed: %s (will retry)", message)
            self._last_error = message
            return
        if self._last_error is not None:
            log.info("recovered after: %s", self._last_error)
            self._last_error = None


def _log_quarantine(
    tx: Transaction,
    result: Processed,
    now: datetime,
    fetched: Fetched,
    kind: QuarantineKind = QuarantineKind.INPUT,
) -> None:
    """KIND says whether bad input or a bug put it there (a bug is not quiet: see
    quarantine.py); the digest finds the message in the quarantine folder for a retry."""
    tx.record_quarantine(
        quarantine_record(result.uid, result.key, result.reason, now, kind, fetched.raw)
    )


def _log_processed(result: Processed) -> None:
    if result.outcome == "quarantined":
        log.warning("quarantined message %s: %s", result.uid, result.reason)
    else:
        log.info(
            "message %s from %s: %s, %s%s",
            result.uid,
            result.sender,
            result.action,
            result.outcome,
            f", case {result.case_id}" if result.case_id else "",
        )


def install_signal_handlers(stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping after the current job", signal.Signals(signum).name)
        stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def sleep_with_backoff(attempt: int, stop: threading.Event) -> None:
    stop.wait(min(300, 2 ** min(attempt, 8)))
