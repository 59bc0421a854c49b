"""Outlook's own files: a saved message (.msg, an OLE compound file) and TNEF (winmail.dat).

The only module that imports extract-msg or tnefparse. Each gives its bodies and attachments.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

MAX_NESTED = 4  # a .msg inside a .msg inside ...
MAX_ATTACHMENTS = 20
MAX_BODY_CHARS = 512 * 1024
# RTF control words and groups' braces: what is left is the text. Linear: no nested quantifier.
_RTF_CONTROL = re.compile(r"\\[a-z]{1,32}-?\d{0,10} ?|\\'[0-9a-f]{2}|\\[^a-z]|[{}]", re.IGNORECASE)

_RTF_BREAK = re.compile(r"\\(?:par|line)(?![a-z])")


class Unreadable(Exception):
    """The file was not read; its one-line reason is for the reviewer and the log."""


@dataclass(frozen=True)
class Body:
    text: str
    html: bool


@dataclass(frozen=True)
class OutlookContent:
    bodies: tuple[Body, ...]
    attachments: tuple[bytes, ...]  # raw bytes: images, PDFs, .eml, TNEF, another .msg


def missing(package: str) -> str | None:
    try:
        __import__(package)
    except ImportError:
        return f"reading Outlook files needs the Python package {package} (pip install delist-bot)"
    return None


def read_msg(data: bytes) -> OutlookContent:
    """A .msg's body and attachments, with the bodies of the messages embedded in it."""
    problem = missing("extract_msg")
    if problem:
        raise Unreadable(problem)
    import extract_msg

    for name in ("extract_msg", "olefile", "RTFDE"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        message = extract_msg.openMsg(data, delayAttachments=False)
    except Exception as exc:  # extract-msg raises many kinds for a hostile file
        raise Unreadable(f".msg could not be read: {type(exc).__name__}") from exc
    bodies: list[Body] = []
    attachments: list[bytes] = []
    try:
        _collect(message, bodies, attachments, 0)
    finally:
        message.close()
    return OutlookContent(tuple(bodies), tuple(attachments))


def _collect(message, bodies: list[Body], attachments: list[bytes], depth: int) -> None:
    heading = _heading(message)
    text = _safe(lambda: message.body)
    if isinstance(text, str) and text.strip():
        bodies.append(Body(heading + text[:MAX_BODY_CHARS], html=False))
    else:
        html = _safe(lambda: message.htmlBody)
        if isinstance(html, bytes) and html.strip():
            bodies.append(Body(html[:MAX_BODY_CHARS].decode("utf-8", "replace"), html=True))
    for attachment in (_safe(lambda: message.attachments) or [])[:MAX_ATTACHMENTS]:
        data = _safe(lambda a=attachment: a.data)
        if isinstance(data, bytes):
            attachments.append(data)
        elif data is not None and hasattr(data, "attachments") and depth < MAX_NESTED:
            _collect(data, bodies, attachments, depth + 1)  # a message inside the message


def _heading(message) -> str:
    subject = _safe(lambda: message.subject)
    sender = _safe(lambda: message.sender)
    lines = [f"From: {sender}" if sender else "", f"Subject: {subject}" if subject else ""]
    return "".join(line + "\n" for line in lines if line) + ("\n" if any(lines) else "")


def _safe(read):
    """One property of a hostile file: a broken stream loses that property, not the file."""
    try:
        return read()
    except Exception:
        return None


def read_tnef(data: bytes) -> OutlookContent:
    """A TNEF stream's body (plain, HTML or rich text) and its attachments."""
    problem = missing("tnefparse")
    if problem:
        raise Unreadable(problem)
    import tnefparse

    logging.getLogger("tnefparse").setLevel(logging.CRITICAL)
    try:
        tnef = tnefparse.TNEF(data)
    except Exception as exc:  # a truncated or hostile stream
        raise Unreadable(f"TNEF could not be read: {type(exc).__name__}") from exc
    bodies: list[Body] = []
    plain, html, rtf = (
        _safe(lambda n=n: getattr(tnef, n)) for n in ("body", "htmlbody", "rtfbody")
    )
    if plain:
        bodies.append(Body(_text(plain), html=False))
    elif html:
        bodies.append(Body(_text(html), html=True))
    elif rtf:
        bodies.append(Body(rtf_text(_text(rtf)), html=False))
    found = [a.data for a in tnef.attachments[:MAX_ATTACHMENTS] if isinstance(a.data, bytes)]
    return OutlookContent(tuple(bodies), tuple(found))


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value[:MAX_BODY_CHARS]


def rtf_text(rtf: str) -> str:
    """Rich text's words without its markup: enough to find a code and an IP."""
    text = _RTF_BREAK.sub("\n", rtf)
    return _RTF_CONTROL.sub("", text)
