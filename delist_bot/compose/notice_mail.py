"""Turn a case's Notices into mail: who gets it, how it threads, and what its template sees.

Cases, settings, a clock and an id maker in, OutgoingMail out (templates.py renders).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from delist_bot.compose.context import reply_context
from delist_bot.compose.ids import IdMaker
from delist_bot.compose.replies import build_internal, build_reply
from delist_bot.core.blocklist import BlocklistEntry, neighbourhood
from delist_bot.core.cases import Notice
from delist_bot.core.dates import when
from delist_bot.core.models import (
    Audience,
    Case,
    Extraction,
    MailKind,
    Nearby,
    OutgoingMail,
    Thread,
)
from delist_bot.core.plan import Reply
from delist_bot.core.review import case_token, notification_id, notification_tag
from delist_bot.core.settings import Settings


@dataclass(frozen=True)
class Dossier:
    """What helps a reviewer decide: the IP's history and standing."""

    network: str
    listing: str
    delistings: tuple[str, ...] = ()
    relistings: int = 0
    same_ip: tuple[str, ...] = ()  # the latest few, labelled
    same_ip_total: int = 0
    same_network: tuple[str, ...] = ()
    same_network_total: int = 0


def build_dossier(
    case: Case,
    nearby: Nearby,
    history: list[BlocklistEntry],
    listing: BlocklistEntry | None,
) -> Dossier:
    def label(c: Case) -> str:
        return f"{c.id} ({c.status.value}, {c.received_at:%Y-%m-%d})"

    listed = (
        (
            f"listed as {listing.network} since {listing.added_at.date()}"
            + (f" ({listing.reason})" if listing.reason else "")
        )
        if listing
        else "not listed"
    )
    delistings = tuple(sorted(d.label for e in history for d in e.delistings))
    return Dossier(
        network=neighbourhood(case.ip),
        listing=listed,
        delistings=delistings,
        relistings=sum(e.relistings for e in history),
        same_ip=tuple(label(c) for c in nearby.same_ip),
        same_ip_total=nearby.same_ip_total,
        same_network=tuple(label(c) for c in nearby.same_network),
        same_network_total=nearby.same_network_total,
    )


def request_reply(
    extraction: Extraction,
    reply: Reply,
    case: Case | None,
    settings: Settings,
    now: datetime,
    *,
    new_ids: IdMaker,
) -> OutgoingMail:
    """The reply a request's plan calls for, on the thread the plan chose; what its template
    sees is read from the request (and its case, when it has one)."""
    context = reply_context(extraction, case)
    case_id = case.id if case else None
    return build_reply(
        reply.kind,
        reply.language,
        context,
        reply.thread,
        settings.sender,
        now,
        case_id,
        new_ids=new_ids,
    )


def sender_mail(
    kind: MailKind,
    case: Case,
    text: str,
    settings: Settings,
    now: datetime,
    context: dict[str, Any] | None = None,
    *,
    new_ids: IdMaker,
) -> OutgoingMail:
    """A reply to the case's requester, in their language, threaded on their request."""
    thread = Thread(
        case.requester,
        case.subject,
        case.message_ids[0] if case.message_ids else None,
        case.message_ids[1:],
    )
    values = {
        "ip": case.ip,
        "ndr_code": case.ndr_code,
        "text": text,
        "due_at": when(case.due_at),
        "opened_at": when(case.received_at),
        **(context or {}),
    }
    return build_reply(
        kind, case.language, values, thread, settings.sender, now, case.id, new_ids=new_ids
    )


def review_request(
    case: Case,
    words: str,
    dossier: Dossier,
    request: bytes | None,
    settings: Settings,
    now: datetime,
    *,
    new_ids: IdMaker,
) -> OutgoingMail | None:
    """The notification a reply to which decides the case."""
    if not settings.reviewers:
        return None
    token = case_token(settings.secret, case.id)
    verb = "Delisted by policy, FYI:" if case.decided_by == "policy" else "Review"
    subject = (
        f"{notification_tag(case.id, token)} {verb} {case.ip} ({case.ndr_code}) "
        f"from {case.requester}"
    )
    return build_internal(
        MailKind.REVIEWER_NOTIFICATION,
        list(settings.reviewers),
        subject,
        {"case": case, "words": words, "dossier": dossier},
        settings.sender,
        now,
        case.id,
        message_id=notification_id(case.id, token, settings.sender.domain),
        attachment=request,
        new_ids=new_ids,
    )


def team_mail(
    notice: Notice,
    case: Case,
    settings: Settings,
    now: datetime,
    reviewer: str | None = None,
    *,
    new_ids: IdMaker,
) -> OutgoingMail | None:
    """Reminders, follow-ups and help for reviewers; escalations for operators."""
    token = case_token(settings.secret, case.id)
    recipients = {
        Audience.REVIEWERS: list(settings.reviewers),
        Audience.REVIEWER: [reviewer] if reviewer else [],
        Audience.OPERATORS: list(settings.operators),
    }[notice.audience]
    if not recipients:
        return None
    titles = {
        MailKind.REVIEWER_REMINDER: f"Reminder: {case.ip} is due by {when(case.due_at)}",
        MailKind.REVIEWER_FOLLOWUP: f"The sender wrote again about {case.ip}",
        MailKind.REVIEWER_HELP: "Your reply was not applied",
        MailKind.OPERATOR_ESCALATION: f"Escalation: no decision on {case.ip} yet",
    }
    context = {
        "case": case,
        "words": notice.text,
        "text": notice.text,
        "reviewers": list(settings.reviewers),
        "hours": int(settings.ages.escalation.total_seconds() // 3600),
        "holding_hours": int(settings.ages.holding.total_seconds() // 3600),
    }
    # Operators give no commands: their mail (often a shared queue or ticket system) carries
    # the case tag but never the token, which is for reviewers alone.
    reviewers = notice.audience != Audience.OPERATORS
    return build_internal(
        notice.kind,
        recipients,
        f"{notification_tag(case.id, token) if reviewers else f'[{case.id}]'} {titles[notice.kind]}",
        context,
        settings.sender,
        now,
        case.id,
        references=(notification_id(case.id, token, settings.sender.domain),) if reviewers else (),
        new_ids=new_ids,
    )


def render(
    notice: Notice,
    case: Case,
    settings: Settings,
    now: datetime,
    reviewer: str | None = None,
    *,
    new_ids: IdMaker,
) -> OutgoingMail | None:
    if notice.audience == Audience.REQUESTER:
        return sender_mail(notice.kind, case, notice.text, settings, now, new_ids=new_ids)
    return team_mail(notice, case, settings, now, reviewer, new_ids=new_ids)
