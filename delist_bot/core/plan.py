"""What a new request gets: pure, over the extraction, facts the shell read, and `now`.

It decides the action, the case and the reply's kind and thread; the shell renders and stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from delist_bot.core import authentication, budget, cases, policy
from delist_bot.core.evidence import Evidence
from delist_bot.core.models import Action, Case, Extraction, MailKind, Outcome, Source, Thread
from delist_bot.core.rules import automatic_reason, request_action
from delist_bot.core.settings import Settings, budget_limits

# The outcome of a request by the kind of its reply; any other kind is a plain reply.
OUTCOME_BY_KIND = {
    MailKind.NOT_LISTED: Outcome.NOT_LISTED,
    MailKind.DELISTED: Outcome.DELISTED_BY_POLICY,
}


@dataclass(frozen=True)
class RequestFacts:
    """What the store knows that a new request's decision needs."""

    open_case: Case | None
    next_case_number: int
    sent: budget.Counts = field(default_factory=budget.Counts)  # to the sender, its domain
    listed: bool | None = None  # None: no block list kept
    history: policy.History = field(default_factory=policy.History)  # for the policy's rules


@dataclass(frozen=True)
class Reply:
    """The reply a request gets: its template kind, language and thread."""

    kind: MailKind
    language: str | None
    thread: Thread


@dataclass(frozen=True)
class Plan:
    action: Action | None
    outcome: Outcome
    reason: str = ""
    case: Case | None = None
    case_is_new: bool = False
    reply: Reply | None = None
    delist: bool = False  # a policy rule approved the new case: its IP leaves the block list


def plan(
    extraction: Extraction,
    facts: RequestFacts,
    now: datetime,
    settings: Settings,
    received_at: datetime | None = None,
    evidence: Evidence | None = None,
) -> Plan:
    """Decide what one new request gets. A request whose sender's budget is spent is only
    recorded: no case, no join, no reviewer, no reply, so no holding reply later. A new
    case carries its EVIDENCE and the policy's suggestion; in auto mode an approval is final."""
    if extraction.error:
        return Plan(None, Outcome.QUARANTINED, extraction.error)
    action = request_action(extraction, settings.own_addresses)
    if action is Action.IGNORE:
        reason = automatic_reason(extraction, settings.own_addresses) or ""
        return Plan(action, Outcome.IGNORED, reason)
    if not extraction.sender:
        return Plan(action, Outcome.QUARANTINED, "no sender address to reply to")
    assert action is not None
    limits = budget_limits(settings)
    spent = budget.check(facts.sent, limits)
    if spent is not budget.Verdict.SEND:
        recipient = budget.Recipient.of(extraction.sender)
        reason = budget.reason(spent, facts.sent, limits, recipient)
        return Plan(action, Outcome.RATE_LIMITED, reason)
    case, is_new, kind = None, False, MailKind(action.value)
    if action is Action.REVIEW and facts.listed is False:
        kind = MailKind.NOT_LISTED
    elif action is Action.REVIEW:
        if facts.open_case is not None:
            case, kind = cases.join_request(facts.open_case, extraction, now), MailKind.DUPLICATE
        else:
            number = facts.next_case_number
            case, is_new = cases.open_case(number, extraction, now, received_at=received_at), True
            case, kind = _judge(case, extraction, evidence, facts.history, now, settings)
    reply = Reply(kind, extraction.language, reply_thread(extraction))
    outcome = OUTCOME_BY_KIND.get(kind, Outcome.REPLIED)
    return Plan(action, outcome, "", case, is_new, reply, delist=kind is MailKind.DELISTED)


def reply_thread(extraction: Extraction) -> Thread:
    """A reply to someone the message's author named (Reply-To, Resent-From) threads on that
    one message only: the author's References are up to 20 Message-IDs of text of their
    choosing. The subject names no case (the requester's own tag is added back)."""
    assert extraction.sender
    own = budget.same_mailbox(extraction.sender, extraction.from_address)
    return Thread(
        extraction.sender,
        cases.without_case_tags(extraction.subject or ""),
        extraction.message_id,
        tuple(filter(cases.names_no_case, extraction.references)) if own else (),
    )


def _judge(
    case: Case,
    extraction: Extraction,
    evidence: Evidence | None,
    history: policy.History,
    now: datetime,
    settings: Settings,
) -> tuple[Case, MailKind]:
    """The new case with its evidence and suggestion, and the reply its requester gets."""
    if evidence is None or settings.policy_mode == policy.Mode.OFF:
        return case, MailKind.REVIEW
    read_by_ocr = extraction.source is Source.OCR
    vouched = bool(settings.authserv_id) and authentication.vouches(
        extraction.auth_results, settings.authserv_id, extraction.sender or ""
    )
    suggestion = policy.suggest(evidence, history, now, read_by_ocr, vouched)
    case = cases.with_evidence(case, evidence.to_doc(), suggestion.to_doc())
    if settings.policy_mode == policy.Mode.AUTO and suggestion.action is policy.Suggested.APPROVE:
        assert suggestion.rule is not None
        return cases.approve_by_policy(case, suggestion.rule, now).case, MailKind.DELISTED
    return case, MailKind.REVIEW
