"""Replies: the jinja2 environment, template choice by kind and language, and the message itself.

Text from a request is only ever a template variable, and header values are cleaned first.
"""

from __future__ import annotations

import email
import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from delist_bot.models import OutgoingMail

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("en", "it")
LOOP_HEADER = "X-Delist-Bot-Loop"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|r|aw|sv|antw)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Sender:
    """Who the bot is: its address, its Message-ID domain and its loop marker."""

    address: str
    domain: str

    @classmethod
    def from_address(cls, address: str) -> Sender:
        return cls(address=address, domain=address.rpartition("@")[2] or "delist-bot.invalid")


@dataclass(frozen=True)
class Thread:
    """What a reply answers: the request's subject, ids and requester."""

    to: str
    subject: str
    message_id: str | None
    references: tuple[str, ...] = ()


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
    )


def template_name(kind: str, language: str | None) -> str:
    """The reply template for a kind in the sender's language, falling back to English."""
    language = language if language in LANGUAGES else "en"
    name = f"replies/{kind}.{language}.txt"
    if not (TEMPLATES / name).exists():
        name = f"replies/{kind}.en.txt"
    return name


def render(name: str, context: dict[str, Any]) -> str:
    return environment().get_template(name).render(**context, when=when)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def clean_header(value: str, limit: int = 200) -> str:
    """One line, no control characters: untrusted text can never start a new header."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def reply_subject(subject: str | None, case_id: str | None) -> str:
    subject = _REPLY_PREFIX.sub("", clean_header(subject or "")) or "your delisting request"
    tag = f" [{case_id}]" if case_id and f"[{case_id}]" not in subject else ""
    return f"Re: {subject}{tag}"


def build_internal(
    kind: str,
    recipients: list[str],
    subject: str,
    context: dict[str, Any],
    sender: Sender,
    now: datetime,
    case_id: str,
    message_id: str | None = None,
    references: tuple[str, ...] = (),
    attachment: bytes | None = None,
) -> OutgoingMail:
    """Mail for reviewers or operators: English, auto-generated, optionally with the request."""
    body = render(f"internal/{kind}.en.txt", context)
    message_id = message_id or make_msgid(idstring=f"{kind}.{case_id}", domain=sender.domain)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender.address
    msg["To"] = ", ".join(clean_header(r) for r in recipients)
    msg["Subject"] = clean_header(subject, limit=300)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if references:
        msg["In-Reply-To"] = references[-1]
        msg["References"] = " ".join(references)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = sender.domain
    msg["X-Delist-Bot-Action"] = kind
    msg["X-Delist-Bot-Case"] = case_id
    msg.set_content(body, charset="utf-8")
    if attachment is not None:
        attach_request(msg, attachment, f"request-{case_id}.eml")
    return OutgoingMail(
        uuid.uuid4().hex, kind, ", ".join(recipients), msg.as_bytes(), message_id, now, case_id
    )


def build_digest(
    recipients: list[str], subject: str, text: str, html: str, sender: Sender, now: datetime
) -> OutgoingMail:
    """The operators' daily report: HTML with a plain-text alternative."""
    message_id = make_msgid(idstring="digest", domain=sender.domain)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender.address
    msg["To"] = ", ".join(clean_header(r) for r in recipients)
    msg["Subject"] = clean_header(subject, limit=300)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = sender.domain
    msg["X-Delist-Bot-Action"] = "digest"
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return OutgoingMail(
        uuid.uuid4().hex, "digest", ", ".join(recipients), msg.as_bytes(), message_id, now
    )


def attach_request(msg: EmailMessage, raw: bytes, filename: str) -> None:
    """The request as message/rfc822; a message the generator cannot rewrite goes as a file."""
    try:
        if any(len(line) > 998 for line in raw.splitlines()):
            raise ValueError("a line is longer than SMTP allows in 8bit")
        inner = email.message_from_bytes(raw)
        BytesGenerator(io.BytesIO(), policy=SMTP).flatten(inner)
        msg.add_attachment(inner, disposition="attachment", filename=filename)
    except Exception:  # a broken request must still reach the reviewer, as plain bytes
        msg.add_attachment(raw, maintype="application", subtype="octet-stream", filename=filename)


def build_reply(
    kind: str,
    language: str | None,
    context: dict[str, Any],
    thread: Thread,
    sender: Sender,
    now: datetime,
    case_id: str | None = None,
) -> OutgoingMail:
    """A threaded, automatic-marked reply rendered from the kind's template."""
    body = render(template_name(kind, language), {**context, "case_id": case_id})
    message_id = make_msgid(idstring=case_id or "reply", domain=sender.domain)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender.address
    msg["To"] = clean_header(thread.to)
    msg["Subject"] = reply_subject(thread.subject, case_id)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if thread.message_id:
        msg["In-Reply-To"] = thread.message_id
        msg["References"] = " ".join([*thread.references[-10:], thread.message_id])
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = sender.domain
    msg["X-Delist-Bot-Action"] = kind
    if case_id:
        msg["X-Delist-Bot-Case"] = case_id
    msg.set_content(body, charset="utf-8")
    return OutgoingMail(
        id=uuid.uuid4().hex,
        kind=kind,
        to=clean_header(thread.to),
        raw=msg.as_bytes(),
        message_id=message_id,
        created_at=now,
        case_id=case_id,
    )
