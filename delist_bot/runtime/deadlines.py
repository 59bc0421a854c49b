"""The deadline job of a pass: reminders, escalations and holding replies that are due.

It also tells a step of the wall clock from time that really passed, and says what caused
each breach it records (a clock step, or no pass running in time).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from delist_bot.core import cases, sla
from delist_bot.core.models import Case
from delist_bot.core.settings import Settings
from delist_bot.runtime.pipeline import deadline_pass
from delist_bot.store import Store, Transaction

log = logging.getLogger("delist_bot")


def check_deadlines(store: Store, now: datetime, settings: Settings) -> list[tuple[str, str]]:
    """The 48-hour promise: reminders, escalations and holding replies that are due. A
    step of the wall clock since the last pass is logged, and each breach says its cause."""
    mark = clock_mark(now)
    with store.transaction() as tx:
        last = _mark_from(tx.state.get("clock"))
        step = sla.clock_step(last, mark)
        tx.state.set("clock", _mark_doc(mark))
        done = deadline_pass(tx, now, settings)
        stepped = _explain_breaches(tx, done, step, last, now)
    if step is not None:
        _log_step(step, done, stepped)
    for case_id, step_name in done:
        log.info("case %s: %s sent", case_id, step_name)
    return done


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
