"""The outbox's sender: a thread that holds the SMTP conversation while the worker reads on.

Each answer is journaled the moment the server gives it; the outbox (outbox.py) takes the
journal into the store with its next write. The queue is short, so claimed mail never waits
long to be sent.
"""

from __future__ import annotations

import queue
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from delist_bot.compose.oversize import cut_notification
from delist_bot.config import Config
from delist_bot.core.models import MailKind, MailRecord, MailStatus
from delist_bot.runtime.journal import Journal
from delist_bot.smtp.transport import Delivery, DeliveryOutcome, Transport

Claimed = tuple[MailRecord, bytes]  # an outbox record and the mail's bytes
RETRY_DELAYS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)
GIVE_UP_AFTER = timedelta(days=3)
SWITCH_INTERVAL = 0.0001
QUEUED_BATCHES = 2  # claimed and not yet sent: bounded, so claims stay fresh and memory small


@dataclass(frozen=True)
class Attempt:
    """One queued mail's delivery attempt: the outbox record, its new fields, the server's word."""

    mail: MailRecord
    changes: dict[str, Any]
    detail: str


def after_attempt(
    mail: MailRecord, outcome: DeliveryOutcome, detail: str, now: datetime
) -> dict[str, Any]:
    """The outbox record's new fields after one attempt: sent, retry later, or given up."""
    attempts = mail.attempts + 1
    if outcome is DeliveryOutcome.SENT:
        return {
            "status": MailStatus.SENT.value,
            "attempts": attempts,
            "sent_at": now.isoformat(),
            "last_error": None,
        }
    # A mail queued again by `outbox retry` gets its three days from then.
    created = _moment(mail.retried_at or mail.created_at, now)
    if outcome is DeliveryOutcome.FAILED or now - created > GIVE_UP_AFTER:
        return {
            "status": MailStatus.FAILED.value,
            "attempts": attempts,
            "last_error": detail,
            "failed_at": now.isoformat(),
        }
    delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
    next_at = (now + timedelta(seconds=delay)).isoformat()
    return {
        "status": MailStatus.PENDING.value,
        "attempts": attempts,
        "last_error": detail,
        "next_attempt_at": next_at,
    }


class Courier:
    """Sends claimed mail in order on one connection, in a thread of its own."""

    def __init__(self, config: Config, journal: Journal, sender: str, now: datetime) -> None:
        self.config = config
        self.journal = journal
        self.sender = sender
        self.now = now
        self._queue: queue.Queue[list[Claimed] | None] = queue.Queue(QUEUED_BATCHES)
        self._done: list[Attempt] = []
        self._done_lock = threading.Lock()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, mails: list[Claimed]) -> None:
        """Queue claimed mail (record and bytes); waits while the queue is full."""
        self._raise_if_failed()
        if not mails:
            return
        if self._thread is None:
            # The courier waits on the server four times a mail; with the default 5 ms switch
            # interval each wake-up could wait that long for the parsing thread to yield.
            sys.setswitchinterval(SWITCH_INTERVAL)
            self._thread = threading.Thread(target=self._run, name="courier", daemon=True)
            self._thread.start()
        self._queue.put(mails)

    def wait(self) -> None:
        """Until everything submitted has had its attempt."""
        if self._thread is not None:
            self._queue.join()
        self._raise_if_failed()

    def finished(self) -> list[Attempt]:
        """The attempts made since the last call."""
        with self._done_lock:
            done, self._done = self._done, []
        return done

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        transport = Transport(self.config)
        try:
            while (mails := self._queue.get()) is not None:
                try:
                    if self._error is None:
                        self._send(transport, mails)
                except BaseException as exc:  # the journal's disk: the worker must hear of it
                    self._error = exc
                finally:
                    self._queue.task_done()
            self._queue.task_done()
        finally:
            transport.close()

    def _send(self, transport: Transport, mails: list[Claimed]) -> None:
        unreachable: str | None = None
        for mail, raw in mails:
            if unreachable is None:
                delivery = attempt(transport, self.sender, mail, raw)
                if delivery.outcome is DeliveryOutcome.RETRY and not transport.connected:
                    # A server that times out would cost the timeout once per mail: the rest of
                    # this batch waits for its next attempt instead.
                    unreachable = delivery.detail
            else:
                delivery = Delivery(
                    DeliveryOutcome.RETRY, f"not tried, the server failed: {unreachable}"
                )
            changes = after_attempt(mail, delivery.outcome, delivery.detail, self.now)
            self.journal.record(mail.id, changes)
            with self._done_lock:
                self._done.append(Attempt(mail, changes, delivery.detail))
        self.journal.sync()


def attempt(transport: Transport, sender: str, mail: MailRecord, raw: bytes) -> Delivery:
    """One mail's attempt, whatever it holds: an exception fails this mail (with its type and
    message), never the courier, the pass or the mail after it."""
    try:
        # A reviewer notification over the server's SIZE goes out cut (it says so), rather
        # than not at all; any other mail is sent as it is, and the limit fails it.
        case_id = mail.case_id or ""
        notification = mail.kind == MailKind.REVIEWER_NOTIFICATION
        fit = partial(cut_notification, case_id=case_id) if notification else None
        delivery = transport.send(sender, mail.to, raw, mail.id, fit)
    except Exception as exc:  # logged once with the other failures, as one line
        transport.close()  # the conversation is in an unknown state
        delivery = Delivery(DeliveryOutcome.FAILED, f"{type(exc).__name__}: {exc}")
    # The detail goes to the journal, the store and the archive: valid Unicode on one line.
    detail = " ".join(delivery.detail.split()).encode("utf-8", "backslashreplace").decode()
    return Delivery(delivery.outcome, detail)


def _moment(moment: datetime, default: datetime) -> datetime:
    """A record's time; one without a zone counts as DEFAULT rather than stopping the courier."""
    return moment if moment.tzinfo is not None else default
