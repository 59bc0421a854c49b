"""Deadline arithmetic for the 48-hour promise: pure functions over times passed in.

No clock is read here; callers pass `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from delist_bot.core.models import OPEN_STATUSES, Audience, Case, CaseStatus, MailKind

PROMISE = timedelta(hours=48)
PROMISE_HOURS = int(PROMISE.total_seconds() // 3600)  # as replies state it


class Step(StrEnum):
    """The promise's steps, in the order they fall due (the `kind` of the case event each
    leaves)."""

    REMINDER = "reminder"
    ESCALATION = "escalation"
    HOLDING = "holding"


@dataclass(frozen=True)
class StepRule:
    """One step: when it is due, who hears of it, with which template, and what it marks."""

    step: Step
    hours_key: str  # its [review] configuration key
    default_hours: float
    audience: Audience
    kind: MailKind
    marked: str  # the Case field that records it as taken, so it is never taken twice
    statuses: frozenset[CaseStatus]  # the case statuses it is taken in
    until_contact: bool  # only while the requester has heard nothing


STEPS: tuple[StepRule, ...] = (
    StepRule(
        Step.REMINDER,
        "reminder_hours",
        24,
        Audience.REVIEWERS,
        MailKind.REVIEWER_REMINDER,
        "reminded_at",
        frozenset({CaseStatus.OPEN}),
        until_contact=False,
    ),
    StepRule(
        Step.ESCALATION,
        "escalation_hours",
        40,
        Audience.OPERATORS,
        MailKind.OPERATOR_ESCALATION,
        "escalated_at",
        OPEN_STATUSES,
        until_contact=True,
    ),
    StepRule(
        Step.HOLDING,
        "holding_hours",
        44,
        Audience.REQUESTER,
        MailKind.HOLDING,
        "holding_sent_at",
        OPEN_STATUSES,
        until_contact=True,
    ),
)
STEP_RULES = {rule.step: rule for rule in STEPS}


@dataclass(frozen=True)
class Ages:
    """When, after a request arrived, each of the promise's steps is due."""

    reminder: timedelta = timedelta(hours=STEP_RULES[Step.REMINDER].default_hours)
    escalation: timedelta = timedelta(hours=STEP_RULES[Step.ESCALATION].default_hours)
    holding: timedelta = timedelta(hours=STEP_RULES[Step.HOLDING].default_hours)

    def of(self, step: Step) -> timedelta:
        age: timedelta = getattr(self, step.value)
        return age


def due_at(received_at: datetime) -> datetime:
    """When the sender must have heard the next steps at the latest."""
    return received_at + PROMISE


def is_overdue(case: Case, now: datetime) -> bool:
    """Past the deadline, still awaiting a decision, and the requester has heard nothing."""
    return case.status in OPEN_STATUSES and not case.first_contact_at and now > case.due_at


def window_start(now: datetime, hours: float) -> datetime:
    """The start of a rolling window of HOURS ending now (for reply rate limits)."""
    return now - timedelta(hours=hours)


def due_steps(case: Case, now: datetime, ages: Ages) -> list[Step]:
    """The steps that are due now and not yet taken, in STEPS order."""
    return [rule.step for rule in STEPS if _is_due(rule, case, now - case.received_at, ages)]


def _is_due(rule: StepRule, case: Case, age: timedelta, ages: Ages) -> bool:
    taken = getattr(case, rule.marked) is not None
    contacted = rule.until_contact and case.first_contact_at is not None
    return (
        case.status in rule.statuses and not taken and not contacted and age >= ages.of(rule.step)
    )


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
