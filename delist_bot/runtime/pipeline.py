"""One message through parse -> rules -> cases -> store, in one transaction.

`plan` is pure (facts in, decisions out); the handlers read facts from the store and write back.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from delist_bot import failpoints
from delist_bot.compose import notice_mail
from delist_bot.compose.notice_mail import Settings
from delist_bot.compose.replies import Thread, build_reply, when
from delist_bot.core import authentication, budget, cases, policy, review, sla
from delist_bot.core.cases import Notice
from delist_bot.core.evidence import Evidence
from delist_bot.core.ip import is_public
from delist_bot.core.models import (
    Action,
    Case,
    CaseStatus,
    Extraction,
    MessageRecord,
    OutgoingMail,
    Source,
)
from delist_bot.core.rules import Route, automatic_reason, request_action, route, speaks_for
from delist_bot.ndr import codes, extract
from delist_bot.store import Transaction

__all__ = ["Facts", "Plan", "Processed", "Settings", "apply_decision", "plan", "process"]
SENDER_DECISIONS = ("delisted", "denied", "info_request")
MAX_HISTORY = 1000  # cases of a network the policy reads (the newest)
TEAM_KINDS = ("reviewer_", "operator_", "digest")  # mail to our own people: off the budget


@dataclass(frozen=True)
class Facts:
    """What the store knows that a new request's decision needs."""

    open_case: Case | None
    next_case_number: int
    sent: budget.Counts = field(default_factory=budget.Counts)  # to the sender, its domain
    listed: bool | None = None  # None: no block list kept
    history: policy.History = field(default_factory=policy.History)  # for the policy's rules


@dataclass(frozen=True)
class Plan:
    action: Action | None
    outcome: str  # replied, rate_limited, ignored, quarantined, not_listed
    reason: str = ""
    case: Case | None = None
    case_is_new: bool = False
    mails: tuple[OutgoingMail, ...] = ()
    delist: bool = False  # a policy rule approved the new case: its IP leaves the block list


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
    replies: tuple[str, ...] = field(default_factory=tuple)  # the kinds of mail queued
    reply_ids: tuple[str, ...] = field(default_factory=tuple)
    folder: str = ""


def message_key(extraction: Extraction, raw: bytes) -> str:
    if extraction.message_id:
        return "mid:" + extraction.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def budget_limits(settings: Settings) -> budget.Limits:
    return budget.Limits(
        per_recipient=settings.replies_per_sender,
        window=timedelta(hours=settings.reply_window_hours),
        per_domain=settings.replies_per_domain,
    )


def plan(
    extraction: Extraction,
    facts: Facts,
    now: datetime,
    settings: Settings,
    received_at: datetime | None = None,
    evidence: Evidence | None = None,
) -> Plan:
    """Decide what one new request gets. Pure. A request whose sender's budget is spent is
    only recorded: no case, no join, no reviewer, no reply, so no holding reply later. A new
    case carries its EVIDENCE and the policy's suggestion; in auto mode an approval is final."""
    if extraction.error:
        return Plan(None, "quarantined", extraction.error)
    action = request_action(extraction, settings.own_addresses)
    if action is Action.IGNORE:
        return Plan(action, "ignored", automatic_reason(extraction, settings.own_addresses) or "")
    if not extraction.sender:
        return Plan(action, "quarantined", "no sender address to reply to")
    assert action is not None
    limits = budget_limits(settings)
    spent = budget.check(facts.sent, limits)
    if spent is not budget.Verdict.SEND:
        recipient = budget.Recipient.of(extraction.sender)
        return Plan(action, "rate_limited", budget.reason(spent, facts.sent, limits, recipient))
    case, is_new, kind = None, False, action.value
    if action is Action.REVIEW and facts.listed is False:
        kind = "not_listed"
    elif action is Action.REVIEW:
        if facts.open_case is not None:
            case, kind = cases.join_request(facts.open_case, extraction, now), "duplicate"
        else:
            number = facts.next_case_number
            case, is_new = cases.open_case(number, extraction, now, received_at=received_at), True
            case, kind = _judge(case, extraction, evidence, facts.history, now, settings)
    # A reply to someone the message's author named (Reply-To, Resent-From) threads on that one
    # message only: the author's References are up to 20 Message-IDs of text of their choosing.
    own = budget.same_mailbox(extraction.sender, extraction.from_address)
    thread = Thread(
        extraction.sender,
        cases.without_case_tags(extraction.subject or ""),
        extraction.message_id,
        tuple(filter(cases.names_no_case, extraction.references)) if own else (),
    )
    mail = build_reply(
        kind,
        extraction.language,
        reply_context(extraction, case),
        thread,
        settings.sender,
        now,
        case.id if case else None,
    )
    if case is not None:
        case = cases.record_reply(case, mail.message_id, kind, now, extraction.sender)
    outcome = {"not_listed": "not_listed", "delisted": "delisted_by_policy"}.get(kind, "replied")
    return Plan(action, outcome, "", case, is_new, (mail,), delist=kind == "delisted")


def _judge(
    case: Case,
    extraction: Extraction,
    evidence: Evidence | None,
    history: policy.History,
    now: datetime,
    settings: Settings,
) -> tuple[Case, str]:
    """The new case with its evidence and suggestion, and the reply its requester gets."""
    if evidence is None or settings.policy_mode == policy.Mode.OFF:
        return case, Action.REVIEW.value
    read_by_ocr = extraction.source is Source.OCR
    vouched = bool(settings.authserv_id) and authentication.vouches(
        extraction.auth_results, settings.authserv_id, extraction.sender or ""
    )
    suggestion = policy.suggest(evidence, history, now, read_by_ocr, vouched)
    case = cases.with_evidence(case, evidence.to_doc(), suggestion.to_doc())
    if settings.policy_mode == policy.Mode.AUTO and suggestion.action is policy.Suggested.APPROVE:
        assert suggestion.rule is not None
        return cases.approve_by_policy(case, suggestion.rule, now).case, "delisted"
    return case, Action.REVIEW.value


def reply_context(extraction: Extraction, case: Case | None) -> dict[str, Any]:
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
        "text": "",
    }
    if case is not None:
        context.update(due_at=when(case.due_at), opened_at=when(case.received_at))
    return context


def need_info_problem(extraction: Extraction) -> str:
    if not extraction.ndr_code:
        return "no_code"
    if extraction.ip_placeholder:
        return "placeholder"
    if extraction.ip and not is_public(extraction.ip):
        return "not_public"
    return "no_ip"


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
        return Processed(
            uid,
            key,
            extraction.sender,
            None,
            "duplicate_delivery",
            "this Message-ID was handled before",
        )
    known = _case_named_by(tx, extraction)
    handler = {
        Route.COMMAND: _command,
        Route.FOLLOW_UP: _follow_up,
    }.get(route(extraction, known, settings.own_addresses, settings.reviewers), _request)
    if handler is _request:
        result = _request(tx, extraction, raw, known, now, settings, received, evidence)
    else:
        result = handler(tx, extraction, raw, known, now, settings, received)
    result = Processed(uid, key, *result)
    tx.messages.record(
        MessageRecord(
            key=key,
            uid=uid,
            message_id=extraction.message_id,
            sender=extraction.sender,
            subject=extraction.subject,
            received_at=received,
            action=result.action,
            outcome=result.outcome,
            reason=result.reason,
            case_id=result.case_id,
            ndr_code=extraction.ndr_code,
            ip=extraction.ip,
            language=extraction.language,
        )
    )
    return result


Outcome = tuple[str | None, str | None, str, str, str | None, tuple[str, ...], tuple[str, ...]]


def _outcome(
    extraction: Extraction,
    action: str | None,
    outcome: str,
    reason: str,
    case: Case | None,
    mails: tuple[OutgoingMail, ...],
) -> Outcome:
    return (
        extraction.sender,
        action,
        outcome,
        reason,
        case.id if case else None,
        tuple(m.kind for m in mails),
        tuple(m.id for m in mails),
    )


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


def _request(
    tx: Transaction,
    extraction: Extraction,
    raw: bytes,
    named: Case | None,
    now: datetime,
    settings: Settings,
    received: datetime,
    evidence: Evidence | None = None,
) -> Outcome:
    """A new request; also a message naming a case whose requester is someone else: it is
    answered as its own sender's request, on its own budget, and told nothing of that case."""
    listed = None
    if settings.require_listed and extraction.ip and tx.blocklist.listings():
        listed = tx.blocklist.listing_for(extraction.ip) is not None
    open_case = tx.cases.open_for_ip(extraction.ip) if extraction.ip else None
    facts = Facts(
        open_case=open_case,
        next_case_number=int(tx.state.get("case_counter", 0)) + 1,
        sent=_sent(tx, extraction.sender, now, settings),
        listed=listed,
        history=_history(tx, extraction.ip) if evidence and extraction.ip else policy.History(),
    )
    decided = plan(extraction, facts, now, settings, received, evidence)
    mails = decided.mails
    case = decided.case
    if decided.delist and case is not None:
        network = tx.blocklist.record_delisting(case.ip, now, case.id)
        text = f"removed {network}" if network else "the IP was not listed"
        case = cases.add_event(case, cases.POLICY_ACTOR, "blocklist", text, now)
    if decided.case_is_new:
        tx.cases.next_number()
        mails += _notify_reviewers(tx, case, extraction.own_words, raw, now, settings)
    if case is not None:
        tx.cases.save(case)
    _enqueue(tx, mails, now, settings)
    action = decided.action.value if decided.action else None
    reason = decided.reason or (f"names {named.id}, not its requester" if named else "")
    reason = "; ".join(filter(None, (reason, *extraction.notes)))  # an image not read, and why
    return _outcome(extraction, action, decided.outcome, reason, case, mails)


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
    mail = notice_mail.review_request(case, words, dossier, raw, settings, now)
    return (mail,) if mail else ()


def _follow_up(
    tx: Transaction,
    extraction: Extraction,
    raw: bytes,
    case: Case | None,
    now: datetime,
    settings: Settings,
    received: datetime,
) -> Outcome:
    assert case is not None
    if case.status is CaseStatus.CLOSED:
        return _reopen(tx, extraction, raw, case, now, settings, received)
    decision = cases.follow_up(case, extraction, now)
    mails = _render(decision.notices, decision.case, settings, now)
    if decision.case is not case:
        tx.cases.save(decision.case)
    _enqueue(tx, mails, now, settings)
    if not decision.applied:
        relayed = cases.MAX_FOLLOW_UPS_RELAYED
        reason = f"{case.id} has passed on {relayed} follow-ups already; this one is not"
        return _outcome(extraction, "follow_up", "not_relayed", reason, decision.case, mails)
    return _outcome(extraction, "follow_up", "added_to_case", "", decision.case, mails)


def _reopen(
    tx: Transaction,
    extraction: Extraction,
    raw: bytes,
    closed: Case,
    now: datetime,
    settings: Settings,
    received: datetime,
) -> Outcome:
    """The requester's reply to a closed case: a new case for the same IP that links to the
    old one, on the requester's budget like any request."""
    spent = _spent(tx, extraction.sender or closed.requester, now, settings)
    if spent:
        return _outcome(
            extraction, "review", "rate_limited", f"reply to closed {closed.id}: {spent}", None, ()
        )
    case = cases.reopen(closed, tx.cases.next_number(), extraction, now, received)
    tx.cases.save(cases.add_event(closed, case.requester, "reopened_as", case.id, now))
    ack = notice_mail.sender_mail("review", case, "", settings, now, {"hours": 48})
    case = cases.record_reply(case, ack.message_id, "review", now)
    mails = (ack, *_notify_reviewers(tx, case, extraction.own_words, raw, now, settings))
    tx.cases.save(case)
    _enqueue(tx, mails, now, settings)
    return _outcome(
        extraction, "review", "reopened", f"follow-up on closed {closed.id}", case, mails
    )


def _command(
    tx: Transaction,
    extraction: Extraction,
    raw: bytes,
    known: Case | None,
    now: datetime,
    settings: Settings,
    _received: datetime,
) -> Outcome:
    # A reviewer's reply without the token names the case only: refused for want of it.
    reference = review.token_reference(extraction) or (known.id if known else "", "")
    case = tx.cases.get(reference[0])
    if case is None:
        return _outcome(extraction, "command", "ignored", f"no case {reference[0]}", None, ())
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
        return _outcome(extraction, "command", "rejected", refused, case, ())
    live = review.live_tokens(tx.cases.all(), settings.secret, now)
    team = (settings.sender.address, *settings.own_addresses, *settings.reviewers)
    command = review.parse_command(extraction.reply_text, live, team)
    decision = cases.apply_command(case, command, reviewer, now)
    return _apply(tx, extraction, decision, reviewer, now, settings)


def _apply(
    tx: Transaction,
    extraction: Extraction,
    decision: cases.Decision,
    reviewer: str,
    now: datetime,
    settings: Settings,
) -> Outcome:
    case, mails = apply_decision(tx, decision, reviewer, now, settings)
    outcome = "applied" if decision.applied else "not_applied"
    return _outcome(extraction, "command", outcome, "", case, mails)


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
    rendered = (notice_mail.render(n, case, settings, now, reviewer) for n in notices)
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
        if not mail.kind.startswith(TEAM_KINDS):
            tx.replies.count(budget.Recipient.of(mail.to), now, limits)


def deadline_pass(tx: Transaction, now: datetime, settings: Settings) -> list[tuple[str, str]]:
    """Reminders, escalations and holding replies that are due: sent once, never twice. A
    holding reply waits while its requester's budget is spent (the operators have had the
    escalation), and goes once the budget allows, with a breach if that is past the deadline."""
    done = []
    for case in tx.cases.open():
        steps = sla.due_steps(case, now, settings.ages)
        before = case
        for step in steps:
            if step == "holding" and (spent := _spent(tx, case.requester, now, settings)):
                case = cases.withhold_holding(case, spent, now)
                continue
            notice = {
                "reminder": Notice("reviewer_reminder", "reviewers"),
                "escalation": Notice("operator_escalation", "operators"),
                "holding": Notice("holding", "sender"),
            }[step]
            mail = notice_mail.render(notice, case, settings, now)
            case = cases.mark(case, step, now)
            if mail is not None:
                if step == "holding":
                    case = cases.record_reply(case, mail.message_id, "holding", now)
                _enqueue(tx, (mail,), now, settings)
            done.append((case.id, step))
        if case is not before:
            tx.cases.save(case)
    return done
