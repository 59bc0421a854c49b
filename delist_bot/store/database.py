"""The case store: one TinyDB file of the recent past, an archive of history beside it.

Every transaction holds an exclusive file lock and ends in one atomic file replacement, so
a crash leaves the previous state and two processes never interleave their writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware

from delist_bot.core.models import Case, MailRecord, QuarantineRecord
from delist_bot.store.archive import Archive
from delist_bot.store.codec import case_from_doc
from delist_bot.store.files import (
    LOCK_TIMEOUT,
    AtomicJSONStorage,
    Memo,
    StoreError,
    locked,
    spool_mail,
    write_request,
    write_spool,
)
from delist_bot.store.transaction import Transaction


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._worker_lock_path = self.path.with_name(self.path.name + ".worker")
        self.archive = Archive(self.path.with_name(self.path.name + ".archive"))
        self.spool = self.path.with_name(self.path.name + ".spool")
        self.requests = self.path.with_name(self.path.name + ".requests")
        self._worker_lock: contextlib.ExitStack | None = None
        self._memo = Memo()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All changes inside are written at once at the end, or not at all: a failure anywhere
        in the commit (spool, archive, store file) leaves the files and this process's memory
        as they were before; an OSError of the store's files is raised as StoreWriteError."""
        try:
            lock = locked(self._lock_path)
            lock.__enter__()
        except BlockingIOError as exc:
            raise StoreError(f"store {self.path} stayed locked for {LOCK_TIMEOUT:.0f} s") from exc
        try:
            db = TinyDB(
                str(self.path), memo=self._memo, storage=CachingMiddleware(AtomicJSONStorage)
            )
            db.storage.WRITE_CACHE_SIZE = 1 << 30  # write only at the end of the transaction
            db.storage.read()  # a damaged file is reported now, not by the first query
            tx = Transaction(db, self.archive, self.spool, self._memo.derived.get("hot_cases"))
            try:
                yield tx
                tx.before_commit()
                self._commit(db, tx)
            except BaseException:
                self._memo.forget()  # TinyDB changed the memo's data in place: it is not the file's
                raise
            if tx.reusable_index is not None:  # it describes the file as now written
                self._memo.derived["hot_cases"] = tx.reusable_index
        finally:
            lock.__exit__(None, None, None)

    def _commit(self, db: TinyDB, tx: Transaction) -> None:
        """The spool, then the archive, then the store file (see compact()); a failure takes
        back what was written before it."""
        spool_file = self.spool / tx.outbox.spool_name
        if tx.outbox.spooled:
            write_spool(spool_file, list(tx.outbox.spooled.items()))
        appended = None
        try:
            for (
                case_id,
                raw,
            ) in tx.cases.requests.items():  # a failed commit's file: overwritten by its retry
                write_request(self.requests, case_id, raw)
            if tx.history.records:
                appended = self.archive.append_all(tx.history.records)
            db.storage.flush()
        except BaseException:
            if appended is not None:
                self.archive.undo(appended)
            spool_file.unlink(missing_ok=True)
            raise

    def hold_worker_lock(self) -> None:
        """Claim the store for this worker process; a second worker gets a clear refusal."""
        stack = contextlib.ExitStack()
        try:
            handle = stack.enter_context(locked(self._worker_lock_path, blocking=False))
        except BlockingIOError as exc:
            stack.close()
            raise StoreError(
                f"another delist-bot worker is already running on {self.path}"
            ) from exc
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._worker_lock = stack
        with self.transaction():  # under the store lock, no writer is mid-way: clear dead temps
            stale = [
                *self.path.parent.glob(f".{self.path.name}.*.tmp"),
                *self.archive.folder.glob(".*.tmp"),  # the index, when it was first built
            ]
            for path in stale:
                path.unlink(missing_ok=True)

    def compact(self, now: datetime) -> dict[str, int]:
        """Move history out of the hot store, so that its size (and every write's cost) stays
        that of the recent past. Archive first, then the hot store: a crash in between only
        leaves duplicates in the archive, which its readers drop."""
        with self.transaction() as tx:
            moved = tx.take_history(now)
            for name, records in moved.items():
                tx.archive_later(name, records)
            wanted = {mail.spool for mail in tx.outbox.all()}
            for path in self.spool.iterdir() if self.spool.exists() else ():
                # All its mail is sent, its commit never happened, or a crash left it half-way.
                if path.name not in wanted:
                    path.unlink(missing_ok=True)
        for case in moved.get("cases", ()):  # a request is kept while its case is hot
            (self.requests / f"{case['id']}.eml").unlink(missing_ok=True)
        return {name: len(records) for name, records in moved.items()}

    def history(
        self, since: datetime | None = None
    ) -> tuple[list[Case], list[dict[str, Any]], list[MailRecord], list[QuarantineRecord]]:
        """Cases, message records, mail and quarantine records, hot and archived (for reports)."""
        month = since.isoformat()[:7] if since else ""
        with self.transaction() as tx:
            cases = {d["id"]: d for d in self.archive.records("cases")}
            cases |= {d["id"]: d for d in tx.db.table("cases").all()}
            messages = self.archive.records("messages", month)
            archived = self.archive.records("outbox", month)
            outbox = [MailRecord.from_doc(doc) for doc in archived] + tx.outbox.all()
            held = self.archive.records("quarantine", month)
            quarantine = [QuarantineRecord.from_doc(doc) for doc in held] + tx.quarantine.all()
        return [case_from_doc(d) for d in cases.values()], messages, outbox, quarantine

    def request(self, case_id: str) -> bytes | None:
        """A case's request as it came, while the case is in the hot store; else None."""
        try:
            return (self.requests / f"{case_id}.eml").read_bytes()
        except FileNotFoundError:
            return None

    def worker_running(self) -> bool:
        """True while some worker process holds this store's worker lock."""
        if self._worker_lock is not None:
            return True
        try:
            with locked(self._worker_lock_path, blocking=False):
                return False
        except BlockingIOError:
            return True

    def release_worker_lock(self) -> None:
        if self._worker_lock is not None:
            self._worker_lock.close()
            self._worker_lock = None


def raw_of(store: Store, mail: MailRecord) -> bytes:
    """A queued mail's bytes, from the spool file its commit wrote."""
    return spool_mail(store.spool / mail.spool, mail.body)
