"""Deadline arithmetic for the 48-hour promise: pure functions over times passed in.

No clock is read here; callers pass `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from delist_bot.core.models import Case, CaseStatus

PROMISE = timedelta(hours=48)


@dataclass(frozen=True)
class Ages:
    """When, after a request arrived, each of the promise's steps is due."""

    reminder: timedelta = timedelta(hours=24)
    escalation: timedelta = timedelta(hours=40)
    holding: timedelta = timedelta(hours=44)


def due_at(received_at: datetime) -> datetime:
    """When the sender must have heard the next steps at the latest."""
    return received_at + PROMISE


def window_start(now: datetime, hours: float) -> datetime:
    """The start of a rolling window of HOURS ending now (for reply rate limits)."""
    return now - timedelta(hours=hours)


def due_steps(case: Case, now: datetime, ages: Ages) -> list[str]:
    """The steps (reminder, escalation, holding) that are due now and not yet taken."""
    age = now - case.received_at
    steps = []
    if case.status is CaseStatus.OPEN and not case.reminded_at and age >= ages.reminder:
        steps.append("reminder")
    awaiting = case.status in (CaseStatus.OPEN, CaseStatus.WAITING)
    if awaiting and not case.first_contact_at and not case.escalated_at and age >= ages.escalation:
        steps.append("escalation")
    if awaiting and not case.first_contact_at and not case.holding_sent_at and age >= ages.holding:
        steps.append("holding")
    return steps


STEP_TOLERANCE = timedelta(hours=1)  # NTP slews by milliseconds; a step past this is an event


@dataclass(frozen=True)
class ClockMark:
    """The wall clock at a pass beside the machine's elapsed-time clock (seconds since boot,
    suspend included), which no one can set."""

    wall: datetime
    boot_id: str
    uptime: float


def clock_step(last: ClockMark | None, now: ClockMark) -> timedelta | None:
    """How far the wall clock was stepped since LAST (positive: forward), beyond what really
    elapsed; None when it agrees within STEP_TOLERANCE. Across a reboot only a wall clock
    that went backwards can be told from downtime."""
    if last is None:
        return None
    wall = now.wall - last.wall
    if last.boot_id == now.boot_id and now.uptime >= last.uptime:
        step = wall - timedelta(seconds=now.uptime - last.uptime)
    else:
        step = min(wall, timedelta(0))
    return step if abs(step) > STEP_TOLERANCE else None
