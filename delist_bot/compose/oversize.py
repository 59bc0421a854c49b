"""A reviewer notification too big for the SMTP server's SIZE, cut to fit.

Pure: the notification's bytes and the limit in, a notification that says it was cut out. It
keeps its headers, the text (evidence, the requester's words, the dossier) and the request's
first part; the whole request stays in the store (`delist-bot cases show ID --raw`).
"""

from __future__ import annotations

import base64
import binascii
import io
import quopri
import re
from email import charset as email_charset
from email.generator import BytesGenerator
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32

FIRST_PART = 256 * 1024  # of the request, at most: enough for its headers and its words
MARGIN = 4096  # for the boundaries and the note's own growth
_WIRE = Compat32(linesep="\r\n")
_UTF8 = email_charset.Charset("utf-8")
_UTF8.body_encoding = email_charset.QP
# Our own notification: replies.py writes this boundary (random, so no request can hold it).
_BOUNDARY = re.compile(rb'boundary="?(=_delist_[0-9a-f]{32})"?')
_HEADER_END = re.compile(rb"\r?\n\r?\n")

NOTE = """\
THE REQUEST WAS CUT. With the request attached this notification is {size:,} bytes, and the
mail server takes at most {limit:,} bytes in one message: it carries the evidence, the
requester's words and the first {shown:,} bytes of the request (attached as text). The whole
request, as it came:

    delist-bot cases show {case_id} --raw

"""
ATTACHED = "The original request is attached."  # the template's last line, no longer true


def cut_notification(raw: bytes, limit: int, case_id: str) -> bytes | None:
    """RAW (a reviewer notification with the request attached) in at most LIMIT bytes, or
    None when it is not such a notification or not even its text fits."""
    found = _parts(raw)
    if found is None:
        return None
    head, boundary, text, request = found
    shown = min(FIRST_PART, len(request))
    while True:
        note = NOTE.format(size=len(raw), limit=limit, shown=shown, case_id=case_id)
        told = text.replace(ATTACHED, f"The first {shown:,} bytes of the request are attached.")
        parts = [_text_part(note + told)]
        if shown:
            prefix = request[:shown].decode("utf-8", "replace")
            parts.append(_text_part(prefix, f"request-{case_id}-first-part.txt"))
        body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
        cut = head + b"\r\n\r\n" + body + b"--" + boundary + b"--\r\n"
        if len(cut) <= limit:
            return cut
        if not shown:
            return None
        shown = max(0, min(shown // 2, limit - len(cut) + shown - MARGIN))


def _parts(raw: bytes) -> tuple[bytes, bytes, str, bytes] | None:
    """(top-level headers, boundary, the text, the request's bytes) of our own notification."""
    end = _HEADER_END.search(raw)
    if end is None:
        return None
    head = raw[: end.start()]
    found = _BOUNDARY.search(head)
    if found is None:
        return None
    boundary = found.group(1)
    sections = raw[end.end() :].split(b"--" + boundary)
    if len(sections) < 4:  # preamble, text, request, closing
        return None
    text_headers, text_body = _split_part(sections[1])
    request_headers, request_body = _split_part(sections[2])
    if b"quoted-printable" in text_headers.lower():
        text_body = quopri.decodestring(text_body)
    text = text_body.decode("utf-8", "replace")
    if b"base64" in request_headers.lower():
        try:
            request_body = base64.b64decode(request_body)
        except (binascii.Error, ValueError):
            return None
    return head, boundary, text, request_body


def _split_part(section: bytes) -> tuple[bytes, bytes]:
    section = section.removeprefix(b"\r\n").removesuffix(b"\r\n")
    end = _HEADER_END.search(section)
    if end is None:
        return section, b""
    return section[: end.start()], section[end.end() :]


def _text_part(text: str, filename: str | None = None) -> bytes:
    part = MIMENonMultipart("text", "plain")
    part.set_payload(text, charset=_UTF8)
    if filename:
        part.add_header("Content-Disposition", "attachment", filename=filename)
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=_WIRE).flatten(part)
    return buffer.getvalue()
