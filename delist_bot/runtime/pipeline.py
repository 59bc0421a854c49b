"""One message through route -> handler -> store, in one transaction.

The rules decide (core.rules.route, core.plan.plan, core.cases); the handlers here read the
store, render the mail (compose/) and write back. ROUTES names each route's handler, in one place.
The two writes that share the outbox and budget rules live here too: `apply_decision` (a
reviewer's decision, also from `cases decide`) and `deadline_pass` (the due steps of
core.sla.STEPS, for runtime/deadlines.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from delist_bot import failpoints
from delist_bot.compose import notice_mail
from delist_bot.core import budget, cases, policy, review, sla
from delist_bot.core.cases import Notice
from delist_bot.core.evidence import Evidence
from delist_bot.core.models import (
    TEAM_MAIL,
    Action,
    Audience,
    Case,
    CaseStatus,
    Extraction,
    MailKind,
    MessageRecord,
    Outcome,
    OutgoingMail,
)
from delist_bot.core.plan import Plan, RequestFacts, plan
from delist_bot.core.rules import Route, automatic_reason, route, speaks_for
from delist_bot.core.settings import Settings, budget_limits
from delist_bot.ndr import extract
from delist_bot.runtime.ids import fresh_ids
from delist_bot.store import Transaction

__all__ = [
    "ROUTES",
    "Processed",
    "answer",
    "apply_decision",
    "deadline_pass",
    "process",
]
SENDER_DECISIONS = (MailKind.DELISTED, MailKind.DENIED, MailKind.INFO_REQUEST)
MAX_HISTORY = 1000  # cases of a network the policy reads (the newest)


@dataclass(frozen=True)
class Incoming:
    """One message on its way to its handler, with everything the handler needs but the store."""

    extraction: Extraction
    raw: bytes
    named: Case | None  # the case its subject tag or threading headers name
    now: datetime
    settings: Settings
    received: datetime  # when the server took it (never after now): a new case's clock starts
    evidence: Evidence | None = None  # the lookups about its IP, for a new case


@dataclass(frozen=True)
class Handled:
    """What a handler did with a message: the fields of the message's record."""

    action: str | None
    outcome: Outcome
    reason: str = ""
    case_id: str | None = None
    replies: tuple[str, ...] = ()  # the kinds of mail queued
    reply_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Processed:
    """What happened to one message, for logs and the demo's printout."""

    uid: str
    key: str
    sender: str | None
    action: str | None
    outcome: Outcome
    reason: str = ""
    case_id: str | None = None
    replies: tuple[str, ...] = field(default_factory=tuple)  # the kinds of mail queued
    reply_ids: tuple[str, ...] = field(default_factory=tuple)
    folder: str = ""


Handler = Callable[[Transaction, Incoming], Handled]


@dataclass(frozen=True)
class RouteEntry:
    """A route's handler and what it does, in one line (like a Mailman chain's description)."""

    handler: Handler
    description: str


def message_key(extraction: Extraction, raw: bytes) -> str:
    if extraction.message_id:
        return "mid:" + extraction.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def process(
    tx: Transaction,
    uid: str,
    raw: bytes,
    now: datetime,
    settings: Settings,
    *,
    extraction: Extraction | None = None,
    arrived_at: datetime | None = None,
    evidence: Evidence | None = None,
) -> Processed:
    """Record one message and everything it causes, inside the caller's transaction.
    EXTRACTION is read before the transaction (so a slow message never holds the store lock),
    and so is EVIDENCE (the lookups about its IP, for a new case);
    ARRIVED_AT is the server's delivery time, where a case's clock starts (never after now)."""
    extraction = extraction if extraction is not None else extract(raw)
    received = min(arrived_at or now, now)
    key = message_key(extraction, raw)
    if tx.messages.seen(key):
        why = "this Message-ID was handled before"
        return Processed(uid, key, extraction.sender, None, Outcome.DUPLICATE_DELIVERY, why)
    named = _case_named_by(tx, extraction)
    incoming = Incoming(extraction, raw, named, now, settings, received, evidence)
    chosen = route(extraction, named, settings.own_addresses, settings.reviewers)
    done = ROUTES[chosen].handler(tx, incoming)
    result = Processed(
        uid,
        key,
        extraction.sender,
        done.action,
        done.outcome,
        done.reason,
        done.case_id,
        done.replies,
        done.reply_ids,
    )
    tx.messages.record(
        MessageRecord(
            key=key,
            uid=uid,
            message_id=extraction.message_id,
            sender=extraction.sender,
            subject=extraction.subject,
            received_at=received,
            action=result.action,
            outcome=result.outcome.value,
            reason=result.reason,
            case_id=result.case_id,
            ndr_code=extraction.ndr_code,
            ip=extraction.ip,
            language=extraction.language,
        )
    )
    return result


def _handled(
    action: str | None,
    outcome: Outcome,
    reason: str,
    case: Case | None,
    mails: tuple[OutgoingMail, ...] = (),
) -> Handled:
    return Handled(
        action,
        outcome,
        reason,
        case.id if case else None,
        tuple(m.kind for m in mails),
        tuple(m.id for m in mails),
    )


def _noted(reason: str, extraction: Extraction) -> str:
    """REASON with the extractor's notes (an image not read, and why)."""
    return "; ".join(filter(None, (reason, *extraction.notes)))


def _case_named_by(tx: Transaction, extraction: Extraction) -> Case | None:
    """The case the subject tag or the threading headers name: the sender's own, where one of
    them is, else the first named (which makes no follow-up: see rules.route)."""
    tagged = review.case_tag(extraction.subject)
    named = [
        tx.cases.get(tagged) if tagged else None,
        tx.cases.for_messages((extraction.in_reply_to or "", *extraction.references)),
    ]
    found = [case for case in named if case is not None]
    return next((c for c in found if speaks_for(extraction, c)), found[0] if found else None)


def _quarantine(_tx: Transaction, m: Incoming) -> Handled:
    return _handled(None, Outcome.QUARANTINED, _noted(m.extraction.error or "", m.extraction), None)


def _ignore(_tx: Transaction, m: Incoming) -> Handled:
    reason = automatic_reason(m.extraction, m.settings.own_addresses) or ""
    return _handled(Action.IGNORE.value, Outcome.IGNORED, _noted(reason, m.extraction), None)


def _request(tx: Transaction, m: Incoming) -> Handled:
    """A new request; also a message naming a case whose requester is someone else: it is
    answered as its own sender's request, on its own budget, and told nothing of that case."""
    extraction, now, settings = m.extraction, m.now, m.settings
    decided = plan(extraction, _request_facts(tx, m), now, settings, m.received, m.evidence)
    case, mails = answer(extraction, decided, settings, now)
    if decided.delist and case is not None:
        network = tx.blocklist.record_delisting(case.ip, now, case.id)
        text = f"removed {network}" if network else "the IP was not listed"
        case = cases.add_event(case, cases.POLICY_ACTOR, "blocklist", text, now)
    if decided.case_is_new:
        tx.cases.next_number()
        mails += _notify_reviewers(tx, case, extraction.own_words, m.raw, now, settings)
    if case is not None:
        tx.cases.save(case)
    _enqueue(tx, mails, now, settings)
    action = decided.action.value if decided.action else None
    reason = decided.reason or (f"names {m.named.id}, not its requester" if m.named else "")
    return _handled(action, decided.outcome, _noted(reason, extraction), case, mails)


def _request_facts(tx: Transaction, m: Incoming) -> RequestFacts:
    """What the store knows that the request's plan needs."""
    extraction, settings = m.extraction, m.settings
    listed = None
    if settings.require_listed and extraction.ip and tx.blocklist.listings():
        listed = tx.blocklist.listing_for(extraction.ip) is not None
    return RequestFacts(
        open_case=tx.cases.open_for_ip(extraction.ip) if extraction.ip else None,
        next_case_number=int(tx.state.get("case_counter", 0)) + 1,
        sent=_sent(tx, extraction.sender, m.now, settings),
        listed=listed,
        history=_history(tx, extraction.ip) if m.evidence and extraction.ip else policy.History(),
    )


def answer(
    extraction: Extraction, decided: Plan, settings: Settings, now: datetime
) -> tuple[Case | None, tuple[OutgoingMail, ...]]:
    """The reply DECIDED calls for, rendered, and its case with the reply on its thread."""
    reply, case = decided.reply, decided.case
    if reply is None:
        return case, ()
    mail = notice_mail.request_reply(extraction, reply, case, settings, now, new_ids=fresh_ids)
    if case is not None:
        case = cases.record_reply(case, mail.message_id, reply.kind, now, extraction.sender)
    return case, (mail,)


def _history(tx: Transaction, ip: str) -> policy.History:
    """Earlier requests for IP, and denials for it or its /24 (/48), for the policy's rules."""
    nearby = tx.cases.near(ip, latest=MAX_HISTORY)
    return policy.History(
        requests=tuple(c.received_at for c in nearby.same_ip),
        denials=tuple(
            c.decided_at
            for c in (*nearby.same_ip, *nearby.same_network)
            if c.status is CaseStatus.DENIED and c.decided_at
        ),
    )


def _notify_reviewers(
    tx: Transaction, case: Case | None, words: str, raw: bytes, now: datetime, settings: Settings
) -> tuple[OutgoingMail, ...]:
    assert case is not None
    failpoints.reach("notify")  # a test holds it: is the store locked while this is written?
    tx.cases.keep_request(case.id, raw)  # whole, even when the notification must be cut to fit
    nearby = tx.cases.near(case.ip, excluding=case.id)
    dossier = notice_mail.build_dossier(
        case, nearby, tx.blocklist.history_for(case.ip), tx.blocklist.listing_for(case.ip)
    )
    mail = notice_mail.review_request(case, words, dossier, raw, settings, now, new_ids=fresh_ids)
    return (mail,) if mail else ()


def _follow_up(tx: Transaction, m: Incoming) -> Handled:
    case, now, settings = m.named, m.now, m.settings
    assert case is not None
    if case.status is CaseStatus.CLOSED:
        return _reopen(tx, m, case)
    decision = cases.follow_up(case, m.extraction, now)
    mails = _render(decision.notices, decision.case, settings, now)
    if decision.case is not case:
        tx.cases.save(decision.case)
    _enqueue(tx, mails, now, settings)
    if not decision.applied:
        relayed = cases.MAX_FOLLOW_UPS_RELAYED
        reason = f"{case.id} has passed on {relayed} follow-ups already; this one is not"
        return _handled(Route.FOLLOW_UP.value, Outcome.NOT_RELAYED, reason, decision.case, mails)
    return _handled(Route.FOLLOW_UP.value, Outcome.ADDED_TO_CASE, "", decision.case, mails)


def _reopen(tx: Transaction, m: Incoming, closed: Case) -> Handled:
    """The requester's reply to a closed case: a new case for the same IP that links to the
    old one, on the requester's budget like any request."""
    extraction, now, settings = m.extraction, m.now, m.settings
    spent = _spent(tx, extraction.sender or closed.requester, now, settings)
    if spent:
        reason = f"reply to closed {closed.id}: {spent}"
        return _handled(Action.REVIEW.value, Outcome.RATE_LIMITED, reason, None)
    case = cases.reopen(closed, tx.cases.next_number(), extraction, now, m.received)
    tx.cases.save(cases.add_event(closed, case.requester, "reopened_as", case.id, now))
    context = {"hours": sla.PROMISE_HOURS}
    ack = notice_mail.sender_mail(
        MailKind.REVIEW, case, "", settings, now, context, new_ids=fresh_ids
    )
    case = cases.record_reply(case, ack.message_id, MailKind.REVIEW, now)
    mails = (ack, *_notify_reviewers(tx, case, extraction.own_words, m.raw, now, settings))
    tx.cases.save(case)
    _enqueue(tx, mails, now, settings)
    reason = f"follow-up on closed {closed.id}"
    return _handled(Action.REVIEW.value, Outcome.REOPENED, reason, case, mails)


def _command(tx: Transaction, m: Incoming) -> Handled:
    extraction, now, settings = m.extraction, m.now, m.settings
    # A reviewer's reply without the token names the case only: refused for want of it.
    reference = review.token_reference(extraction) or (m.named.id if m.named else "", "")
    case = tx.cases.get(reference[0])
    if case is None:
        return _handled(Route.COMMAND.value, Outcome.IGNORED, f"no case {reference[0]}", None)
    reviewer = extraction.from_address or ""
    refused = review.rejection(
        extraction,
        case,
        reference[1],
        settings.secret,
        settings.reviewers,
        now,
        settings.authserv_id,
    )
    if refused:
        tx.cases.save(cases.reject_command(case, refused, reviewer, now))
        return _handled(Route.COMMAND.value, Outcome.REJECTED, refused, case)
    live = review.live_tokens(tx.cases.all(), settings.secret, now)
    team = (settings.sender.address, *settings.own_addresses, *settings.reviewers)
    command = review.parse_command(extraction.reply_text, live, team)
    decision = cases.apply_command(case, command, reviewer, now)
    case, mails = apply_decision(tx, decision, reviewer, now, settings)
    outcome = Outcome.APPLIED if decision.applied else Outcome.NOT_APPLIED
    return _handled(Route.COMMAND.value, outcome, "", case, mails)


# Every route's handler, in the order rules.route tries them.
ROUTES: dict[Route, RouteEntry] = {
    Route.QUARANTINE: RouteEntry(_quarantine, "unreadable or over budget: kept apart, no reply"),
    Route.IGNORE: RouteEntry(_ignore, "automatic, bulk, list or our own mail: recorded, no reply"),
    Route.COMMAND: RouteEntry(_command, "a reviewer's reply: checked, then applied to its case"),
    Route.FOLLOW_UP: RouteEntry(_follow_up, "the requester again: added to the case, or reopens"),
    Route.REQUEST: RouteEntry(_request, "a new request: planned, answered, maybe a new case"),
}


def apply_decision(
    tx: Transaction, decision: cases.Decision, reviewer: str, now: datetime, settings: Settings
) -> tuple[Case, tuple[OutgoingMail, ...]]:
    """Write a reviewer's decision: the block list, the case, and the mail it sends. The
    sender hears a decision or a question whatever their budget (it is the answer they asked
    for, and only a reviewer causes it), and it counts on that budget like any mail."""
    case = decision.case
    if decision.relist:
        single = str(ipaddress.ip_network(case.ip))
        done = tx.blocklist.add(single, f"policy's delisting overturned in {case.id}", now)
        case = cases.add_event(case, reviewer, "blocklist", f"{single}: {done}", now)
    if decision.delist:
        network = tx.blocklist.record_delisting(case.ip, now, case.id)
        case = cases.add_event(
            case,
            reviewer,
            "blocklist",
            f"removed {network}" if network else "the IP was not listed",
            now,
        )
    mails = _render(decision.notices, case, settings, now, reviewer)
    for mail in mails:
        if mail.kind in SENDER_DECISIONS:
            case = cases.record_reply(case, mail.message_id, mail.kind, now)
    tx.cases.save(case)
    _enqueue(tx, mails, now, settings)
    return case, mails


def _render(
    notices: tuple[Notice, ...],
    case: Case,
    settings: Settings,
    now: datetime,
    reviewer: str | None = None,
) -> tuple[OutgoingMail, ...]:
    rendered = (
        notice_mail.render(n, case, settings, now, reviewer, new_ids=fresh_ids) for n in notices
    )
    return tuple(m for m in rendered if m is not None)


def _sent(tx: Transaction, address: str | None, now: datetime, settings: Settings) -> budget.Counts:
    """What went to ADDRESS and its domain within the budget's windows."""
    if not address:
        return budget.Counts()
    return tx.replies.counts(budget.Recipient.of(address), now, budget_limits(settings))


def _spent(tx: Transaction, address: str, now: datetime, settings: Settings) -> str:
    """Why ADDRESS may get no more mail now, or "" when it may."""
    counts, limits = _sent(tx, address, now, settings), budget_limits(settings)
    verdict = budget.check(counts, limits)
    return budget.reason(verdict, counts, limits, budget.Recipient.of(address))


def _enqueue(
    tx: Transaction, mails: tuple[OutgoingMail, ...], now: datetime, settings: Settings
) -> None:
    """Queue MAILS; each one to an outside address counts on that address's budget."""
    limits = budget_limits(settings)
    for mail in mails:
        tx.outbox.enqueue(mail)
        if mail.kind not in TEAM_MAIL:  # mail to our own people: off the budget
            tx.replies.count(budget.Recipient.of(mail.to), now, limits)


def deadline_pass(tx: Transaction, now: datetime, settings: Settings) -> list[tuple[str, str]]:
    """Reminders, escalations and holding replies that are due: sent once, never twice. A
    holding reply waits while its requester's budget is spent (the operators have had the
    escalation), and goes once the budget allows, with a breach if that is past the deadline."""
    done: list[tuple[str, str]] = []
    for case in tx.cases.open():
        before = case
        for step in sla.due_steps(case, now, settings.ages):
            case, taken = _take_step(tx, case, sla.STEP_RULES[step], now, settings)
            if taken:
                done.append((case.id, step))
        if case is not before:
            tx.cases.save(case)
    return done


def _take_step(
    tx: Transaction, case: Case, rule: sla.StepRule, now: datetime, settings: Settings
) -> tuple[Case, bool]:
    """One due step: its mail queued and the case marked; (the case, whether it was taken)."""
    to_requester = rule.audience is Audience.REQUESTER
    if to_requester and (spent := _spent(tx, case.requester, now, settings)):
        return cases.withhold_holding(case, spent, now), False
    notice = Notice(rule.kind, rule.audience)
    mail = notice_mail.render(notice, case, settings, now, new_ids=fresh_ids)
    case = cases.mark(case, rule.step, now)
    if mail is not None:
        if to_requester:
            case = cases.record_reply(case, mail.message_id, rule.kind, now)
        _enqueue(tx, (mail,), now, settings)
    return case, True
