"""Plain values passed between the pure core and the shell.

Nothing here does I/O; every type is a frozen dataclass or an enum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What delist@ does with a request (the `action` field of `parse`)."""

    REVIEW = "review"
    PORTAL = "portal"
    CONSUMER = "consumer"
    OTHER = "other"
    NEED_INFO = "need_info"
    IGNORE = "ignore"


class Source(StrEnum):
    """Where a reading came from: OCR readings are never approved without a person's look."""

    TEXT = "text"
    HTML = "html"
    ATTACHMENT = "attachment"
    PDF = "pdf"
    OCR = "ocr"
    MSG = "msg"
    TNEF = "tnef"


class Outcome(StrEnum):
    """What became of one message (the `outcome` of its record: stored and reported)."""

    REPLIED = "replied"  # a new request answered
    NOT_LISTED = "not_listed"  # a 5.7.511 request for an IP the block list does not hold
    DELISTED_BY_POLICY = "delisted_by_policy"  # a policy rule approved the new case
    RATE_LIMITED = "rate_limited"  # recorded only: the sender's budget was spent
    IGNORED = "ignored"  # automatic mail, or a command naming no case
    QUARANTINED = "quarantined"  # unreadable or over budget: kept apart with the reason
    DUPLICATE_DELIVERY = "duplicate_delivery"  # this Message-ID was handled before
    ADDED_TO_CASE = "added_to_case"  # the requester's follow-up
    NOT_RELAYED = "not_relayed"  # a follow-up past the case's limit
    REOPENED = "reopened"  # the requester's reply to a closed case
    REJECTED = "rejected"  # a command that failed its checks
    APPLIED = "applied"  # a reviewer's command
    NOT_APPLIED = "not_applied"  # an unknown command, or one that came too late


class MailKind(StrEnum):
    """What a mail the bot sends is: its template's name and its X-Delist-Bot-Action header.
    The outbox stores the value and the mail carries it, so a value never changes."""

    # To a request's sender (templates/replies/<kind>.<language>.txt); the first five are
    # the Actions of the same names.
    REVIEW = "review"
    PORTAL = "portal"
    CONSUMER = "consumer"
    OTHER = "other"
    NEED_INFO = "need_info"
    DUPLICATE = "duplicate"
    NOT_LISTED = "not_listed"
    DELISTED = "delisted"
    DENIED = "denied"
    INFO_REQUEST = "info_request"
    HOLDING = "holding"
    # To the team (templates/internal/<kind>.en.txt, and the digest): off the senders' budget.
    REVIEWER_NOTIFICATION = "reviewer_notification"
    REVIEWER_REMINDER = "reviewer_reminder"
    REVIEWER_FOLLOWUP = "reviewer_followup"
    REVIEWER_HELP = "reviewer_help"
    OPERATOR_ESCALATION = "operator_escalation"
    DIGEST = "digest"


TEAM_MAIL = frozenset(
    {
        MailKind.REVIEWER_NOTIFICATION,
        MailKind.REVIEWER_REMINDER,
        MailKind.REVIEWER_FOLLOWUP,
        MailKind.REVIEWER_HELP,
        MailKind.OPERATOR_ESCALATION,
        MailKind.DIGEST,
    }
)


class Audience(StrEnum):
    """Who a Notice's mail goes to."""

    REQUESTER = "requester"  # the case's requester, in their language
    REVIEWERS = "reviewers"
    REVIEWER = "reviewer"  # the one reviewer whose command it answers
    OPERATORS = "operators"


@dataclass(frozen=True)
class Statement:
    """One reading of an NDR diagnostic: a code, maybe an IP, and the text it came from."""

    ndr_code: str | None
    smtp_code: int | None
    ip: str | None
    evidence: str
    kind: Action | None = None  # the catalogue's action for this code, before IP checks
    provider_code: str | None = None  # Outlook.com's S3150, SC-004, ...
    ip_placeholder: bool = False  # the text shows xxx.xxx.xxx.xxx instead of an address
    from_dsn: bool = False
    order: int = 0
    source: Source = Source.TEXT


@dataclass(frozen=True)
class Extraction:
    """Everything the extractor read from one message; decisions live in rules.py."""

    message_id: str | None = None
    sender: str | None = None  # the requester: Resent-From, else Reply-To, else From
    from_address: str | None = None  # the one address of the one From header (identity.py)
    from_problem: str | None = None  # why there is no from_address: two From headers, a group...
    subject: str | None = None
    ndr_code: str | None = None
    smtp_code: int | None = None
    ip: str | None = None
    evidence: str | None = None
    ndr_kind: Action | None = None
    provider_code: str | None = None
    ip_placeholder: bool = False
    language: str | None = None
    own_words: str = ""
    reply_text: str = ""  # the top-level text with its '>' quote marks: a reviewer's command
    redirected: bool = False
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # Authentication-Results in the trace headers at the top (our server's), for reviewer commands
    auth_results: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # the few that mark automatic mail
    top_type: str = "text/plain"
    size: int = 0
    error: str | None = None  # set when the message was over budget or unreadable
    source: Source | None = None  # where the winning statement was read
    notes: tuple[str, ...] = ()  # one line each: an image not read, an OCR reading in doubt


@dataclass(frozen=True)
class Thread:
    """What a reply answers: the request's subject, ids and requester."""

    to: str
    subject: str
    message_id: str | None
    references: tuple[str, ...] = ()


class CaseStatus(StrEnum):
    OPEN = "open"  # awaiting a reviewer
    WAITING = "waiting_on_sender"  # a reviewer asked the sender for information
    DELISTED = "delisted"
    DENIED = "denied"
    CLOSED = "closed"


OPEN_STATUSES = frozenset({CaseStatus.OPEN, CaseStatus.WAITING})


@dataclass(frozen=True)
class Event:
    """One line of a case's history, like a ticket's."""

    at: datetime
    actor: str
    kind: str
    text: str = ""


@dataclass(frozen=True)
class Case:
    id: str
    ip: str
    ndr_code: str
    evidence: str
    requester: str
    language: str | None
    subject: str
    received_at: datetime
    due_at: datetime
    status: CaseStatus = CaseStatus.OPEN
    message_ids: tuple[str, ...] = ()  # every message of the thread, for follow-ups
    events: tuple[Event, ...] = ()
    first_contact_at: datetime | None = None  # a decision, a question, or the holding reply
    decided_at: datetime | None = None
    assignee: str | None = None
    linked_case: str | None = None  # the closed case this one reopened
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    holding_sent_at: datetime | None = None
    breached_at: datetime | None = None  # the promise was missed (the worker was down)
    # Evidence.to_doc() and Suggestion.to_doc() as gathered when the case opened (plain JSON)
    findings: dict[str, Any] | None = field(default=None, hash=False)
    suggestion: dict[str, Any] | None = field(default=None, hash=False)
    decided_by: str | None = None  # "policy" when a policy rule decided; else people did
    policy_rule: str | None = None  # the rule that decided
    source: str = "text"  # models.Source of the reading: "ocr" tells reviewers to look twice


@dataclass(frozen=True)
class Nearby:
    """Earlier cases for an IP and for its /24 or /48: how many, and the latest few of each."""

    same_ip: tuple[Case, ...] = ()
    same_ip_total: int = 0
    same_network: tuple[Case, ...] = ()
    same_network_total: int = 0


@dataclass(frozen=True)
class OutgoingMail:
    """A reply waiting in the outbox; `raw` is the whole RFC 5322 message.

    `to` is who it is for, as shown; `recipients`, when set, are its envelope recipients (the
    team), each sent the same bytes as a mail of its own, so that each is retried alone."""

    id: str
    kind: MailKind
    to: str
    raw: bytes
    message_id: str
    created_at: datetime
    case_id: str | None = None
    recipients: tuple[str, ...] = ()

    @property
    def envelope(self) -> tuple[str, ...]:
        return self.recipients or (self.to,)


class MailStatus(StrEnum):
    """Where an outbox mail is: waiting for its attempt, being sent, sent, or given up."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


WAITING_MAIL = frozenset({MailStatus.PENDING, MailStatus.SENDING})


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class MailRecord:
    """One envelope recipient's copy of a queued mail, as the outbox keeps it; its bytes are
    `body` in the spool file `spool`."""

    id: str
    body: str
    spool: str
    kind: str
    to: str
    message_id: str
    created_at: datetime
    next_attempt_at: datetime
    case_id: str | None = None
    status: MailStatus = MailStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    claimed_at: datetime | None = None
    failed_at: datetime | None = None
    retried_at: datetime | None = None

    def to_doc(self) -> dict[str, Any]:
        """The stored document (the keys of a new mail; failed_at and retried_at once set)."""
        doc = {
            "spool": self.spool,
            "body": self.body,
            "id": self.id,
            "kind": self.kind,
            "to": self.to,
            "case_id": self.case_id,
            "message_id": self.message_id,
            "created_at": self.created_at.isoformat(),
            "status": self.status.value,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "sent_at": _text(self.sent_at),
            "claimed_at": _text(self.claimed_at),
        }
        for key in ("failed_at", "retried_at"):
            if getattr(self, key) is not None:
                doc[key] = _text(getattr(self, key))
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MailRecord:
        created = datetime.fromisoformat(doc["created_at"])
        return cls(
            id=doc["id"],
            body=doc.get("body", doc["id"]),  # records from before team mail was split
            spool=doc["spool"],
            kind=doc["kind"],
            to=doc["to"],
            message_id=doc.get("message_id", ""),
            created_at=created,
            next_attempt_at=_time(doc.get("next_attempt_at")) or created,
            case_id=doc.get("case_id"),
            status=MailStatus(doc["status"]),
            attempts=int(doc.get("attempts") or 0),
            last_error=doc.get("last_error"),
            sent_at=_time(doc.get("sent_at")),
            claimed_at=_time(doc.get("claimed_at")),
            failed_at=_time(doc.get("failed_at")),
            retried_at=_time(doc.get("retried_at")),
        )


@dataclass(frozen=True)
class MessageRecord:
    """What the worker did with one message: the record that makes a second pass a no-op, and
    the reports' source for throughput and outcomes."""

    key: str
    uid: str
    received_at: datetime
    action: str | None
    outcome: str
    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    reason: str | None = None
    case_id: str | None = None
    ndr_code: str | None = None
    ip: str | None = None
    language: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "uid": self.uid,
            "message_id": self.message_id,
            "sender": self.sender,
            "subject": self.subject,
            "received_at": self.received_at.isoformat(),
            "action": self.action,
            "outcome": self.outcome,
            "reason": self.reason,
            "case_id": self.case_id,
            "ndr_code": self.ndr_code,
            "ip": self.ip,
            "language": self.language,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MessageRecord:
        fields = {k: doc.get(k) for k in cls.__dataclass_fields__ if k != "received_at"}
        return cls(**{**fields, "received_at": datetime.fromisoformat(doc["received_at"])})


@dataclass(frozen=True)
class QuarantineRecord:
    """Why one message went to the quarantine folder (its bytes stay in the mailbox). Records
    from before ids and kinds were kept have neither: `quarantine.entries` tells them apart."""

    uid: str
    key: str
    reason: str
    at: datetime
    id: str | None = None
    kind: str | None = None  # a quarantine.QuarantineKind value
    sha256: str | None = None

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "uid": self.uid, "key": self.key}
        doc |= {"reason": self.reason, "at": self.at.isoformat(), "kind": self.kind}
        doc["sha256"] = self.sha256
        return {key: value for key, value in doc.items() if value is not None}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> QuarantineRecord:
        return cls(
            uid=doc["uid"],
            key=doc["key"],
            reason=doc.get("reason", ""),
            at=datetime.fromisoformat(doc["at"]),
            id=doc.get("id"),
            kind=doc.get("kind"),
            sha256=doc.get("sha256"),
        )
