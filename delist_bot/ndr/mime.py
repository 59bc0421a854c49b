"""Walk a message's MIME tree into text blocks and delivery-status fields.

Parsing uses the stdlib's compat32 policy on purpose: policy.default parses header values on
access and took 36 s for a 1 MB Subject and 225 s for a 1 MB Content-Type here.
"""

from __future__ import annotations

import codecs
import email
import email.message
import email.parser
import email.utils
import quopri
import re
from dataclasses import dataclass, field
from typing import Any

from mailparser.utils import decode_header_part

from delist_bot.core.models import Source
from delist_bot.ndr import attachments
from delist_bot.ndr.text import OWN_WORDS_WINDOW, html_to_text, normalize_text, valid_text

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_BOUNDARIES = 100  # the stdlib parser recurses per nesting level
MAX_ATTACHED_DEPTH = 6  # a forward of a forward of ... an NDR
MAX_PARTS = 500
MAX_HEADER_CHARS = 4096
DSN_RECIPIENTS_EACH_END = 32

_BOUNDARY = re.compile(rb"boundary\s*=", re.IGNORECASE)
_LONE_CR = re.compile(rb"\r(?!\n)")
_DSN_GROUP_BREAK = re.compile(r"\n\s*\n")
_QP_MARKS = re.compile(r"=\n|=[0-9A-F]{2}")
# Codecs no mail client writes a body in, whose decoder is quadratic (punycode: 100 KB, 1.8 s).
_SLOW_CODECS = frozenset({"punycode"})
_EML_NAME = re.compile(r"\.eml\s*$", re.IGNORECASE)


class _Message(email.message.Message):
    """compat32's Message, with parameters read from the first MAX_HEADER_CHARS of a header:
    the stdlib splits `; a=b; a=b ...` one slice at a time, quadratic in the header's length
    (12,000 parameters: 100 ms for every get_param)."""

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        value = self.get(header)
        if value is None:
            return failobj
        text = str(value)[:MAX_HEADER_CHARS]
        cache = self.__dict__.setdefault("_params_read", {})  # charset, name, boundary: once
        if text not in cache:
            params = []
            for param in email.message._parseparam(text):  # type: ignore[attr-defined]
                name, _, val = param.partition("=")
                params.append((name.strip(), val.strip()))
            cache[text] = email.utils.decode_params(params)
        return list(cache[text])


class OverBudget(Exception):
    """The message is too large or too deeply structured to parse safely."""


@dataclass(frozen=True)
class Block:
    """Decoded human-readable text; depth 0 is the requester's own message."""

    text: str
    depth: int
    # Depth 0 only: the start of the text with its '>' quote marks, for a reviewer's command
    # (quotes.py must see what was quoted; `text` has the marks taken off for NDR matching).
    marked: str = ""
    source: Source = Source.TEXT


@dataclass(frozen=True)
class DsnRecipient:
    """The per-recipient fields of a message/delivery-status part."""

    status: str | None
    diagnostic: str | None
    remote_mta: str | None


@dataclass
class Walk:
    blocks: list[Block] = field(default_factory=list)
    dsn: list[DsnRecipient] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    budget: attachments.Budget = field(default_factory=attachments.Budget)


def check_budget(raw: bytes) -> None:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise OverBudget(f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    # The substring count bounds the regex's, and costs a hundredth of it.
    if raw.lower().count(b"boundary") <= MAX_BOUNDARIES:
        return
    boundaries = len(_BOUNDARY.findall(raw))
    if boundaries > MAX_BOUNDARIES:
        raise OverBudget(f"message declares {boundaries} MIME boundaries, over {MAX_BOUNDARIES}")


def parse_message(raw: bytes) -> email.message.Message:
    check_budget(raw)
    if b"\n" not in raw:
        # Classic Mac line endings: the stdlib splits lines on CR, but its quoted-printable
        # decoder does not know a soft break "=\r" and cuts the part short there.
        raw = raw.replace(b"\r", b"\n")
    try:
        return _parse(raw)
    except RecursionError as exc:
        raise OverBudget("message structure is nested too deeply") from exc


def _parse(raw: bytes) -> email.message.Message:
    """RAW as the stdlib's parser reads it, without its Python step per line where it can:
    headers by the stdlib, a body taken whole, a multipart cut at its boundary lines by one
    search. (The step per line made 100 KB of short lines cost 15x the same size in prose.)
    A delivery report's fields stay text, read by _dsn_from_text. Anything unusual (lone CR
    line ends, a digest, headers that do not end in a blank line) goes to the stdlib whole;
    tests/ndr/test_hostile_extraction.py compares the two on every sample and broken ones."""
    head = _headers(raw)
    if head is None:
        return email.message_from_bytes(raw, _class=_Message)
    msg, body = head
    maintype, subtype = msg.get_content_maintype(), msg.get_content_subtype()
    if maintype == "multipart":
        parts = _parts(msg, body)
        if parts is None:
            return email.message_from_bytes(raw, _class=_Message)
        msg.set_payload(parts)
    elif maintype == "message" and subtype != "delivery-status":
        msg.set_payload([_parse(body)])  # what follows is another message
    else:
        msg.set_payload(body.decode("ascii", "surrogateescape"))
    return msg


def _headers(raw: bytes) -> tuple[email.message.Message, bytes] | None:
    """The stdlib's reading of RAW's headers and RAW's body, when a blank line ends them."""
    if raw.startswith((b"\n", b"\r\n")):
        body_start = 1 if raw.startswith(b"\n") else 2
    else:
        ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
        if not ends:
            return None
        body_start = min(ends) + (2 if raw[min(ends) + 1 : min(ends) + 2] == b"\n" else 3)
    parser = email.parser.BytesParser(_class=_Message)
    msg = parser.parsebytes(raw[:body_start], headersonly=True)
    if msg.defects or msg.get_payload():
        return None  # a line that is no header ended them, or a lone CR did
    return msg, raw[body_start:]


def _parts(msg: email.message.Message, body: bytes) -> list[email.message.Message] | None:
    """MSG's parts cut from BODY at its boundary lines as the stdlib cuts them (repeated
    boundary lines make no empty part; the newline before a boundary belongs to it)."""
    boundary = msg.get_boundary()
    if boundary is None or msg.get_content_subtype() == "digest" or _LONE_CR.search(body):
        return None
    try:
        dashes = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None
    marks = _boundary_lines(body, dashes)
    if not marks or marks[0].group(1):  # no opening boundary: the stdlib's defect path
        return None
    msg.preamble = _without_eol(body[: marks[0].start()].decode("ascii", "surrogateescape")) or None
    parts: list[email.message.Message] = []
    i = 0
    while i < len(marks) and not marks[i].group(1) and len(parts) < MAX_PARTS:
        while i + 1 < len(marks) and marks[i + 1].start() == marks[i].end():
            i += 1  # repeated boundary lines, even a closing one, are consumed as one
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        parts.append(_part(body[marks[i].end() : end]))
        i += 1
    if i < len(marks) and marks[i].group(1):
        msg.epilogue = body[marks[i].end() :].decode("ascii", "surrogateescape")
    return parts


def _boundary_lines(body: bytes, dashes: bytes) -> list[re.Match[bytes]]:
    """The lines of BODY that are DASHES (`--boundary`), maybe `--`, then blanks; found by
    bytes.find, as a ^-anchored pattern would be tried at every position of the body."""
    line = re.compile(re.escape(dashes) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    starts = [0] if body.startswith(dashes) else []
    position = body.find(b"\n" + dashes)
    while position >= 0:
        starts.append(position + 1)
        position = body.find(b"\n" + dashes, position + 1)
    return [match for start in starts if (match := line.match(body, start))]


def _part(data: bytes) -> email.message.Message:
    """One part, with the newline before the next boundary taken off as the stdlib's parser
    takes it: from the part, or from the message a message/* part holds, deepest first (a
    multipart gives up its epilogue's)."""
    part = last = _parse(data)
    while last.get_content_type() not in ("message/delivery-status",) and (
        last.get_content_maintype() == "message" and isinstance(last._payload, list)
    ):
        last = last._payload[0]
    if last.get_content_maintype() == "multipart":
        last.epilogue = _without_eol(last.epilogue) if last.epilogue else None
    elif isinstance(last._payload, str):  # as stored: get_payload() would decode it
        last._payload = _without_eol(last._payload)
    return part


def _without_eol(text: str) -> str:
    """TEXT without its last line end."""
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def header(msg: email.message.Message, name: str) -> str | None:
    """The first value of a header, decoded, on one line, capped in length."""
    values = all_headers(msg, name)
    return values[0] if values else None


def all_headers(msg: email.message.Message, name: str) -> list[str]:
    wanted = name.lower()
    return [_clean_header(value) for key, value in msg.raw_items() if key.lower() == wanted]


def _clean_header(value: object) -> str:
    text = str(value)[:MAX_HEADER_CHARS]
    # compat32 keeps raw 8-bit header bytes as surrogates; most are UTF-8 sent unencoded.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    decoded = decode_header_part(text) if "=?" in text else text
    return valid_text(" ".join(decoded.split()))


def walk(msg: email.message.Message) -> Walk:
    """Collect text blocks and DSN fields, attached messages included, without recursion."""
    result = Walk()
    stack: list[tuple[email.message.Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        result.defects.extend(type(d).__name__ for d in part.defects)
        children = _visit(part, depth, result)
        stack.extend(reversed(children))
    if stack:
        result.defects.append(f"stopped after {MAX_PARTS} parts")
    return result


def _visit(
    part: email.message.Message, depth: int, result: Walk
) -> list[tuple[email.message.Message, int]]:
    ctype = part.get_content_type()
    if ctype == "multipart/alternative" and isinstance(part.get_payload(), list):
        return [(_preferred_alternative(part), depth)]
    if part.is_multipart():
        payload = part.get_payload()
        nested = depth + 1 if ctype.startswith("message/") else depth
        if ctype.endswith("delivery-status"):
            result.dsn.extend(_dsn_recipients(payload))
            return []
        if ctype.startswith("message/") and depth >= MAX_ATTACHED_DEPTH:
            return []
        return [(child, nested) for child in payload if isinstance(child, email.message.Message)]
    if ctype.endswith("delivery-status"):
        result.dsn.extend(_dsn_from_text(_decoded_text(part)))
        return []
    if _is_attached_message(part) and depth < MAX_ATTACHED_DEPTH:
        data = part.get_payload(decode=True) or b""
        try:
            return [(parse_message(data), depth + 1)]
        except OverBudget as exc:
            result.defects.append(str(exc))
            return []
    if not ctype.startswith("multipart/") and (shaped := _shaped(part, depth, result)) is not None:
        return shaped
    if ctype.startswith("multipart/") or ctype in ("text/plain", "message/rfc822"):
        # A multipart whose boundary was lost (an unfolded parameter) arrives as raw text.
        _add_block(result, _decoded_text(part), depth)
    elif ctype == "text/html":
        _add_block(result, html_to_text(_decoded_text(part)), depth, Source.HTML)
    elif ctype.startswith("text/") and ctype != "text/rfc822-headers":
        _add_block(result, _decoded_text(part), depth)
    return []


def _add_block(result: Walk, text: str, depth: int, source: Source = Source.TEXT) -> None:
    if text.strip():
        if depth > 0 and source in (Source.TEXT, Source.HTML):
            source = Source.ATTACHMENT
        marked = normalize_text(text[:OWN_WORDS_WINDOW], unquote=False) if depth == 0 else ""
        result.blocks.append(Block(normalize_text(text), depth, marked, source))


def _shaped(
    part: email.message.Message, depth: int, result: Walk
) -> list[tuple[email.message.Message, int]] | None:
    """A screenshot, PDF, .msg or TNEF part, known by its first bytes whatever its type says;
    None for any other part."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or attachments.sniff(data) is None:
        return None
    found = attachments.read(data, result.budget)
    for reading in found.readings:
        _add_block(result, valid_text(reading.text), depth + 1, reading.source)
    nested = []
    for raw in found.messages[:MAX_ATTACHED_DEPTH]:
        try:
            nested.append((parse_message(raw), depth + 1))
        except OverBudget as exc:
            result.defects.append(str(exc))
    return nested


def _preferred_alternative(part: email.message.Message) -> email.message.Message:
    children = [c for c in part.get_payload() if isinstance(c, email.message.Message)]
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if (
                child.get_content_type() == wanted
                and (child.get_payload(decode=True) or b"").strip()
            ):
                return child
    return children[0] if children else part


def _is_attached_message(part: email.message.Message) -> bool:
    if part.get_content_type() in ("message/rfc822", "message/global"):
        return True  # an attached message that compat32 left unparsed (e.g. base64)
    name = part.get_filename() or part.get_param("name") or ""
    return isinstance(name, str) and bool(_EML_NAME.search(name))


def _decoded_text(part: email.message.Message) -> str:
    data = part.get_payload(decode=True)
    if data is None:
        payload = part.get_payload()
        return valid_text(payload) if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    text = decode_bytes(data, charset)
    if len(_QP_MARKS.findall(text[:20000])) >= 3 and "=\n" in text.replace("\r\n", "\n"):
        # Quoted-printable that the sender's client pasted without decoding.
        text = decode_bytes(quopri.decodestring(data), charset)
    return text


def decode_bytes(data: bytes, charset: str) -> str:
    """Text in its declared charset, else UTF-8 with replacement characters; never a lone
    surrogate, whatever the charset says."""
    try:
        if codecs.lookup(charset).name in _SLOW_CODECS:
            raise LookupError(charset)
        return valid_text(data.decode(charset))
    except (LookupError, ValueError, TypeError):  # unknown, malformed, or `undefined`
        return data.decode("utf-8", "replace")


def _dsn_recipients(blocks: list[object]) -> list[DsnRecipient]:
    """The recipients' fields; of a report with thousands, the first and the last 50."""
    if len(blocks) > 2 * DSN_RECIPIENTS_EACH_END:
        blocks = blocks[:DSN_RECIPIENTS_EACH_END] + blocks[-DSN_RECIPIENTS_EACH_END:]
    found = []
    for block in blocks:
        if not isinstance(block, email.message.Message):
            continue
        status, diagnostic = header(block, "Status"), header(block, "Diagnostic-Code")
        if status or diagnostic:
            found.append(DsnRecipient(status, diagnostic, header(block, "Remote-MTA")))
    return found


def _dsn_from_text(text: str) -> list[DsnRecipient]:
    """Delivery-status fields that arrived as one undecoded text payload."""
    groups = _DSN_GROUP_BREAK.split(normalize_text(text))
    if len(groups) > 2 * DSN_RECIPIENTS_EACH_END + 1:  # the report's own fields, then each end
        groups = groups[: DSN_RECIPIENTS_EACH_END + 1] + groups[-DSN_RECIPIENTS_EACH_END:]
    blocks = [email.message_from_string(group.strip() + "\n", _Message) for group in groups]
    return _dsn_recipients(blocks)
