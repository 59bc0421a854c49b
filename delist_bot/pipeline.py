"""One message through parse -> rules -> cases -> store, in one transaction.

`plan` is pure (facts in, decisions out); `process` reads the facts and writes the plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from delist_bot import cases, codes, sla
from delist_bot.models import Action, Case, Extraction, OutgoingMail
from delist_bot.ndr import extract
from delist_bot.ndr.ips import is_public
from delist_bot.replies import Sender, Thread, build_reply
from delist_bot.rules import automatic_reason, request_action
from delist_bot.store import Transaction


@dataclass(frozen=True)
class Settings:
    sender: Sender
    own_addresses: tuple[str, ...]
    replies_per_sender: int = 3
    reply_window_hours: int = 24


@dataclass(frozen=True)
class Facts:
    """What the store knows that the decision needs."""

    open_case: Case | None
    next_case_number: int
    recent_replies: int


@dataclass(frozen=True)
class Plan:
    action: Action | None
    outcome: str  # replied, rate_limited, ignored, quarantined
    reason: str = ""
    case: Case | None = None
    case_is_new: bool = False
    mails: tuple[OutgoingMail, ...] = ()


@dataclass(frozen=True)
class Processed:
    """What happened to one message, for logs and the demo's printout."""

    uid: str
    key: str
    sender: str | None
    action: str | None
    outcome: str
    reason: str = ""
    case_id: str | None = None
    replies: tuple[str, ...] = field(default_factory=tuple)  # the kinds of reply queued
    reply_ids: tuple[str, ...] = field(default_factory=tuple)
    folder: str = ""


def message_key(extraction: Extraction, raw: bytes) -> str:
    if extraction.message_id:
        return "mid:" + extraction.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def plan(extraction: Extraction, facts: Facts, now: datetime, settings: Settings) -> Plan:
    """Decide what one request gets. Pure."""
    if extraction.error:
        return Plan(None, "quarantined", extraction.error)
    action = request_action(extraction, settings.own_addresses)
    if action is Action.IGNORE:
        return Plan(action, "ignored", automatic_reason(extraction, settings.own_addresses) or "")
    assert action is not None and extraction.sender
    case, is_new, kind = None, False, action.value
    if action is Action.REVIEW:
        assert extraction.ip
        if facts.open_case is not None:
            case, kind = cases.join_request(facts.open_case, extraction, now), "duplicate"
        else:
            case, is_new = cases.open_case(facts.next_case_number, extraction, now), True
    if facts.recent_replies >= settings.replies_per_sender:
        reason = f"{facts.recent_replies} replies to {extraction.sender} in {settings.reply_window_hours} h"
        return Plan(action, "rate_limited", reason, case, is_new)
    thread = Thread(
        extraction.sender, extraction.subject or "", extraction.message_id, extraction.references
    )
    mail = build_reply(
        kind,
        extraction.language,
        reply_context(kind, extraction, case),
        thread,
        settings.sender,
        now,
        case.id if case else None,
    )
    if case is not None:
        case = cases.record_reply(case, mail.message_id, kind, now)
    return Plan(action, "replied", "", case, is_new, (mail,))


def reply_context(kind: str, extraction: Extraction, case: Case | None) -> dict[str, Any]:
    """The template variables: all of them plain data, none of them template source."""
    info = codes.lookup(extraction.ndr_code)
    context: dict[str, Any] = {
        "ip": extraction.ip,
        "ndr_code": extraction.ndr_code or "",
        "provider_code": extraction.provider_code,
        "hours": int(sla.PROMISE.total_seconds() // 3600),
        "portal_url": codes.PORTAL_URL,
        "consumer_url": codes.CONSUMER_FORM_URL,
        "code_meaning": info.meaning if info else "",
        "code_advice": info.advice if info else "",
        "problem": need_info_problem(extraction),
    }
    if case is not None:
        context.update(due_at=_when(case.due_at), opened_at=_when(case.received_at))
    return context


def need_info_problem(extraction: Extraction) -> str:
    if not extraction.ndr_code:
        return "no_code"
    if extraction.ip_placeholder:
        return "placeholder"
    if extraction.ip and not is_public(extraction.ip):
        return "not_public"
    return "no_ip"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def process(tx: Transaction, uid: str, raw: bytes, now: datetime, settings: Settings) -> Processed:
    """Record one message and everything it causes, inside the caller's transaction."""
    extraction = extract(raw)
    key = message_key(extraction, raw)
    if tx.message(key) is not None:
        return Processed(
            uid,
            key,
            extraction.sender,
            None,
            "duplicate_delivery",
            "this Message-ID was handled before",
        )
    facts = Facts(
        open_case=tx.open_case_for_ip(extraction.ip) if extraction.ip else None,
        next_case_number=int(tx.get_state("case_counter", 0)) + 1,
        recent_replies=tx.replies_since(
            extraction.sender, sla.window_start(now, settings.reply_window_hours)
        )
        if extraction.sender
        else 0,
    )
    decided = plan(extraction, facts, now, settings)
    write_plan(tx, decided, extraction, now, settings)
    record = _record(uid, key, extraction, decided, now)
    tx.record_message(record)
    return Processed(
        uid,
        key,
        extraction.sender,
        record["action"],
        decided.outcome,
        decided.reason,
        record["case_id"],
        tuple(m.kind for m in decided.mails),
        tuple(m.id for m in decided.mails),
    )


def write_plan(
    tx: Transaction, decided: Plan, extraction: Extraction, now: datetime, settings: Settings
) -> None:
    if decided.case_is_new:
        tx.next_case_number()
    if decided.case is not None:
        tx.save_case(decided.case)
    for mail in decided.mails:
        tx.enqueue(mail)
        tx.count_reply(mail.to, now, sla.window_start(now, settings.reply_window_hours))


def _record(
    uid: str, key: str, extraction: Extraction, decided: Plan, now: datetime
) -> dict[str, Any]:
    return {
        "key": key,
        "uid": uid,
        "message_id": extraction.message_id,
        "sender": extraction.sender,
        "subject": extraction.subject,
        "received_at": now.isoformat(),
        "action": decided.action.value if decided.action else None,
        "outcome": decided.outcome,
        "reason": decided.reason,
        "case_id": decided.case.id if decided.case else None,
        "ndr_code": extraction.ndr_code,
        "ip": extraction.ip,
        "language": extraction.language,
    }
