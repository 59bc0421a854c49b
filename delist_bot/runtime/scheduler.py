"""How the worker runs as a process: once, or forever under APScheduler (the only module that
imports it), with the worker lock held and SIGTERM stopping at a safe point.

Jobs never overlap (one lock for all of them); missed and skipped runs are logged, not silent.
A stop (SIGTERM) returns only once the running job is finished, so the worker lock is released
after the last byte this process writes.
IMAP IDLE, on its own thread and connection, wakes the poll job as soon as mail arrives.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from delist_bot.mailbox import MailboxError
from delist_bot.runtime.passes import PassReport
from delist_bot.runtime.worker import Worker

log = logging.getLogger("delist_bot")


def run_once(worker: Worker, now: datetime | None = None) -> PassReport:
    """One pass under the worker lock; SIGTERM stops it at a safe point, then the lock goes."""
    worker.store.hold_worker_lock()
    try:
        install_signal_handlers(worker.stopping.set)
        return worker.run_once(now)
    finally:
        worker.store.release_worker_lock()


def serve(worker: Worker) -> None:
    """The worker until SIGTERM, under the worker lock; a store that cannot be read stops it
    and is raised."""
    worker.store.hold_worker_lock()
    try:
        _loop(worker)
    finally:
        worker.store.release_worker_lock()
    if worker.fatal is not None:
        raise worker.fatal


def _loop(worker: Worker) -> None:
    schedule = worker.config.schedule
    pool = ThreadPoolExecutor()  # kept, to wait for its threads once the scheduler stops
    scheduler = BlockingScheduler(
        timezone=UTC,
        executors={"default": pool},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": schedule.poll_seconds,
        },
    )
    stop = threading.Event()
    busy = threading.Lock()  # held by every job: the stop waits for the one that runs

    def shutdown() -> None:
        if stop.is_set():  # a second signal: the stop is under way already
            return
        stop.set()
        worker.stopping.set()  # the pass stops at its next safe point
        scheduler.shutdown(wait=False)

    def exclusive(job: Callable[[], object], wait: bool = True) -> Callable[[], None]:
        """JOB under the busy lock; one that starts after the stop does nothing, and one that
        need not wait (the outbox: every pass ends by sending) is skipped while another runs."""

        def run() -> None:
            if not busy.acquire(blocking=wait):
                return
            try:
                if not stop.is_set():
                    job()
            finally:
                busy.release()

        return run

    def one_pass() -> None:
        worker.guarded_pass()
        if worker.fatal is not None:
            shutdown()

    hour, minute = (int(part) for part in schedule.digest_time.split(":"))
    scheduler.add_job(
        exclusive(one_pass),
        "interval",
        seconds=schedule.poll_seconds,
        id="pass",
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        exclusive(worker.guarded_delivery, wait=False),
        "interval",
        seconds=schedule.outbox_seconds,
        id="outbox",
    )
    scheduler.add_job(
        exclusive(worker.send_digest),
        CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(schedule.timezone)),
        id="digest",
    )
    scheduler.add_listener(_report, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    install_signal_handlers(shutdown)
    if worker.config.mailbox.kind == "imap" and worker.config.mailbox.idle:
        threading.Thread(
            target=_idle_loop, args=(worker, scheduler, stop), daemon=True, name="imap-idle"
        ).start()
    log.info("worker started: pass every %s s", schedule.poll_seconds)
    scheduler.start()
    stop.set()
    worker.stopping.set()
    pool.shutdown(wait=True)  # the job that was running has finished: pass, courier, journal
    with busy:
        log.info("worker stopped")


def _report(event: JobEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("job %s skipped: the previous run is still going", event.job_id)
    elif isinstance(event, JobExecutionEvent) and event.exception is not None:
        log.error("job %s failed: %r", event.job_id, event.exception)


def _idle_loop(worker: Worker, scheduler: BlockingScheduler, stop: threading.Event) -> None:
    from delist_bot.mailbox.imap import IdleWatcher

    watcher, failures = IdleWatcher(worker.config), 0
    while not stop.is_set():
        try:
            if not watcher.supported():
                log.info("the IMAP server has no IDLE; polling only")
                return
            if watcher.wait(worker.config.schedule.poll_seconds):
                scheduler.modify_job("pass", next_run_time=datetime.now(UTC))
            failures = 0
        except MailboxError as exc:
            failures += 1
            if failures == 1:
                log.warning("%s; reconnecting with backoff", exc)
            sleep_with_backoff(failures, stop)
    watcher.close()


def install_signal_handlers(stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping after the current job", signal.Signals(signum).name)
        stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def sleep_with_backoff(attempt: int, stop: threading.Event) -> None:
    stop.wait(min(300, 2 ** min(attempt, 8)))
