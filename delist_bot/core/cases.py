"""Case transitions as pure functions: (case, what happened, now) -> the new case and its mail.

Cases are never mutated; every change appends an Event so the history reads like a ticket.
Mail is returned as Notices (who gets which template) for the pipeline to render.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from delist_bot.core import sla
from delist_bot.core.budget import same_mailbox
from delist_bot.core.models import (
    OPEN_STATUSES,
    Audience,
    Case,
    CaseStatus,
    Event,
    Extraction,
    MailKind,
)
from delist_bot.core.review import Command

CASE_PREFIX = "DL-"
BOT = "delist-bot"
POLICY_ACTOR = "policy"
MAX_DUPLICATES_RECORDED = 20
MAX_FOLLOW_UPS_RELAYED = 20  # a requester's follow-ups a case records and passes on
MAX_REJECTIONS_RECORDED = 20  # forged commands kept on a case; later ones on the message only
# A case tag as we write it, with or without a reviewer token. No quantified part can match
# the same text two ways: linear on any subject.
_CASE_TAG = re.compile(r"\[DL-[0-9]{6}(?:/[0-9a-f]{16})?\]")
_CASE_ID = re.compile(r"DL-[0-9]{6}")


@dataclass(frozen=True)
class Notice:
    """A mail a transition causes: a template kind, who gets it, and free text for it."""

    kind: MailKind
    audience: Audience
    text: str = ""


@dataclass(frozen=True)
class Decision:
    case: Case
    notices: tuple[Notice, ...] = ()
    delist: bool = False  # take the case's IP off the block list
    relist: bool = False  # put it back: a reviewer overturned a policy's delisting
    applied: bool = True  # False when the command was unknown or came too late, or a
    # follow-up came past MAX_FOLLOW_UPS_RELAYED


def case_id(number: int) -> str:
    return f"{CASE_PREFIX}{number:06d}"


def without_case_tags(subject: str) -> str:
    """A subject with every case tag taken out: what we echo to a sender must never name a
    case that is not theirs (their own case's tag is added back when there is one)."""
    return " ".join(_CASE_TAG.sub(" ", subject).split())


def names_no_case(message_id: str) -> bool:
    """False for a Message-ID that names a case (ours carry the case id)."""
    return _CASE_ID.search(message_id) is None


def is_final(case: Case) -> bool:
    return case.status not in OPEN_STATUSES


def too_late(case: Case, word: str) -> str | None:
    """Why a reviewer's WORD comes too late for CASE, else None: a final case takes only a
    note or a take, and a delisting a policy made also a deny (the overturn)."""
    if word in ("note", "take") or (word == "deny" and overturnable(case)) or not is_final(case):
        return None
    return f"{case.id} is already {case.status.value}; only note and take work now"


def open_case(
    number: int,
    extraction: Extraction,
    now: datetime,
    linked: str | None = None,
    received_at: datetime | None = None,
) -> Case:
    """A new review case for a 5.7.511 request with a public IP. Its clock starts when the
    request arrived (RECEIVED_AT, the server's time), not when the worker read it."""
    assert extraction.ip and extraction.ndr_code and extraction.sender
    text = f"request for {extraction.ip}" + (f", reopening {linked}" if linked else "")
    arrived = min(received_at or now, now)
    case = Case(
        id=case_id(number),
        ip=extraction.ip,
        ndr_code=extraction.ndr_code,
        evidence=extraction.evidence or "",
        requester=extraction.sender,
        language=extraction.language,
        subject=without_case_tags(extraction.subject or ""),
        received_at=arrived,
        due_at=sla.due_at(arrived),
        message_ids=tuple(m for m in (extraction.message_id,) if m),
        events=(Event(now, extraction.sender, "opened", text),),
        linked_case=linked,
        source=extraction.source.value if extraction.source else "text",
    )
    return _read_late(case, now)


def _read_late(case: Case, now: datetime) -> Case:
    """A request read after its deadline had passed: the promise was broken while no worker
    read the mailbox, and the case says so from the start."""
    if now <= case.due_at:
        return case
    waited = now - case.received_at
    arrived = case.received_at.isoformat()
    text = f"worker_down: the request arrived {arrived} and was read {waited} later"
    return dataclasses.replace(_with(case, Event(now, BOT, "breach", text), None), breached_at=now)


def reopen(
    old: Case,
    number: int,
    extraction: Extraction,
    now: datetime,
    received_at: datetime | None = None,
) -> Case:
    """A sender's reply to a closed case opens a new case for the same IP, linked to the old."""
    request = dataclasses.replace(
        extraction,
        ip=old.ip,
        ndr_code=old.ndr_code,
        evidence=old.evidence,
        sender=extraction.sender or old.requester,
        language=extraction.language or old.language,
    )
    return open_case(number, request, now, linked=old.id, received_at=received_at)


def join_request(case: Case, extraction: Extraction, now: datetime) -> Case:
    """Another request for an IP that already has an open case: add it, open nothing new.
    Past MAX_DUPLICATES_RECORDED the case stays as it is: a flood about one IP must not make
    its case (and every write of it) grow without end."""
    if _recorded(case, "duplicate_request") >= MAX_DUPLICATES_RECORDED:
        return case
    event = Event(
        now, extraction.sender or "unknown", "duplicate_request", f"another request for {case.ip}"
    )
    # Another person's Message-ID is not the requester's thread: our replies to the requester
    # refer to every id the case holds, and a Message-ID can name its writer's host.
    own = same_mailbox(extraction.sender, case.requester)
    return _with(case, event, extraction.message_id if own else None)


def follow_up(case: Case, extraction: Extraction, now: datetime) -> Decision:
    """The requester wrote again on a case: record it, wake it up, tell the reviewers. Past
    MAX_FOLLOW_UPS_RELAYED it only wakes a case that waits on them (once per question asked):
    a requester's flood must not grow the case or the reviewers' inbox without end."""
    relayed = _recorded(case, "follow_up") < MAX_FOLLOW_UPS_RELAYED
    updated = case
    if relayed:
        event = Event(now, extraction.sender or "unknown", "follow_up", extraction.own_words[:2000])
        updated = _with(case, event, extraction.message_id)
    if updated.status is CaseStatus.WAITING:
        updated = _status(updated, CaseStatus.OPEN, now, BOT, "the sender answered")
    if not relayed:
        return Decision(updated, applied=False)
    return Decision(
        updated, (Notice(MailKind.REVIEWER_FOLLOWUP, Audience.REVIEWERS, extraction.own_words),)
    )


def record_reply(
    case: Case, message_id: str | None, kind: MailKind, now: datetime, to: str | None = None
) -> Case:
    """A reply we queued for the case's sender becomes part of its thread and history (the
    replies to duplicates up to MAX_DUPLICATES_RECORDED; later ones carry the case tag). A
    reply TO someone else (another person's duplicate) is history only, not the thread."""
    if kind == MailKind.DUPLICATE and _recorded(case, "reply_duplicate") >= MAX_DUPLICATES_RECORDED:
        return case
    thread = to is None or same_mailbox(to, case.requester)
    return _with(case, Event(now, BOT, f"reply_{kind}"), message_id if thread else None)


def apply_command(case: Case, command: Command, reviewer: str, now: datetime) -> Decision:
    """A reviewer's accepted command: the new case and who hears about it."""
    word, text = command.word, command.message
    note = Event(now, reviewer, word, text)
    if word == "note":
        return Decision(_with(case, note, None))
    if word == "take":
        return Decision(dataclasses.replace(_with(case, note, None), assignee=reviewer))
    if word == "deny" and overturnable(case):
        return _overturn(case, note, now)
    if (late := too_late(case, word)) is not None:
        return Decision(
            _with(case, Event(now, reviewer, "ignored_command", f"{word}: {late}"), None),
            (Notice(MailKind.REVIEWER_HELP, Audience.REVIEWER, late),),
            applied=False,
        )
    if word == "approve":
        decided = _decide(_with(case, note, None), CaseStatus.DELISTED, now)
        return Decision(
            decided, (Notice(MailKind.DELISTED, Audience.REQUESTER, text),), delist=True
        )
    if word == "deny":
        return Decision(
            _decide(_with(case, note, None), CaseStatus.DENIED, now),
            (Notice(MailKind.DENIED, Audience.REQUESTER, text),),
        )
    if word == "info":
        waiting = _contacted(
            _status(_with(case, note, None), CaseStatus.WAITING, now, reviewer), now
        )
        return Decision(waiting, (Notice(MailKind.INFO_REQUEST, Audience.REQUESTER, text),))
    if word == "close":
        return Decision(_decide(_with(case, note, None), CaseStatus.CLOSED, now, contact=False))
    unknown = f"unknown command {word!r}" if word else "the first line holds no command"
    return Decision(
        _with(case, Event(now, reviewer, "ignored_command", unknown), None),
        (Notice(MailKind.REVIEWER_HELP, Audience.REVIEWER, unknown),),
        applied=False,
    )


def with_evidence(case: Case, findings: dict[str, Any], suggestion: dict[str, Any] | None) -> Case:
    """The evidence gathered when the case opened, and what the policy suggests."""
    return dataclasses.replace(case, findings=findings, suggestion=suggestion)


def approve_by_policy(case: Case, rule: str, now: datetime) -> Decision:
    """A policy rule approved the request as it opened: delisted at once, the requester told."""
    noted = _with(case, Event(now, POLICY_ACTOR, "approve", f"policy rule {rule}"), None)
    decided = dataclasses.replace(
        _decide(noted, CaseStatus.DELISTED, now), decided_by="policy", policy_rule=rule
    )
    return Decision(decided, (Notice(MailKind.DELISTED, Audience.REQUESTER),), delist=True)


def overturnable(case: Case) -> bool:
    """A delisting a policy rule made stays open to a reviewer's deny."""
    return case.status is CaseStatus.DELISTED and case.decided_by == "policy"


def _overturn(case: Case, note: Event, now: datetime) -> Decision:
    overturned = _status(_with(case, note, None), CaseStatus.DENIED, now, BOT, "overturned")
    decided = dataclasses.replace(overturned, decided_at=now, decided_by=None)
    relist = any(e.kind == "blocklist" and e.text.startswith("removed") for e in case.events)
    return Decision(
        decided, (Notice(MailKind.DENIED, Audience.REQUESTER, note.text),), relist=relist
    )


def add_event(case: Case, actor: str, kind: str, text: str, now: datetime) -> Case:
    return _with(case, Event(now, actor, kind, text), None)


def reject_command(case: Case, reason: str, actor: str, now: datetime) -> Case:
    """A command that failed its checks is kept on the case (the first MAX_REJECTIONS_RECORDED:
    anyone can forge a reviewer's From) and reaches no one."""
    if _recorded(case, "rejected_command") >= MAX_REJECTIONS_RECORDED:
        return case
    return _with(case, Event(now, actor or "unknown", "rejected_command", reason), None)


def mark(case: Case, step: sla.Step, now: datetime) -> Case:
    """Note a reminder, escalation or holding reply as sent (so it is never sent twice)."""
    field = sla.STEP_RULES[step].marked
    updated = dataclasses.replace(_with(case, Event(now, BOT, step.value), None), **{field: now})
    if step is sla.Step.HOLDING:
        updated = _contacted(updated, now)
        if now > case.due_at and case.breached_at is None:  # once: read late is the cause
            late = Event(
                now, BOT, "breach", f"first contact {now - case.due_at} after the deadline"
            )
            updated = dataclasses.replace(_with(updated, late, None), breached_at=now)
    return updated


def withhold_holding(case: Case, reason: str, now: datetime) -> Case:
    """The holding reply is due but its requester's budget is spent: say so on the case, once
    (it is tried again at every pass)."""
    if _recorded(case, "holding_withheld"):
        return case
    return _with(case, Event(now, BOT, "holding_withheld", reason), None)


def _decide(case: Case, status: CaseStatus, now: datetime, contact: bool = True) -> Case:
    decided = dataclasses.replace(_status(case, status, now, BOT), decided_at=now)
    return _contacted(decided, now) if contact else decided


def _contacted(case: Case, now: datetime) -> Case:
    return case if case.first_contact_at else dataclasses.replace(case, first_contact_at=now)


def _status(case: Case, status: CaseStatus, now: datetime, actor: str, why: str = "") -> Case:
    text = f"{case.status.value} -> {status.value}" + (f": {why}" if why else "")
    return dataclasses.replace(_with(case, Event(now, actor, "status", text), None), status=status)


def _recorded(case: Case, kind: str) -> int:
    return sum(1 for event in case.events if event.kind == kind)


def _with(case: Case, event: Event, message_id: str | None) -> Case:
    ids = case.message_ids
    if message_id and message_id not in ids:
        ids = (*ids, message_id)
    return dataclasses.replace(case, events=(*case.events, event), message_ids=ids)
