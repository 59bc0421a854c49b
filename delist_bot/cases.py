"""Case transitions as pure functions: (case, what happened, now) -> the new case.

Cases are never mutated; every change appends an Event so the history reads like a ticket.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from delist_bot import sla
from delist_bot.models import Case, CaseStatus, Event, Extraction

CASE_PREFIX = "DL-"


def case_id(number: int) -> str:
    return f"{CASE_PREFIX}{number:06d}"


def open_case(number: int, extraction: Extraction, now: datetime) -> Case:
    """A new review case for a 5.7.511 request with a public IP."""
    assert extraction.ip and extraction.ndr_code and extraction.sender
    return Case(
        id=case_id(number),
        ip=extraction.ip,
        ndr_code=extraction.ndr_code,
        evidence=extraction.evidence or "",
        requester=extraction.sender,
        language=extraction.language,
        subject=extraction.subject or "",
        received_at=now,
        due_at=sla.due_at(now),
        status=CaseStatus.OPEN,
        message_ids=tuple(m for m in (extraction.message_id,) if m),
        events=(Event(now, extraction.sender, "opened", f"request for {extraction.ip}"),),
    )


def join_request(case: Case, extraction: Extraction, now: datetime) -> Case:
    """Another request for an IP that already has an open case: add it, open nothing new."""
    event = Event(
        now, extraction.sender or "unknown", "duplicate_request", f"another request for {case.ip}"
    )
    return _with(case, event, extraction.message_id)


def record_reply(case: Case, message_id: str, kind: str, now: datetime) -> Case:
    """A reply we queued for the case's sender becomes part of its thread and history."""
    return _with(case, Event(now, "delist-bot", f"reply_{kind}"), message_id)


def _with(case: Case, event: Event, message_id: str | None) -> Case:
    ids = case.message_ids + (
        (message_id,) if message_id and message_id not in case.message_ids else ()
    )
    return dataclasses.replace(case, events=(*case.events, event), message_ids=ids)
