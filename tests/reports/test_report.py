"""Report figures over a store with known cases, and every rendering of them."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from delist_bot.core import cases, sla
from delist_bot.core.models import Extraction, MailRecord, MailStatus, QuarantineRecord
from delist_bot.core.review import Command
from delist_bot.reports.figures import CSV_COLUMNS, QueueData, build_report, case_rows
from delist_bot.reports.health import Facts, verdict
from delist_bot.reports.views import as_csv, as_json, as_prometheus, plain, sections

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=7)


def request(n: int, ip: str) -> Extraction:
    return Extraction(
        message_id=f"<r{n}@x>",
        sender=f"s{n}@example.org",
        ndr_code="5.7.511",
        ip=ip,
        evidence="550 5.7.511",
        language="en",
    )


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def known_cases() -> list:
    """Six cases whose figures are worked out by hand below."""
    fresh = cases.open_case(1, request(1, "81.2.69.142"), at(5))  # 0-12h, open
    aging = cases.open_case(2, request(2, "81.2.69.143"), at(30))  # 24-40h, open
    overdue = cases.open_case(3, request(3, "198.51.100.9"), at(50))  # over 48h, no contact
    approved = cases.apply_command(
        cases.open_case(4, request(4, "81.2.69.142"), at(100)),
        Command("approve", ""),
        "rev@x",
        at(90),
    ).case  # 10 h
    denied = cases.apply_command(
        cases.open_case(5, request(5, "203.0.113.5"), at(80)), Command("deny", ""), "rev@x", at(60)
    ).case  # 20 h
    asked = cases.apply_command(
        cases.open_case(6, request(6, "203.0.113.6"), at(20)),
        Command("info", "?"),
        "other@x",
        at(10),
    ).case  # waiting, 10 h
    late = cases.mark(
        cases.open_case(7, request(7, "203.0.113.7"), at(70)), sla.Step.HOLDING, at(15)
    )
    return [fresh, aging, overdue, approved, denied, asked, late]


def messages() -> list[dict]:
    rows = [
        ("review", "81.2.69.142", 5),
        ("review", "81.2.69.142", 100),
        ("portal", None, 3),
        ("need_info", None, 1),
        ("ignore", None, 2),
        ("review", "81.2.69.143", 30),
    ]
    return [{"action": a, "ip": ip, "received_at": at(h).isoformat()} for a, ip, h in rows]


@pytest.fixture
def figures() -> dict:
    waiting = MailRecord("m1", "m1", "s", "review", "x", "<1@d>", at(2), at(2))
    outbox = [
        waiting,
        dataclasses.replace(
            waiting,
            id="m2",
            to="bad@x",
            kind="portal",
            status=MailStatus.FAILED,
            last_error="550 5.1.1 no such user",
        ),
    ]
    quarantine = [QuarantineRecord("7", "k7", "message is 20000000 bytes", at(1))]
    return build_report(QueueData(known_cases(), messages(), outbox, quarantine), NOW, SINCE)


def test_open_cases_by_state_and_age(figures: dict) -> None:
    assert figures["open"]["total"] == 5
    assert figures["open"]["by_status"] == {"open": 4, "waiting_on_sender": 1}
    assert figures["open"]["by_age"] == {
        "0-12h": 1,
        "12-24h": 1,
        "24-40h": 1,
        "40-48h": 0,
        "over-48h": 2,
    }
    assert figures["open"]["oldest_hours"] == 70


def test_closest_to_deadline_lists_only_uncontacted_cases_by_due_time(figures: dict) -> None:
    assert [(c["id"], c["hours_left"]) for c in figures["closest_to_deadline"]] == [
        ("DL-000003", -2.0),
        ("DL-000002", 18.0),
        ("DL-000001", 43.0),
    ]


def test_breaches(figures: dict) -> None:
    assert figures["breaches"] == {
        "count": 2,
        "cases": ["DL-000003", "DL-000007"],
        "overdue_now": ["DL-000003"],
    }


def test_contact_and_decision_times(figures: dict) -> None:
    contact = figures["contact"]
    assert (contact["cases"], contact["contacted"], contact["within_48h"]) == (7, 4, 3)
    assert contact["within_48h_share"] == 0.75
    assert contact["first_contact_hours"] == {"median": 15.0, "p90": 55.0}
    assert contact["decision_hours"] == {"median": 15.0, "p90": 20.0}
    assert figures["cases"] == {
        "opened": 7,
        "decided": 2,
        "outcomes": {"delisted": 1, "denied": 1, "closed": 0, "waiting": 1},
        "by_decider": {
            "policy": {"decisions": 0, "median_hours": None},
            "people": {"decisions": 2, "median_hours": 15.0},
        },
    }


def test_requests_repeats_reviewers_outbox(figures: dict) -> None:
    assert figures["requests"]["total"] == 6
    assert figures["requests"]["by_action"]["review"] == 3
    assert figures["repeats"]["ips"] == [{"ip": "81.2.69.142", "requests": 2}]
    assert figures["repeats"]["networks"] == [{"network": "81.2.69.0/24", "requests": 3}]
    assert figures["reviewers"] == [
        {"reviewer": "other@x", "assigned_open": 0, "decisions": 1},
        {"reviewer": "rev@x", "assigned_open": 0, "decisions": 2},
    ]
    assert (figures["outbox"]["pending"], figures["outbox"]["failed"]) == (1, 1)
    assert figures["outbox"]["failures"][0]["error"].startswith("550")
    assert figures["quarantine"]["count"] == 1
    assert len(figures["per_day"]) == 8 and figures["per_day"][-1]["date"] == "2026-11-27"


def test_an_empty_store_is_a_normal_report() -> None:
    empty = build_report(QueueData([]), NOW, SINCE)
    assert empty["open"]["total"] == 0 and empty["contact"]["within_48h_share"] is None
    assert empty["contact"]["first_contact_hours"] == {"median": None, "p90": None}
    assert "Open cases by age" in plain(empty)
    assert "delist_bot_open_cases" in as_prometheus(empty)


def test_json_is_the_figures(figures: dict) -> None:
    assert json.loads(as_json(figures)) == figures


def test_csv_has_one_row_per_case() -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(case_rows(known_cases(), NOW), CSV_COLUMNS))))
    assert [r["id"] for r in rows] == [f"DL-00000{n}" for n in range(1, 8)]
    assert rows[3]["status"] == "delisted" and rows[3]["hours_to_decision"] == "10.00"
    assert [r["breached"] for r in rows] == ["no", "no", "yes", "no", "no", "no", "yes"]


def test_prometheus_text_format(figures: dict) -> None:
    text = as_prometheus(figures)
    sample = re.compile(r'^delist_bot_\w+(\{\w+="[^"]*"\})? -?[0-9.]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert 'delist_bot_open_cases{status="open"} 4' in text
    assert "delist_bot_contact_within_48h_ratio 0.75" in text


def test_every_section_renders_as_text(figures: dict) -> None:
    text = plain(figures)
    for section in sections(figures):
        assert section.title in text
    assert "550 5.1.1 no such user" in text


def test_health_verdict() -> None:
    base = dict(
        now=NOW,
        poll_interval=timedelta(minutes=1),
        last_poll=NOW - timedelta(minutes=2),
        mailbox_error=None,
        smtp_error=None,
        worker_running=True,
        pending=0,
        failed=0,
        oldest_open_hours=3.0,
        overdue=0,
    )
    assert verdict(Facts(**base))[1] == []
    stale = verdict(Facts(**{**base, "last_poll": NOW - timedelta(minutes=4)}))[1]
    assert stale == ["last successful poll 4 min ago (more than 3 intervals)"]
    assert verdict(Facts(**{**base, "last_poll": None}))[1] == ["the mailbox has never been polled"]
    assert verdict(Facts(**{**base, "smtp_error": "refused"}))[1] == ["SMTP cannot send: refused"]
    assert verdict(Facts(**{**base, "overdue": 2}))[1][0].startswith("2 case(s) past")
