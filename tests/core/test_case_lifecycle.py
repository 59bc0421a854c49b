"""Case transitions and the 48-hour steps, over a clock passed in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from delist_bot.core import cases, sla
from delist_bot.core.models import Audience, CaseStatus, Extraction
from delist_bot.core.review import Command

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REQUEST = Extraction(
    message_id="<req@example.org>",
    sender="ann@example.org",
    subject="help",
    ndr_code="5.7.511",
    ip="81.2.69.142",
    evidence="550 5.7.511 ...",
    language="it",
    own_words="please delist",
)
REVIEWER = "rev@delist.example.net"
AGES = sla.Ages()


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def open_case():
    return cases.open_case(1, REQUEST, T0)


def test_a_new_case(open_case) -> None:
    assert open_case.id == "DL-000001" and open_case.status is CaseStatus.OPEN
    assert open_case.due_at == hours(48)
    assert [e.kind for e in open_case.events] == ["opened"]


@pytest.mark.parametrize(
    ("word", "status", "sender_kind", "contacted", "decided", "delist"),
    [
        ("approve", CaseStatus.DELISTED, "delisted", True, True, True),
        ("deny", CaseStatus.DENIED, "denied", True, True, False),
        ("info", CaseStatus.WAITING, "info_request", True, False, False),
        ("close", CaseStatus.CLOSED, None, False, True, False),
        ("note", CaseStatus.OPEN, None, False, False, False),
        ("take", CaseStatus.OPEN, None, False, False, False),
    ],
)
def test_commands(open_case, word, status, sender_kind, contacted, decided, delist) -> None:
    decision = cases.apply_command(open_case, Command(word, "the text"), REVIEWER, hours(3))
    case = decision.case
    assert case.status is status and decision.delist is delist and decision.applied
    assert [n.kind for n in decision.notices if n.audience is Audience.REQUESTER] == (
        [sender_kind] if sender_kind else []
    )
    assert (case.first_contact_at == hours(3)) is contacted
    assert (case.decided_at == hours(3)) is decided
    assert any(e.kind == word and e.actor == REVIEWER and e.text == "the text" for e in case.events)
    assert case.assignee == (REVIEWER if word == "take" else None)


def test_unknown_command_helps_the_reviewer_and_changes_nothing(open_case) -> None:
    decision = cases.apply_command(open_case, Command("aprove", ""), REVIEWER, hours(1))
    assert not decision.applied and decision.case.status is CaseStatus.OPEN
    assert [(n.kind, n.audience) for n in decision.notices] == [
        ("reviewer_help", Audience.REVIEWER)
    ]


def test_a_decided_case_takes_only_notes(open_case) -> None:
    delisted = cases.apply_command(open_case, Command("approve", ""), REVIEWER, hours(1)).case
    again = cases.apply_command(delisted, Command("deny", "no"), REVIEWER, hours(2))
    assert not again.applied and again.case.status is CaseStatus.DELISTED
    assert cases.apply_command(delisted, Command("note", "fine"), REVIEWER, hours(2)).applied


def test_a_follow_up_wakes_a_waiting_case(open_case) -> None:
    waiting = cases.apply_command(
        open_case, Command("info", "what do you send?"), REVIEWER, hours(2)
    ).case
    answer = Extraction(
        message_id="<ans@example.org>", sender="ann@example.org", own_words="newsletters only"
    )
    decision = cases.follow_up(waiting, answer, hours(5))
    assert decision.case.status is CaseStatus.OPEN
    assert "<ans@example.org>" in decision.case.message_ids
    assert [(n.kind, n.text) for n in decision.notices] == [
        ("reviewer_followup", "newsletters only")
    ]


def test_a_rejected_command_is_kept_on_the_case(open_case) -> None:
    case = cases.reject_command(open_case, "not a reviewer", "eve@example.org", hours(1))
    assert case.status is CaseStatus.OPEN
    assert case.events[-1].kind == "rejected_command" and case.events[-1].actor == "eve@example.org"


def test_reopening_a_closed_case_links_it(open_case) -> None:
    closed = cases.apply_command(open_case, Command("close", ""), REVIEWER, hours(1)).case
    new = cases.reopen(
        closed, 2, Extraction(sender="ann@example.org", message_id="<r@x>"), hours(60)
    )
    assert (new.id, new.linked_case, new.ip, new.status) == (
        "DL-000002",
        "DL-000001",
        "81.2.69.142",
        CaseStatus.OPEN,
    )


def run_clock(case, checkpoints):
    """Apply due steps at each checkpoint as the worker would; list what fired when."""
    fired = []
    for at in checkpoints:
        for step in sla.due_steps(case, hours(at), AGES):
            case = cases.mark(case, step, hours(at))
            fired.append((at, step))
    return case, fired


def test_each_step_fires_once_at_its_age(open_case) -> None:
    _, fired = run_clock(open_case, [1, 23.9, 24, 25, 39.9, 40, 41, 43.9, 44, 45, 46, 47.9, 60])
    assert fired == [(24, "reminder"), (40, "escalation"), (44, "holding")]


def test_a_contacted_case_gets_no_holding_reply(open_case) -> None:
    asked = cases.apply_command(open_case, Command("info", "?"), REVIEWER, hours(10)).case
    _, fired = run_clock(asked, [24, 40, 44, 47])
    assert fired == []  # waiting on the sender: no reminder, no escalation, no holding


def test_a_worker_down_past_the_deadline_sends_at_once_and_records_the_breach(open_case) -> None:
    case, fired = run_clock(open_case, [50])
    assert fired == [(50, "reminder"), (50, "escalation"), (50, "holding")]
    assert case.breached_at == hours(50) and case.first_contact_at == hours(50)
    assert any(e.kind == "breach" for e in case.events)


def test_the_holding_reply_in_time_is_no_breach(open_case) -> None:
    case, _ = run_clock(open_case, [44])
    assert case.breached_at is None and case.first_contact_at == hours(44)


def test_a_flood_about_one_ip_leaves_its_case_bounded() -> None:
    # Found by the 10,000-request benchmark: every repeat added an event and a Message-ID, so
    # each later request read and wrote an ever larger case.
    case = cases.open_case(1, REQUEST, T0)
    for n in range(100):
        again = dataclasses.replace(REQUEST, message_id=f"<again-{n}@example.org>")
        case = cases.join_request(case, again, hours(1))
        case = cases.record_reply(case, f"<reply-{n}@delist.example.net>", "duplicate", hours(1))
    kinds = [e.kind for e in case.events]
    assert kinds.count("duplicate_request") == kinds.count("reply_duplicate") == 20
    assert "<again-19@example.org>" in case.message_ids
    assert "<again-20@example.org>" not in case.message_ids
    assert len(case.message_ids) == 41  # the first request and 20 of each
