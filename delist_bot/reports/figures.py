"""Queue figures for operators: pure functions over cases, message records, the outbox and a clock.

Every figure has a stable key; renderings (terminal, HTML, CSV, Prometheus) only format them.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from delist_bot.core import review
from delist_bot.core.blocklist import neighbourhood
from delist_bot.core.models import (
    OPEN_STATUSES,
    WAITING_MAIL,
    Action,
    Case,
    CaseStatus,
    MailRecord,
    MailStatus,
    Outcome,
    QuarantineRecord,
)
from delist_bot.core.sla import PROMISE, is_overdue

AGE_BUCKETS = (
    ("0-12h", 0, 12),
    ("12-24h", 12, 24),
    ("24-40h", 24, 40),
    ("40-48h", 40, 48),
    ("over-48h", 48, None),
)
ACTIONS = tuple(a.value for a in Action)  # the `action` of a request record
DECISIONS = tuple(s.value for s in (CaseStatus.DELISTED, CaseStatus.DENIED, CaseStatus.CLOSED))
CLOSEST = 10


@dataclass(frozen=True)
class QueueData:
    """Everything a report reads, loaded by the shell from the store."""

    cases: list[Case]
    messages: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[MailRecord] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)


def hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered) + 0.5) - 1))]
    return {"median": round(statistics.median(ordered), 2), "p90": round(p90, 2)}


def build_report(data: QueueData, now: datetime, since: datetime) -> dict[str, Any]:
    open_cases = [c for c in data.cases if c.status in OPEN_STATUSES]
    recent = [c for c in data.cases if c.received_at >= since]
    requests = [m for m in data.messages if m.get("received_at", "") >= since.isoformat()]
    return {
        "generated_at": now.isoformat(),
        "period": {"since": since.isoformat(), "until": now.isoformat()},
        "open": _open_figures(open_cases, now),
        "closest_to_deadline": _closest(open_cases, now),
        "breaches": _breaches(data.cases, now, since),
        "requests": _requests(requests),
        "cases": _case_figures(recent, data.cases, since),
        "contact": _contact(recent),
        "outbox": _outbox(data.outbox),
        "quarantine": _quarantine(data.quarantine, since),
        "repeats": _repeats(requests),
        "reviewers": _reviewers(data.cases, since),
        "per_day": _per_day(requests, data.cases, since, now),
    }


def _open_figures(open_cases: list[Case], now: datetime) -> dict[str, Any]:
    by_age = dict.fromkeys((name for name, _, _ in AGE_BUCKETS), 0)
    for case in open_cases:
        age = (now - case.received_at).total_seconds() / 3600
        for name, low, high in AGE_BUCKETS:
            if age >= low and (high is None or age < high):
                by_age[name] += 1
    statuses = Counter(c.status.value for c in open_cases)
    return {
        "total": len(open_cases),
        "by_status": {s.value: statuses.get(s.value, 0) for s in sorted(OPEN_STATUSES)},
        "by_age": by_age,
        "oldest_hours": max((hours(now - c.received_at) for c in open_cases), default=None),
    }


def _closest(open_cases: list[Case], now: datetime) -> list[dict[str, Any]]:
    waiting = [c for c in open_cases if not c.first_contact_at]
    ordered = sorted(waiting, key=lambda c: (c.due_at, c.id))[:CLOSEST]
    return [
        {
            "id": c.id,
            "ip": c.ip,
            "status": c.status.value,
            "assignee": c.assignee,
            "due_at": c.due_at.isoformat(),
            "hours_left": hours(c.due_at - now),
        }
        for c in ordered
    ]


def breached(case: Case, now: datetime) -> bool:
    """Missed the promise: contacted late, or still not contacted past the deadline."""
    if case.breached_at is not None:
        return True
    first = case.first_contact_at
    return (first is not None and first > case.due_at) or is_overdue(case, now)


def _breaches(cases: list[Case], now: datetime, since: datetime) -> dict[str, Any]:
    found = sorted(c.id for c in cases if c.received_at >= since - PROMISE and breached(c, now))
    overdue = sorted(c.id for c in cases if is_overdue(c, now))
    return {"count": len(found), "cases": found, "overdue_now": overdue}


def _requests(requests: list[dict[str, Any]]) -> dict[str, Any]:
    actions = Counter(m.get("action") or "unreadable" for m in requests)
    return {
        "total": len(requests),
        # recorded, and nothing more: the sender's (or its domain's) outgoing budget was spent
        "rate_limited": sum(1 for m in requests if m.get("outcome") == Outcome.RATE_LIMITED),
        "by_action": {
            a: actions.get(a, 0) for a in (*ACTIONS, "follow_up", "command", "unreadable")
        },
    }


def _case_figures(recent: list[Case], cases: list[Case], since: datetime) -> dict[str, Any]:
    decided = [c for c in cases if c.decided_at and c.decided_at >= since]
    outcomes = Counter(c.status.value for c in decided)
    return {
        "opened": len(recent),
        "decided": len(decided),
        "outcomes": {
            **{d: outcomes.get(d, 0) for d in DECISIONS},
            "waiting": sum(1 for c in cases if c.status is CaseStatus.WAITING),
        },
        "by_decider": _by_decider(decided),
    }


def _by_decider(decided: list[Case]) -> dict[str, dict[str, Any]]:
    """Decisions a policy rule made and those people made, each with its median hours from
    the request to the decision (a policy's delisting a reviewer overturned counts as people's)."""
    found: dict[str, dict[str, Any]] = {}
    for decider in ("policy", "people"):
        mine = [c for c in decided if (c.decided_by == "policy") == (decider == "policy")]
        spans = [hours(c.decided_at - c.received_at) for c in mine]  # type: ignore[operator]
        found[decider] = {"decisions": len(mine), "median_hours": quantiles(spans)["median"]}
    return found


def _contact(recent: list[Case]) -> dict[str, Any]:
    contacted = [c for c in recent if c.first_contact_at]
    in_time = [c for c in contacted if c.first_contact_at <= c.due_at]  # type: ignore[operator]
    return {
        "cases": len(recent),
        "contacted": len(contacted),
        "within_48h": len(in_time),
        "within_48h_share": round(len(in_time) / len(contacted), 4) if contacted else None,
        "first_contact_hours": quantiles(
            [
                hours(c.first_contact_at - c.received_at)  # type: ignore[operator]
                for c in contacted
            ]
        ),
        "decision_hours": quantiles(
            [
                hours(c.decided_at - c.received_at)  # type: ignore[operator]
                for c in recent
                if c.decided_at
            ]
        ),
    }


def _outbox(outbox: list[MailRecord]) -> dict[str, Any]:
    statuses = Counter(m.status for m in outbox)
    failed = sorted(
        (m for m in outbox if m.status is MailStatus.FAILED), key=lambda m: m.created_at
    )
    return {
        "pending": sum(statuses[s] for s in WAITING_MAIL),
        "failed": statuses[MailStatus.FAILED],
        "sent": statuses[MailStatus.SENT],
        "failures": [
            {"to": m.to, "kind": m.kind, "error": m.last_error, "at": m.created_at.isoformat()}
            for m in failed[-20:]
        ],
    }


def _quarantine(quarantine: list[QuarantineRecord], since: datetime) -> dict[str, Any]:
    recent = [q for q in quarantine if q.at >= since]
    return {
        "count": len(recent),
        "total": len(quarantine),
        "recent": [
            {"uid": q.uid, "reason": q.reason, "at": q.at.isoformat()} for q in recent[-20:]
        ],
    }


def _repeats(requests: list[dict[str, Any]]) -> dict[str, Any]:
    ips = Counter(m["ip"] for m in requests if m.get("ip"))
    networks = Counter(neighbourhood(ip) for ip in ips.elements())
    return {
        "ips": [{"ip": ip, "requests": n} for ip, n in sorted(ips.items(), key=_busiest) if n > 1],
        "networks": [
            {"network": net, "requests": n}
            for net, n in sorted(networks.items(), key=_busiest)
            if n > 1
        ],
    }


def _busiest(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _reviewers(cases: list[Case], since: datetime) -> list[dict[str, Any]]:
    decided: Counter[str] = Counter()
    for case in cases:
        for event in case.events:
            if event.kind in review.DECISION_WORDS and event.at >= since:
                decided[event.actor] += 1
    assigned = Counter(c.assignee for c in cases if c.assignee and c.status in OPEN_STATUSES)
    names = sorted(set(decided) | set(assigned))
    return [
        {"reviewer": n, "assigned_open": assigned.get(n, 0), "decisions": decided.get(n, 0)}
        for n in names
    ]


def _per_day(
    requests: list[dict[str, Any]], cases: list[Case], since: datetime, now: datetime
) -> list[dict[str, Any]]:
    days = [(since + timedelta(days=i)).date() for i in range((now.date() - since.date()).days + 1)]
    incoming = Counter(m["received_at"][:10] for m in requests)
    decisions = Counter(
        c.decided_at.date().isoformat() for c in cases if c.decided_at and c.decided_at >= since
    )
    return [
        {
            "date": d.isoformat(),
            "requests": incoming.get(d.isoformat(), 0),
            "decisions": decisions.get(d.isoformat(), 0),
        }
        for d in days
    ]


def first_contact_points(cases: list[Case], since: datetime) -> list[tuple[str, float]]:
    """(case id, hours to first contact) for the chart against the 48-hour line."""
    return [
        (c.id, hours(c.first_contact_at - c.received_at))
        for c in cases
        if c.received_at >= since and c.first_contact_at
    ]


CSV_COLUMNS = (
    "id",
    "status",
    "ip",
    "ndr_code",
    "requester",
    "language",
    "assignee",
    "received_at",
    "due_at",
    "first_contact_at",
    "decided_at",
    "breached",
    "hours_to_first_contact",
    "hours_to_decision",
    "linked_case",
)


def case_rows(cases: list[Case], now: datetime) -> list[dict[str, Any]]:
    """One row per case, for spreadsheets."""

    def iso(moment: datetime | None) -> str:
        return moment.isoformat() if moment else ""

    def span(moment: datetime | None, case: Case) -> str:
        return f"{hours(moment - case.received_at):.2f}" if moment else ""

    return [
        {
            "id": c.id,
            "status": c.status.value,
            "ip": c.ip,
            "ndr_code": c.ndr_code,
            "requester": c.requester,
            "language": c.language or "",
            "assignee": c.assignee or "",
            "received_at": iso(c.received_at),
            "due_at": iso(c.due_at),
            "first_contact_at": iso(c.first_contact_at),
            "decided_at": iso(c.decided_at),
            "breached": "yes" if breached(c, now) else "no",
            "hours_to_first_contact": span(c.first_contact_at, c),
            "hours_to_decision": span(c.decided_at, c),
            "linked_case": c.linked_case or "",
        }
        for c in sorted(cases, key=lambda c: c.id)
    ]
