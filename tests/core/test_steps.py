"""The promise's steps table (core/sla.py): each step's configuration key, audience, template
and mark, when each falls due, and the one `is_overdue`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from delist_bot.compose import templates
from delist_bot.config import ReviewConfig
from delist_bot.core import cases, sla
from delist_bot.core.models import Audience, Case, CaseStatus
from delist_bot.core.sla import STEPS, Step

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CASE = Case(
    id="DL-000001",
    ip="81.2.69.142",
    ndr_code="5.7.511",
    evidence="550 5.7.511 Access denied",
    requester="ann@example.org",
    language="en",
    subject="Undeliverable",
    received_at=T0,
    due_at=sla.due_at(T0),
)
REMINDER, ESCALATION, HOLDING = Step.REMINDER, Step.ESCALATION, Step.HOLDING


def test_every_step_has_one_rule_in_order() -> None:
    assert [rule.step for rule in STEPS] == list(Step)
    assert set(sla.STEP_RULES) == set(Step)


@pytest.mark.parametrize("rule", STEPS, ids=lambda r: r.step.value)
def test_a_steps_key_template_and_mark_exist(rule: sla.StepRule) -> None:
    defaults = ReviewConfig()
    assert getattr(defaults, rule.hours_key) == rule.default_hours  # config and table agree
    assert sla.Ages().of(rule.step) == timedelta(hours=rule.default_hours)
    assert rule.marked in {f.name for f in dataclasses.fields(Case)}
    folder = "replies" if rule.audience is Audience.REQUESTER else "internal"
    assert f"{folder}/{rule.kind}.en.txt" in templates.environment().list_templates()


def test_only_the_holding_reply_goes_to_the_requester() -> None:
    to_requester = [r.step for r in STEPS if r.audience is Audience.REQUESTER]
    assert to_requester == [HOLDING]


@pytest.mark.parametrize(
    ("status", "hours", "contacted", "taken", "due"),
    [
        (CaseStatus.OPEN, 23, False, (), []),
        (CaseStatus.OPEN, 24, False, (), [REMINDER]),
        (CaseStatus.OPEN, 40, False, (), [REMINDER, ESCALATION]),
        (CaseStatus.OPEN, 44, False, (), [REMINDER, ESCALATION, HOLDING]),
        (CaseStatus.OPEN, 44, False, (REMINDER, ESCALATION), [HOLDING]),
        (CaseStatus.OPEN, 44, True, (), [REMINDER]),  # contacted: no escalation, no holding
        (CaseStatus.WAITING, 44, False, (), [ESCALATION, HOLDING]),  # reminders: open only
        (CaseStatus.WAITING, 44, True, (), []),
        (CaseStatus.DELISTED, 50, True, (), []),
        (CaseStatus.CLOSED, 50, False, (), []),
    ],
)
def test_due_steps(
    status: CaseStatus, hours: int, contacted: bool, taken: tuple[Step, ...], due: list[Step]
) -> None:
    now = T0 + timedelta(hours=hours)
    case = dataclasses.replace(CASE, status=status, first_contact_at=now if contacted else None)
    for step in taken:
        case = cases.mark(case, step, now)
    assert sla.due_steps(case, now, sla.Ages()) == due


@pytest.mark.parametrize("rule", STEPS, ids=lambda r: r.step.value)
def test_a_marked_step_is_never_due_again(rule: sla.StepRule) -> None:
    now = T0 + timedelta(hours=47)
    marked = cases.mark(CASE, rule.step, now)
    assert getattr(marked, rule.marked) == now and marked.events[-1].kind == rule.step.value
    assert rule.step not in sla.due_steps(marked, now, sla.Ages())


@pytest.mark.parametrize(
    ("status", "hours", "contacted", "overdue"),
    [
        (CaseStatus.OPEN, 48, False, False),  # at the deadline, not past it
        (CaseStatus.OPEN, 49, False, True),
        (CaseStatus.WAITING, 49, False, True),
        (CaseStatus.OPEN, 49, True, False),
        (CaseStatus.DENIED, 49, False, False),
    ],
)
def test_is_overdue(status: CaseStatus, hours: int, contacted: bool, overdue: bool) -> None:
    now = T0 + timedelta(hours=hours)
    case = dataclasses.replace(CASE, status=status, first_contact_at=T0 if contacted else None)
    assert sla.is_overdue(case, now) is overdue
