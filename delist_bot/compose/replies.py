"""Mail out of rendered templates: headers, threading, MIME parts, and the bytes.

Text from a request is only ever a template variable, and header values are cleaned first.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from email import charset as email_charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime
from typing import Any

from delist_bot.compose.ids import IdMaker
from delist_bot.compose.templates import (
    render_text,
    template_language,
    template_name,
)
from delist_bot.core.addresses import header_form
from delist_bot.core.models import MailKind, OutgoingMail, Thread
from delist_bot.core.settings import Sender

LOOP_HEADER = "X-Delist-Bot-Loop"
ADDRESS_HEADERS = ("From", "To")
_UTF8 = email_charset.Charset("utf-8")
_UTF8.body_encoding = email_charset.QP  # readable in any client, safe for any line length


class _WirePolicy(Compat32):
    """compat32 with CRLF, writing short ASCII header lines straight out: its Header-object
    folding costs more than the rest of a reply, and such lines need no folding."""

    def fold_binary(self, name: str, value: str) -> bytes:
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + len(value) + 2 <= self.max_line_length
            and not _NEEDS_FOLDING.search(value)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


class _Generator(BytesGenerator):
    """Writes a string payload (the attached request) with its 8-bit bytes as they came, as
    it already does for every other part; the stdlib's own _encode insists on ASCII."""

    def _encode(self, s: str) -> bytes:
        return s.encode("ascii", "surrogateescape")


_WIRE = _WirePolicy(linesep="\r\n")
_NEEDS_FOLDING = re.compile(r"[\r\n]|\s\s|^\s|\s$")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A Message-ID we may write in In-Reply-To or References: printable ASCII only (a request's own
# may hold NUL, controls or 8-bit text, which would go out as they came).
_SAFE_ID = re.compile(r"<[!-;=?-~]{1,250}>")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|r|aw|sv|antw)\s*:\s*", re.IGNORECASE)


def clean_header(value: str, limit: int = 200) -> str:
    """One line, no control characters: untrusted text can never start a new header."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def reply_subject(subject: str | None, case_id: str | None) -> str:
    subject = _REPLY_PREFIX.sub("", clean_header(subject or "")) or "your delisting request"
    tag = f" [{case_id}]" if case_id and f"[{case_id}]" not in subject else ""
    return f"Re: {subject}{tag}"


def _text(body: str, subtype: str = "plain") -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(body, charset=_UTF8)
    return part


def _compose(headers: list[tuple[str, str | None]], body: Message) -> bytes:
    """Headers on BODY, then bytes. Values are single, cleaned lines; non-ASCII ones go as
    RFC 2047 encoded words. (compat32 on purpose: policy.default's header objects cost more
    than everything else in a reply.)"""
    for name, value in headers:
        if not value:
            continue
        if value.isascii():
            body[name] = value
        elif name in ADDRESS_HEADERS:
            # A Unicode local part: no encoded word may carry an address (RFC 2047, 5), so
            # it is written as UTF-8 (RFC 6532); such mail is sent only with SMTPUTF8. The
            # generator writes surrogate-escaped bytes as they are.
            body[name] = value.encode("utf-8").decode("ascii", "surrogateescape")
        else:
            body[name] = Header(value, "utf-8", header_name=name).encode()
    buffer = io.BytesIO()
    _Generator(buffer, policy=_WIRE).flatten(body)
    return buffer.getvalue()


def _automatic(kind: MailKind, sender: Sender, reply: bool) -> list[tuple[str, str | None]]:
    return [
        ("Auto-Submitted", "auto-replied" if reply else "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        (LOOP_HEADER, sender.domain),
        ("X-Delist-Bot-Action", kind),
    ]


def address_list(addresses: list[str]) -> str:
    """A From or To value: each address as SMTP carries it (`addresses.header_form`: an IDNA
    domain, a Unicode local part as UTF-8). One that cannot be sent to is shown in ASCII; its
    own mail fails in the courier with the reason."""
    return ", ".join(
        header_form(a) or clean_header(a).encode("ascii", "backslashreplace").decode()
        for a in addresses
    )


def _team_envelope(
    sender: Sender, recipients: list[str], subject: str, now: datetime, message_id: str
) -> list[tuple[str, str | None]]:
    return [
        ("From", address_list([sender.address])),
        ("To", address_list(recipients)),
        ("Subject", clean_header(subject, limit=300)),
        ("Date", format_datetime(now)),
        ("Message-ID", message_id),
    ]


def build_internal(
    kind: MailKind,
    recipients: list[str],
    subject: str,
    context: dict[str, Any],
    sender: Sender,
    now: datetime,
    case_id: str,
    message_id: str | None = None,
    references: tuple[str, ...] = (),
    attachment: bytes | None = None,
    *,
    new_ids: IdMaker,
) -> OutgoingMail:
    """Mail for reviewers or operators: English, auto-generated, optionally with the request."""
    ids = new_ids(f"{kind}.{case_id}", sender.domain)
    body: Message = _text(render_text(f"internal/{kind}.en.txt", context))
    if attachment is not None:
        parts = [body, request_part(attachment, case_id)]
        body = MIMEMultipart("mixed", boundary=ids.boundary, _subparts=parts)
    message_id = message_id or ids.message_id
    raw = _compose(
        [
            *_team_envelope(sender, recipients, subject, now, message_id),
            ("In-Reply-To", references[-1] if references else None),
            ("References", " ".join(references)),
            *_automatic(kind, sender, reply=False),
            ("X-Delist-Bot-Case", case_id),
        ],
        body,
    )
    return OutgoingMail(
        ids.mail_id,
        kind,
        ", ".join(recipients),
        raw,
        message_id,
        now,
        case_id,
        recipients=tuple(recipients),
    )


def build_digest(
    recipients: list[str],
    subject: str,
    text: str,
    html: str,
    sender: Sender,
    now: datetime,
    *,
    new_ids: IdMaker,
) -> OutgoingMail:
    """The operators' daily report: HTML with a plain-text alternative."""
    ids = new_ids(MailKind.DIGEST, sender.domain)
    message_id = ids.message_id
    parts = [_text(text), _text(html, "html")]
    body = MIMEMultipart("alternative", boundary=ids.boundary, _subparts=parts)
    raw = _compose(
        [
            *_team_envelope(sender, recipients, subject, now, message_id),
            *_automatic(MailKind.DIGEST, sender, reply=False),
        ],
        body,
    )
    return OutgoingMail(
        ids.mail_id,
        MailKind.DIGEST,
        ", ".join(recipients),
        raw,
        message_id,
        now,
        recipients=tuple(recipients),
    )


def request_part(raw: bytes, case_id: str) -> Message:
    """The request as message/rfc822, its bytes as they came (CRLF line ends), or as an .eml
    file when a line is over SMTP's 998 octets."""
    filename = f"request-{case_id}.eml"
    lines = _LINE_END.split(raw.removesuffix(b"\n").removesuffix(b"\r"))
    if any(len(line) > 998 for line in lines):
        part: Message = MIMEApplication(raw, "octet-stream")
    else:
        part = Message()
        part["Content-Type"] = "message/rfc822"
        # A string payload is written out verbatim: no parse, no regeneration of 20 KB.
        part.set_payload(b"\r\n".join(lines).decode("ascii", "surrogateescape"))
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def build_reply(
    kind: MailKind,
    language: str | None,
    context: dict[str, Any],
    thread: Thread,
    sender: Sender,
    now: datetime,
    case_id: str | None = None,
    *,
    new_ids: IdMaker,
) -> OutgoingMail:
    """A threaded, automatic-marked reply rendered from the kind's template."""
    ids = new_ids(case_id or "reply", sender.domain)
    name = template_name(kind, language)
    body = render_text(name, {**context, "case_id": case_id})
    message_id = ids.message_id
    answered = thread.message_id if _SAFE_ID.fullmatch(thread.message_id or "") else None
    earlier = [m for m in thread.references if _SAFE_ID.fullmatch(m)]
    references = [*earlier[-10:], answered] if answered else []
    raw = _compose(
        [
            ("From", address_list([sender.address])),
            ("To", address_list([thread.to])),
            ("Subject", reply_subject(thread.subject, case_id)),
            ("Date", format_datetime(now)),
            ("Message-ID", message_id),
            ("In-Reply-To", answered),
            ("References", " ".join(references)),
            # The language of the text actually sent (English where the sender's has no template).
            ("Content-Language", template_language(name)),
            *_automatic(kind, sender, reply=True),
            ("X-Delist-Bot-Case", case_id),
        ],
        _text(body),
    )
    return OutgoingMail(ids.mail_id, kind, clean_header(thread.to), raw, message_id, now, case_id)
