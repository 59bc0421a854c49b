"""Evidence that is not text: screenshots, PDFs, Outlook's .msg and TNEF, told apart by content.

A part's declared type and file name are the sender's word; its first bytes are not. OCR text is
corrected only where the words around a confusion confirm it, and an IP read in doubt is dropped.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from delist_bot.core.models import Source
from delist_bot.ndr import ocr, outlook, pdf
from delist_bot.ndr.text import html_to_text

MAX_IMAGES = 3  # OCR runs a message may cost (a second reading is one): forty screenshots cost 3
MAX_PDFS = 5  # PDFs a message may cost: each may take up to 0.5 s (five pages of 512 KB content)
MIN_IP_CONFIDENCE = 85.0
SECOND_ZOOM = 0.7  # a second reading at another size: Tesseract's errors move with the scale
OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
TNEF_SIGNATURE = (0x223E9F78).to_bytes(4, "little")
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
_WEBP = re.compile(rb"^RIFF....WEBP", re.DOTALL)
_EMAIL_START = re.compile(rb"^(?:[!-9;-~]{1,76}:[ \t]|From )")


@dataclass(frozen=True)
class Reading:
    """Text read from one non-text part, and where it came from."""

    text: str
    source: Source
    doubtful: tuple[str, ...] = ()  # IPs the OCR was not sure of, as it read them


@dataclass
class Budget:
    """What one message may still spend on images; the notes say what was skipped and why."""

    images: int = MAX_IMAGES
    pdfs: int = MAX_PDFS
    notes: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)


def sniff(data: bytes) -> Source | None:
    """The shape of a part by its first bytes: OCR for images, else pdf, msg or tnef."""
    head = data[:16]
    if head.startswith(OLE_SIGNATURE):
        return Source.MSG
    if head.startswith(TNEF_SIGNATURE):
        return Source.TNEF
    if head.lstrip(b"\r\n\t ").startswith(b"%PDF-"):
        return Source.PDF
    if head.startswith(_IMAGE_SIGNATURES) or _WEBP.match(head):
        return Source.OCR
    return None


def looks_like_message(data: bytes) -> bool:
    """An .eml saved into a .msg or TNEF: a header line first."""
    return bool(_EMAIL_START.match(data[:200]))


@dataclass
class Found:
    readings: list[Reading] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)  # .eml inside: parsed by the MIME walk


def read(data: bytes, budget: Budget, depth: int = 0) -> Found:
    """Whatever text one attachment holds; never raises for bad input."""
    found = Found()
    _read_into(data, budget, found, depth)
    return found


def _read_into(data: bytes, budget: Budget, found: Found, depth: int) -> None:
    shape = sniff(data)
    if shape is Source.OCR:
        _read_image(data, budget, found.readings)
    elif shape is Source.PDF:
        _read_pdf(data, budget, found, depth)
    elif shape in (Source.MSG, Source.TNEF):
        _read_outlook(data, shape, budget, found, depth)
    elif depth > 0 and looks_like_message(data):
        found.messages.append(data)


def _read_image(data: bytes, budget: Budget, readings: list[Reading]) -> None:
    if budget.images <= 0:
        budget.note(f"more than {MAX_IMAGES} images: the rest were not read")
        return
    budget.images -= 1
    try:
        text = ocr.read_image(data)
    except ocr.Unreadable as exc:
        budget.note(f"image not read: {exc}")
        return
    corrected, doubtful = read_ocr_text(text, _second_opinion(data, text, budget))
    for ip in doubtful:
        budget.note(f"OCR read an IP as {ip!r} but is not sure of it")
    readings.append(Reading(corrected, Source.OCR, doubtful))


def _read_pdf(data: bytes, budget: Budget, found: Found, depth: int) -> None:
    if budget.pdfs <= 0:
        budget.note(f"more than {MAX_PDFS} PDFs: the rest were not read")
        return
    budget.pdfs -= 1
    try:
        content = pdf.read_pdf(data, max_images=max(budget.images, 0))
    except pdf.Unreadable as exc:
        budget.note(f"PDF not read: {exc}")
        return
    found.readings.extend(Reading(text, Source.PDF) for text in content.texts)
    for image in content.images:
        _read_image(image, budget, found.readings)


def _read_outlook(data: bytes, shape: Source, budget: Budget, found: Found, depth: int) -> None:
    reader = outlook.read_msg if shape is Source.MSG else outlook.read_tnef
    try:
        content = reader(data)
    except outlook.Unreadable as exc:
        budget.note(f"{shape.value} not read: {exc}")
        return
    for body in content.bodies:
        text = html_to_text(body.text) if body.html else body.text
        found.readings.append(Reading(text, shape))
    if depth >= outlook.MAX_NESTED:
        return
    for attachment in content.attachments:
        _read_into(attachment, budget, found, depth + 1)


# OCR's confusions, each corrected only where what follows confirms it.
_SMTP_CONFUSED = re.compile(r"(?<![\w.])([5S$][0-9SO]{2})(?=[ \t]{1,3}[245]\.\d{1,3}\.\d)")
_SENDER_BRACKET = re.compile(
    r"(sender|IP)[ \t]?[(\[{][ \t]?(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})[ \t]?[)\]}|]",
    re.IGNORECASE,
)
_SHORT_511 = re.compile(r"(?<![\w.])5\.7\.5[1lI|]{1,2}(?![\w.])")
_BANNED = re.compile(r"banned\s+send(?:ing|er)|access\s+denied", re.IGNORECASE)
# An IP-like run as OCR may misread it: digits with letters that look like digits.
_IP_LIKE = re.compile(r"(?<![\w.:])[0-9OoIlSB|]{1,3}(?:\.[0-9OoIlSB|]{1,3}){3}(?![\w:])")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# IPv6 as OCR may read it (l for 1, O for 0): counted only with a "::" or a hex letter, so that
# a time of day (16:05:39) is not one.
_V6_LIKE = re.compile(r"(?<![\w:.])[0-9A-Za-z]{1,4}(?::[0-9A-Za-z]{0,4}){2,7}(?![\w:])")
_HEX_LETTER = re.compile(r"[a-fA-F]")
_DIGITS_FROM = str.maketrans({"S": "5", "$": "5", "O": "0"})


def _second_opinion(data: bytes, first: ocr.OcrText, budget: Budget) -> ocr.OcrText | None:
    """Where an IP was read without confidence, the image read again at another size: the same
    well-formed IP read twice is trusted, anything else stays in doubt. It costs a run."""
    if not _doubtful_ips(first) or budget.images <= 0:
        return None
    budget.images -= 1
    try:
        return ocr.read_image(data, zoom=SECOND_ZOOM)
    except ocr.Unreadable:
        return None


def read_ocr_text(
    text: ocr.OcrText, second: ocr.OcrText | None = None
) -> tuple[str, tuple[str, ...]]:
    """OCR text with its confirmed confusions corrected, and the IPs read in doubt (unless a
    second reading, SECOND, read the same well-formed IP)."""
    plain = text.text
    plain = _SMTP_CONFUSED.sub(lambda m: m.group(1).translate(_DIGITS_FROM), plain)
    plain = _SENDER_BRACKET.sub(lambda m: f"{m.group(1)}[{m.group(2)}]", plain)
    plain = _SHORT_511.sub(lambda m: _confirmed_511(m, plain), plain)
    confirmed = _well_formed_ips(second) if second else set()
    doubtful = tuple(ip for ip in dict.fromkeys(_doubtful_ips(text)) if ip not in confirmed)
    for ip in doubtful:
        alone = re.compile(rf"(?<![\w.]){re.escape(ip)}(?![\w.])")
        plain = alone.sub("(an IP the OCR could not read for sure)", plain)
    return plain, doubtful


def _confirmed_511(match: re.Match[str], text: str) -> str:
    """5.7.51 is a code of its own; it is 5.7.511 only beside "banned sending IP"."""
    around = text[max(0, match.start() - 200) : match.end() + 200]
    return "5.7.511" if _BANNED.search(around) else match.group(0)


def _well_formed_ips(text: ocr.OcrText) -> set[str]:
    return {
        candidate
        for line in text.lines
        for word in line
        for candidate in _ip_candidates(word.text)
        if _exact(candidate)
    }


def _ip_candidates(word: str) -> list[str]:
    found = [m.group(0) for m in _IP_LIKE.finditer(word)]
    for match in _V6_LIKE.finditer(word):
        candidate = match.group(0)
        if "::" in candidate or _HEX_LETTER.search(candidate):
            found.append(candidate)
    return found


def _exact(candidate: str) -> bool:
    if ":" in candidate:
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            return False
        return True
    return bool(_IPV4.match(candidate)) and all(int(o) <= 255 for o in candidate.split("."))


def _doubtful_ips(text: ocr.OcrText) -> list[str]:
    """IP-like words with a letter in them, an octet over 255, or a low confidence."""
    found = []
    for line in text.lines:
        for word in line:
            for candidate in _ip_candidates(word.text):
                if not _exact(candidate) or word.confidence < MIN_IP_CONFIDENCE:
                    found.append(candidate)
    return found
