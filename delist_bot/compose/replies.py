"""Replies: the jinja2 environment, template choice by kind and language, and the message itself.

Text from a request is only ever a template variable, and header values are cleaned first.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import charset as email_charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, make_msgid
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from delist_bot.compose.wrap import wrap
from delist_bot.core.addresses import AddressError, header_form, wire
from delist_bot.core.models import OutgoingMail

# The built-in templates, inside the installed package (a link to the top-level templates/ in
# a checkout); an operator's folder ([templates] path) comes first.
TEMPLATES = files("delist_bot") / "templates"
LANGUAGES = ("en", "it", "de", "fr", "es", "pt")  # built in; an operator's folder may add more
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


@dataclass(frozen=True)
class Sender:
    """Who the bot is: its address, its Message-ID domain and its loop marker."""

    address: str
    domain: str

    @classmethod
    def from_address(cls, address: str) -> Sender:
        """The domain as SMTP carries it (A-labels): it goes into Message-IDs and headers."""
        try:
            domain = wire(address).domain
        except AddressError:
            domain = address.rpartition("@")[2]
        return cls(address, domain if domain.isascii() and domain else "delist-bot.invalid")


@dataclass(frozen=True)
class Thread:
    """What a reply answers: the request's subject, ids and requester."""

    to: str
    subject: str
    message_id: str | None
    references: tuple[str, ...] = ()


_override: Path | None = None


def use_templates(folder: Path | None) -> None:
    """Templates in FOLDER take the place of the built-in ones of the same name (for this
    process: the configuration is read once at start)."""
    global _override
    _override = folder
    environment.cache_clear()


@cache
def environment() -> jinja2.Environment:
    built_in = jinja2.PackageLoader("delist_bot", "templates")
    loaders = [jinja2.FileSystemLoader(_override), built_in] if _override else [built_in]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
    )


@cache
def _template_names(_environment: jinja2.Environment) -> frozenset[str]:
    return frozenset(_environment.list_templates())


def template_name(kind: str, language: str | None) -> str:
    """The reply template for a kind in the sender's language, falling back to English."""
    name = f"replies/{kind}.{language}.txt"
    return name if name in _template_names(environment()) else f"replies/{kind}.en.txt"


def template_language(name: str) -> str:
    """The language a reply template is written in: the xx of replies/<kind>.<xx>.txt."""
    return name.rsplit(".", 2)[-2]


def render(name: str, context: dict[str, Any]) -> str:
    return environment().get_template(name).render(**context, when=when)


def render_text(name: str, context: dict[str, Any]) -> str:
    """A mail body: the rendered template, each line wrapped for mail (see wrap.py)."""
    return wrap(render(name, context))


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


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


def _boundary() -> str:
    """Random, so no content can hold it (the generator's own check costs a regex per mail)."""
    return f"=_delist_{uuid.uuid4().hex}"


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


def _automatic(kind: str, sender: Sender, reply: bool) -> list[tuple[str, str | None]]:
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
    body: Message = _text(render_text(f"internal/{kind}.en.txt", context))
    if attachment is not None:
        parts = [body, request_part(attachment, case_id)]
        body = MIMEMultipart("mixed", boundary=_boundary(), _subparts=parts)
    message_id = message_id or make_msgid(idstring=f"{kind}.{case_id}", domain=sender.domain)
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
        uuid.uuid4().hex,
        kind,
        ", ".join(recipients),
        raw,
        message_id,
        now,
        case_id,
        recipients=tuple(recipients),
    )


def build_digest(
    recipients: list[str], subject: str, text: str, html: str, sender: Sender, now: datetime
) -> OutgoingMail:
    """The operators' daily report: HTML with a plain-text alternative."""
    message_id = make_msgid(idstring="digest", domain=sender.domain)
    parts = [_text(text), _text(html, "html")]
    body = MIMEMultipart("alternative", boundary=_boundary(), _subparts=parts)
    raw = _compose(
        [
            *_team_envelope(sender, recipients, subject, now, message_id),
            *_automatic("digest", sender, reply=False),
        ],
        body,
    )
    return OutgoingMail(
        uuid.uuid4().hex,
        "digest",
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
    kind: str,
    language: str | None,
    context: dict[str, Any],
    thread: Thread,
    sender: Sender,
    now: datetime,
    case_id: str | None = None,
) -> OutgoingMail:
    """A threaded, automatic-marked reply rendered from the kind's template."""
    name = template_name(kind, language)
    body = render_text(name, {**context, "case_id": case_id})
    message_id = make_msgid(idstring=case_id or "reply", domain=sender.domain)
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
    return OutgoingMail(
        uuid.uuid4().hex, kind, clean_header(thread.to), raw, message_id, now, case_id
    )
