"""The intake job of a pass: poll the mailbox, read and extract, gather evidence, commit each
group, then file the messages away (processed or quarantine folder).

A message that cannot be handled is quarantined with its reason and never blocks the next one;
messages are read before the store is locked; a store that cannot be written stops the pass,
a mailbox that refuses a move does not (the move is tried again at the next pass).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from delist_bot import failpoints
from delist_bot.config import Config
from delist_bot.core.evidence import Evidence
from delist_bot.core.models import Action, Extraction, Outcome
from delist_bot.core.quarantine import QuarantineKind, quarantine_record
from delist_bot.core.rules import request_action
from delist_bot.core.settings import Settings
from delist_bot.evidence.gather import Gatherer
from delist_bot.mailbox import Fetched, Mailbox, MailboxError, MailboxRefused, open_mailbox
from delist_bot.ndr import extract
from delist_bot.runtime.courier import Claimed, Courier
from delist_bot.runtime.outbox import Outbox
from delist_bot.runtime.passes import GROUP_BATCHES, GROUP_SECONDS, PassReport
from delist_bot.runtime.pipeline import Processed, process
from delist_bot.store import Store, StoreError, Transaction

log = logging.getLogger("delist_bot")


@dataclass(frozen=True)
class Read:
    """A fetched message and what the extractor made of it: read before any lock is taken, so
    a slow message never holds the store (error: the extractor itself failed on it)."""

    fetched: Fetched
    extraction: Extraction | None = None
    error: str | None = None
    evidence: Evidence | None = None  # gathered for a request that may open a case


class Intake:
    def __init__(
        self,
        config: Config,
        store: Store,
        settings: Settings,
        outbox: Outbox,
        gatherer: Gatherer | None,
        stopping: threading.Event,
        after_commit: Callable[[Processed], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.settings = settings
        self.outbox = outbox  # each group's commit settles delivery results and claims mail
        self.gatherer = gatherer
        self.stopping = stopping  # set by SIGTERM: finish the group at hand, then stop
        self.after_commit = after_commit  # a seam for crash tests: called between commit and move
        self._move_error: str | None = None  # the folder whose moves are refused, logged
        self._refused = False  # a move was refused in this pass

    def poll(self, now: datetime, report: PassReport, courier: Courier) -> list[Processed]:
        """Every request in the mailbox, a group of batches at a time: each group is read and
        extracted with no lock held, then written in one commit that also claims the replies;
        the courier sends them while the next group is read."""
        mailbox = open_mailbox(self.config)
        try:
            self._refused = False
            unfiled = self._refile(mailbox)
            done = self._groups(mailbox, unfiled, now, report, courier)
            courier.wait()
            with self.store.transaction() as tx:
                settled = self.outbox.settle(tx, courier, report)
                tx.state.set("last_poll", now.isoformat())
                tx.state.set("mailbox_position", mailbox.position())
                tx.state.set("unfiled", {"mailbox": mailbox.identity(), "uids": unfiled})
            self.outbox.journal.discard(settled)
            if not self._refused and self._move_error is not None:
                log.info("messages are moved into %s again", self._move_error)
                self._move_error = None
            return done
        finally:
            mailbox.close()

    def _groups(
        self,
        mailbox: Mailbox,
        unfiled: dict[str, str],
        now: datetime,
        report: PassReport,
        courier: Courier,
    ) -> list[Processed]:
        """Read, commit and file away group after group until the mailbox is done."""
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
                return done

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
                settled = self.outbox.settle(tx, courier, report)
                results = [self._record(tx, read, now) for read in group]
                claimed = self.outbox.claim(tx, now) if claim else []
            self.outbox.journal.discard(settled)
        except (MailboxError, StoreError):
            raise
        except OSError as exc:
            raise StoreError(f"store {self.store.path}: {exc}") from exc
        except Exception:
            results = [self._commit_alone(read, now) for read in group]
            with self.store.transaction() as tx:
                claimed = self.outbox.claim(tx, now) if claim else []
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
                if (r.outcome is Outcome.QUARANTINED) == (folder == folders.quarantine_folder)
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
        if result.outcome is Outcome.QUARANTINED:
            _log_quarantine(tx, result, now, fetched)
        return result


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
    return Processed(fetched.uid, f"{kind}:{fetched.uid}", None, None, Outcome.QUARANTINED, reason)


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
    if result.outcome is Outcome.QUARANTINED:
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
