"""The worker: one pass (poll, decide, send, time checks) and the APScheduler loop around it.

A message that cannot be handled is quarantined with its reason and never blocks the next one;
messages are read before the store is locked; a store that cannot be written stops the pass, a
mailbox that refuses a move does not, and the deadlines run whatever the mailbox does.
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

from delist_bot import failpoints
from delist_bot.compose.replies import Sender
from delist_bot.config import Config, resolve
from delist_bot.core import cases, sla
from delist_bot.core.evidence import Evidence
from delist_bot.core.models import Action, Case, Extraction, MailRecord, MailStatus
from delist_bot.core.quarantine import QuarantineKind, quarantine_record
from delist_bot.core.rules import request_action
from delist_bot.evidence.gather import Gatherer
from delist_bot.evidence.gather import Settings as GatherSettings
from delist_bot.mailbox import Fetched, Mailbox, MailboxError, MailboxRefused, open_mailbox
from delist_bot.ndr import extract
from delist_bot.reports.digest import DIGEST_PERIOD, digest_mail, queue_data
from delist_bot.runtime.courier import Claimed, Courier
from delist_bot.runtime.journal import Journal
from delist_bot.runtime.pipeline import Processed, Settings, deadline_pass, process
from delist_bot.store import Store, StoreCorrupt, StoreError, Transaction

log = logging.getLogger("delist_bot")
GROUP_SECONDS = 1.0  # a backlog is committed about once a second ...
GROUP_BATCHES = 10  # ... and holds at most this many fetched batches in memory


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassReport:
    processed: list[Processed] = field(default_factory=list)
    sent: list[MailRecord] = field(default_factory=list)
    retrying: list[MailRecord] = field(default_factory=list)
    failed: list[MailRecord] = field(default_factory=list)
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
        replies_per_domain=config.limits.replies_per_domain,
        ages=sla.Ages(
            reminder=timedelta(hours=review.reminder_hours),
            escalation=timedelta(hours=review.escalation_hours),
            holding=timedelta(hours=review.holding_hours),
        ),
        policy_mode=config.policy.mode,
    )


def review_secret(config: Config, store: Store) -> str:
    """The configured secret, else one generated on first run and kept in the store."""
    if config.review.secret:
        return config.review.secret
    with store.transaction() as tx:
        secret = tx.state.get("review_secret")
        if not secret:
            secret = secrets.token_hex(32)
            tx.state.set("review_secret", secret)
    return str(secret)


@dataclass(frozen=True)
class Read:
    """A fetched message and what the extractor made of it: read before any lock is taken, so
    a slow message never holds the store (error: the extractor itself failed on it)."""

    fetched: Fetched
    extraction: Extraction | None = None
    error: str | None = None
    evidence: Evidence | None = None  # gathered for a request that may open a case


class Worker:
    def __init__(self, config: Config, after_commit: Callable[[Processed], None] | None = None):
        self.config = config
        self.store = Store(resolve(config, config.store.path))
        self.journal = Journal(self.store.path.with_name(self.store.path.name + ".journal"))
        self.settings = settings_for(config, review_secret(config, self.store))
        self.after_commit = after_commit  # a seam for crash tests: called between commit and move
        self.stopping = threading.Event()  # set by SIGTERM: finish the group at hand, then stop
        self._last_error: str | None = None
        self._last_fault: str | None = None  # what the logged error was about
        self._move_error: str | None = None  # the folder whose moves are refused, logged
        self._refused = False  # a move was refused in this pass
        self.fatal: StoreError | None = None
        self.gatherer = evidence_gatherer(config)

    # One pass -------------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> PassReport:
        """Poll, then the deadlines and the outbox, which run whatever the mailbox does: an
        unreachable mailbox is raised only after them."""
        now = now or utcnow()
        report = PassReport()
        courier = self._courier(now)
        unreachable: MailboxError | None = None
        try:
            try:
                report.processed = self.poll(now, report, courier)
            except MailboxError as exc:
                unreachable = exc
            if not self.stopping.is_set():
                report.deadlines = self.check_deadlines(now)
            self._deliver(courier, now, report)
        finally:
            courier.close()
        if not self.stopping.is_set():
            moved = self.store.compact(now)
            if moved:
                log.info("archived %s", ", ".join(f"{n} {name}" for name, n in moved.items()))
        if unreachable is not None:
            raise unreachable
        return report

    def check_deadlines(self, now: datetime) -> list[tuple[str, str]]:
        """The 48-hour promise: reminders, escalations and holding replies that are due. A
        step of the wall clock since the last pass is logged, and each breach says its cause."""
        mark = clock_mark(now)
        with self.store.transaction() as tx:
            last = _mark_from(tx.state.get("clock"))
            step = sla.clock_step(last, mark)
            tx.state.set("clock", _mark_doc(mark))
            done = deadline_pass(tx, now, self.settings)
            stepped = _explain_breaches(tx, done, step, last, now)
        if step is not None:
            _log_step(step, done, stepped)
        for case_id, step_name in done:
            log.info("case %s: %s sent", case_id, step_name)
        return done

    def poll(self, now: datetime, report: PassReport, courier: Courier) -> list[Processed]:
        """Every request in the mailbox, a group of batches at a time: each group is read and
        extracted with no lock held, then written in one commit that also claims the replies;
        the courier sends them while the next group is read."""
        mailbox = open_mailbox(self.config)
        try:
            self._refused = False
            unfiled = self._refile(mailbox)
            done: list[Processed] = []
            batches = mailbox.batches(skip=unfiled)
            while True:
                group = [] if self.stopping.is_set() else self._read_group(batches)
                results, claimed = self._commit_group(group, now, courier, report)
                for result in results:
                    failpoints.reach("after_commit")
                    if self.after_commit is not None:
                        self.after_commit(result)
                courier.submit(claimed)  # claimed mail is always handed over, or it waits 5 min
                done.extend(self._file_away(mailbox, results, unfiled))
                if not results:
                    break
            courier.wait()
            with self.store.transaction() as tx:
                settled = self._settle(tx, courier, report)
                tx.state.set("last_poll", now.isoformat())
                tx.state.set("mailbox_position", mailbox.position())
                tx.state.set("unfiled", {"mailbox": mailbox.identity(), "uids": unfiled})
            self.journal.discard(settled)
            if not self._refused and self._move_error is not None:
                log.info("messages are moved into %s again", self._move_error)
                self._move_error = None
            return done
        finally:
            mailbox.close()

    def _refile(self, mailbox: Mailbox) -> dict[str, str]:
        """Messages recorded at an earlier pass whose move was refused: only the move is tried
        again (reading them again would cost a fetch each pass, and once their Message-ID
        leaves the 3-day memory, a second reply). Returns those still refused, by UID."""
        with self.store.transaction() as tx:
            stored = tx.state.get("unfiled") or {}
        if stored.get("mailbox") != mailbox.identity():  # UIDs of another folder or UIDVALIDITY
            return {}
        unfiled: dict[str, str] = dict(stored.get("uids") or {})
        for folder in sorted(set(unfiled.values())):
            going = sorted(uid for uid, target in unfiled.items() if target == folder)
            try:
                mailbox.move(going, folder)
            except MailboxRefused as exc:
                self._move_failed(exc, len(going), folder)
                continue
            for uid in going:
                del unfiled[uid]
        return unfiled

    def _read_group(self, batches: Iterator[list[Fetched]]) -> list[Read]:
        """The next batches, extracted: GROUP_SECONDS of a backlog (a write costs as much as
        the hot store is large), or a single batch when that is all there is."""
        group: list[Read] = []
        started = time.monotonic()
        limit = GROUP_BATCHES * self.config.mailbox.batch_size
        for batch in batches:
            group += self._with_evidence([_read(fetched) for fetched in batch])
            if (
                len(group) >= limit
                or time.monotonic() - started >= GROUP_SECONDS
                or self.stopping.is_set()
            ):
                break
        return group

    def _with_evidence(self, reads: list[Read]) -> list[Read]:
        """Evidence for each request that may open a case (review, a public IP), gathered for
        the batch at once before any lock is taken, within one timeout."""
        if self.gatherer is None:
            return reads
        wanted = [i for i, r in enumerate(reads) if _wants_evidence(r, self.settings)]
        asked = [(reads[i].extraction.ip, reads[i].extraction.sender) for i in wanted]
        try:
            found = self.gatherer.gather_many(asked)  # type: ignore[arg-type]
        except Exception:  # a bug in gathering costs the evidence, never the requests
            log.exception("evidence could not be gathered for %s request(s)", len(asked))
            return reads
        reads = list(reads)
        for i, evidence in zip(wanted, found, strict=True):
            reads[i] = replace(reads[i], evidence=evidence)
        return reads

    def _commit_group(
        self, group: list[Read], now: datetime, courier: Courier, report: PassReport
    ) -> tuple[list[Processed], list[Claimed]]:
        """One store write for GROUP, with the delivery results so far and the claim on the
        mail that is due; no results when the mailbox is done. A store that cannot be written
        stops the pass (nothing of the group is on disk, so nothing may leave the mailbox);
        only a message that breaks its group is a reason to do each alone."""
        claim = bool(group) or not self.stopping.is_set()
        try:
            with self.store.transaction() as tx:
                settled = self._settle(tx, courier, report)
                results = [self._record(tx, read, now) for read in group]
                claimed = self._claim(tx, now) if claim else []
            self.journal.discard(settled)
        except (MailboxError, StoreError):
            raise
        except OSError as exc:
            raise StoreError(f"store {self.store.path}: {exc}") from exc
        except Exception:
            results = [self._commit_alone(read, now) for read in group]
            with self.store.transaction() as tx:
                claimed = self._claim(tx, now) if claim else []
        return results, claimed

    def _commit_alone(self, read: Read, now: datetime) -> Processed:
        fetched = read.fetched
        try:
            with self.store.transaction() as tx:
                return self._record(tx, read, now)
        except (MailboxError, StoreError):
            raise
        except OSError as exc:
            raise StoreError(f"store {self.store.path}: {exc}") from exc
        except Exception as exc:  # a bug on one message must not block the queue
            log.exception("message %s could not be handled; quarantining it", fetched.uid)
            result = _quarantined(fetched, f"internal error: {type(exc).__name__}: {exc}")
            with self.store.transaction() as tx:
                _log_quarantine(tx, result, now, fetched, QuarantineKind.INTERNAL)
            return result

    def _file_away(
        self, mailbox: Mailbox, results: list[Processed], unfiled: dict[str, str]
    ) -> list[Processed]:
        """Only after the commit: the group leaves the request folder, in one move per folder.
        A move the mailbox refuses (quota, a read-only folder) leaves those messages where
        they are, recorded and answered, and adds them to UNFILED: later passes only try the
        move again."""
        folders = self.config.mailbox
        filed = []
        for folder in (folders.processed_folder, folders.quarantine_folder):
            going = [
                r
                for r in results
                if (r.outcome == "quarantined") == (folder == folders.quarantine_folder)
            ]
            if not going:
                continue
            try:
                mailbox.move([r.uid for r in going], folder)
            except MailboxRefused as exc:
                self._move_failed(exc, len(going), folder)
                unfiled.update({r.uid: folder for r in going})
                filed += going
                continue
            filed += [replace(r, folder=folder) for r in going]
        for result in filed:
            _log_processed(result)
        order = {r.uid: i for i, r in enumerate(results)}
        return sorted(filed, key=lambda r: order[r.uid])

    def _move_failed(self, exc: MailboxError, count: int, folder: str) -> None:
        """Logged once per folder until moves into it work again (a server's wording may
        change from one refusal to the next: timings, counters)."""
        if self._move_error != folder:
            log.error(
                "%s: %s recorded message(s) stay in %s; the move is tried again each pass",
                exc,
                count,
                self.config.mailbox.folder,
            )
        self._move_error = folder
        self._refused = True

    def _record(self, tx: Transaction, read: Read, now: datetime) -> Processed:
        fetched = read.fetched
        if fetched.raw is None:
            limit = self.config.mailbox.max_message_bytes
            result = _quarantined(
                fetched, f"message is {fetched.size} bytes, over the {limit}-byte limit", "oversize"
            )
            _log_quarantine(tx, result, now, fetched)
            return result
        if read.error is not None:
            result = _quarantined(fetched, read.error)
            _log_quarantine(tx, result, now, fetched, QuarantineKind.INTERNAL)
            return result
        result = process(
            tx,
            fetched.uid,
            fetched.raw,
            now,
            self.settings,
            extraction=read.extraction,
            arrived_at=fetched.arrived_at,
            evidence=read.evidence,
        )
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
            tx.outbox.enqueue(mail)
            tx.state.set("last_digest", now.isoformat())
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
        """Until nothing is due; when stopping, only what was claimed already."""
        while True:
            courier.wait()
            with self.store.transaction() as tx:
                settled = self._settle(tx, courier, report)
                claimed = [] if self.stopping.is_set() else self._claim(tx, now)
            self.journal.discard(settled)
            if not claimed:
                return
            courier.submit(claimed)

    def _claim(self, tx: Transaction, now: datetime) -> list[Claimed]:
        """Mark the oldest due mail as being sent (so no other sender takes it)."""
        # A request's reply and its reviewers' mail, for every message of a full group.
        limit = 2 * GROUP_BATCHES * self.config.mailbox.batch_size
        return [(doc, tx.outbox.mail_bytes(doc)) for doc in tx.outbox.claim(now, limit=limit)]

    def _settle(self, tx: Transaction, courier: Courier, report: PassReport) -> list[Path]:
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

    # The loop -------------------------------------------------------------------------------
    def serve(self) -> None:
        from delist_bot.runtime.scheduler import serve

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


def evidence_gatherer(config: Config) -> Gatherer | None:
    """None when [policy] mode is off: no lookups at all."""
    if config.policy.mode == "off":
        return None
    found = config.evidence
    return Gatherer(
        GatherSettings(
            tuple(found.nameservers),
            tuple(found.dnsbl_zones),
            found.rdap_url,
            found.timeout_seconds,
        )
    )


def _wants_evidence(read: Read, settings: Settings) -> bool:
    extraction = read.extraction
    return (
        extraction is not None
        and not extraction.error
        and bool(extraction.ip and extraction.sender)
        and request_action(extraction, settings.own_addresses) is Action.REVIEW
    )


def _read(fetched: Fetched) -> Read:
    if fetched.raw is None:
        return Read(fetched)
    failpoints.reach("extract")
    try:
        extraction = extract(fetched.raw)
        for note in extraction.notes:  # an image not read (no Tesseract, too big), and why
            log.warning("message %s: %s", fetched.uid, note)
        return Read(fetched, extraction)
    except Exception as exc:  # a bug on one message must not block the queue
        log.exception("message %s could not be read; quarantining it", fetched.uid)
        return Read(fetched, error=f"internal error: {type(exc).__name__}: {exc}")


def _quarantined(fetched: Fetched, reason: str, kind: str = "uid") -> Processed:
    return Processed(fetched.uid, f"{kind}:{fetched.uid}", None, None, "quarantined", reason)


def clock_mark(now: datetime) -> sla.ClockMark:
    """NOW beside the machine's elapsed-time clock, to tell a step of the wall clock from time
    that really passed (CLOCK_BOOTTIME counts a suspend too; no one can set it)."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = ""
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return sla.ClockMark(now, boot_id, time.clock_gettime(clock))


def _mark_doc(mark: sla.ClockMark) -> dict[str, Any]:
    return {"wall": mark.wall.isoformat(), "boot_id": mark.boot_id, "uptime": mark.uptime}


def _mark_from(doc: Any) -> sla.ClockMark | None:
    try:
        return sla.ClockMark(
            datetime.fromisoformat(doc["wall"]), str(doc["boot_id"]), float(doc["uptime"])
        )
    except (TypeError, KeyError, ValueError):
        return None


def _explain_breaches(
    tx: Transaction,
    done: list[tuple[str, str]],
    step: timedelta | None,
    last: sla.ClockMark | None,
    now: datetime,
) -> list[str]:
    """A breach the deadline steps recorded in this pass says what caused it: a step of the
    wall clock, or no pass running in time (the worker was down). Returns the cases blamed on a
    clock step."""
    blamed = []
    for case_id in dict.fromkeys(case_id for case_id, _ in done):
        case = tx.cases.get(case_id)
        if case is None or case.breached_at != now or _explained(case):
            continue
        if step is not None:
            text = f"clock_step: the wall clock was stepped {_span(step)} since the last pass"
            blamed.append(case_id)
        else:
            since = f"between {last.wall.isoformat()} and" if last else "before"
            text = f"worker_down: no pass ran {since} {now.isoformat()}"
        tx.cases.save(cases.add_event(case, cases.BOT, "breach", text, now))
    return blamed


def _explained(case: Case) -> bool:
    causes = ("worker_down:", "clock_step:")
    return any(e.kind == "breach" and e.text.startswith(causes) for e in case.events)


def _log_step(step: timedelta, done: list[tuple[str, str]], blamed: list[str]) -> None:
    log.warning(
        "clock step: the wall clock moved %s since the last pass, more than really elapsed; "
        "deadlines follow the wall clock: %s step(s) taken now, %s breach(es) recorded as "
        "clock_step%s",
        _span(step),
        len(done),
        len(blamed),
        f" ({', '.join(blamed)})" if blamed else "",
    )


def _span(step: timedelta) -> str:
    return f"{abs(step)} {'forward' if step > timedelta(0) else 'back'}"


def _log_quarantine(
    tx: Transaction,
    result: Processed,
    now: datetime,
    fetched: Fetched,
    kind: QuarantineKind = QuarantineKind.INPUT,
) -> None:
    """KIND says whether bad input or a bug put it there (a bug is not quiet: see
    quarantine.py); the digest finds the message in the quarantine folder for a retry."""
    tx.quarantine.record(
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
