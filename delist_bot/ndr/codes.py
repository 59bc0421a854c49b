"""The catalogue of NDR codes: which code means which action, with its source wording.

Kept as data so that a new code is one entry, and replies and tests read the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from delist_bot.core.models import Action

PORTAL_URL = "https://sender.office.com"
CONSUMER_FORM_URL = "https://olcsupport.office.com/"


@dataclass(frozen=True)
class CodeInfo:
    code: str
    action: Action
    meaning: str  # the source's wording, verbatim where Microsoft publishes one
    advice: str  # who to ask, for the `other` reply


CATALOGUE: dict[str, CodeInfo] = {
    info.code: info
    for info in (
        CodeInfo(
            "5.7.511",
            Action.REVIEW,
            "Access denied, banned sender",
            "Forward the complete NDR with the code and the IP to delist@.",
        ),
        CodeInfo(
            "5.7.606-649",
            Action.PORTAL,
            "Access denied, banned sending IP [IP]",
            f"Delist the IP yourself at {PORTAL_URL}.",
        ),
        CodeInfo(
            "S3140",
            Action.CONSUMER,
            "part of their network is on our block list (S3140)",
            f"Outlook.com's own block list: use the sender support form {CONSUMER_FORM_URL}.",
        ),
        CodeInfo(
            "S3150",
            Action.CONSUMER,
            "part of their network is on our block list (S3150)",
            f"Outlook.com's own block list: use the sender support form {CONSUMER_FORM_URL}.",
        ),
        CodeInfo(
            "5.7.708",
            Action.OTHER,
            "Access denied, traffic not accepted from this IP",
            "The IP has a poor reputation with Exchange Online; this is not delisted here. "
            "Send from a different IP or through a reputable provider.",
        ),
        CodeInfo(
            "5.7.705",
            Action.OTHER,
            "Access denied, tenant has exceeded threshold",
            "Your Microsoft 365 tenant sent too much spam; ask Microsoft 365 support.",
        ),
        CodeInfo(
            "5.7.750",
            Action.OTHER,
            "Service unavailable. Client blocked from sending from unregistered domains",
            "Add and verify your domains in Microsoft 365, or ask Microsoft 365 support.",
        ),
        CodeInfo(
            "5.7.513",
            Action.OTHER,
            "Client host blocked by the recipient domain using Customer Block list",
            "The recipient's organisation blocks you; contact the recipient's administrator.",
        ),
        CodeInfo(
            "5.7.509",
            Action.OTHER,
            "Access denied, sending domain does not pass DMARC",
            "Fix SPF, DKIM and DMARC for your sending domain.",
        ),
        CodeInfo(
            "5.7.515",
            Action.OTHER,
            "Access denied, sending domain doesn't meet the required authentication level",
            "Publish SPF, DKIM and DMARC for your sending domain.",
        ),
        CodeInfo(
            "5.7.508",
            Action.OTHER,
            "Access denied, IPv6 range has exceeded permitted limits",
            "Reduce the volume from your IPv6 range or send over IPv4.",
        ),
        CodeInfo(
            "5.7.510",
            Action.OTHER,
            "Access denied, does not accept email over IPv6",
            "Send to this recipient over IPv4.",
        ),
        CodeInfo(
            "5.7.1",
            Action.OTHER,
            "Delivery not authorized, message refused",
            "Read the text after the code: it names the list or policy that refused you.",
        ),
        CodeInfo(
            "5.1.10",
            Action.OTHER,
            "Recipient not found (RESOLVER.ADR.RecipientNotFound)",
            "The recipient address does not exist; check it with the recipient.",
        ),
        CodeInfo(
            "5.1.1",
            Action.OTHER,
            "Bad destination mailbox address",
            "The recipient address does not exist; check it with the recipient.",
        ),
        CodeInfo(
            "4.7.650",
            Action.CONSUMER,
            "The mail server has been temporarily rate limited due to IP reputation",
            f"Slow down and retry; if it persists, use {CONSUMER_FORM_URL}.",
        ),
    )
}

# Outlook.com's consumer block codes travel in parentheses after the text (S3150, AS3140)
# or, before 2017, in place of an enhanced code (550 SC-001).
PROVIDER_CODE = re.compile(r"\((A?S\d{3,4})\)|(?<![\w-])(SC-\d{3})(?![\w-])")
_CONSUMER_PROVIDER = re.compile(r"^(?:A?S3\d{3}|SC-\d{3})$")
_BLOCKLIST_1 = re.compile(r"blocked\s+using\s+blocklist\s*1", re.IGNORECASE)
_CONSUMER_TEXT = re.compile(
    r"part\s+of\s+their\s+network\s+is\s+on\s+our\s+block\s+list", re.IGNORECASE
)


def is_portal_code(code: str | None) -> bool:
    if not code or not code.startswith("5.7."):
        return False
    detail = code.rsplit(".", 1)[1]
    return detail.isdigit() and 606 <= int(detail) <= 649


def is_microsoft_block(code: str | None) -> bool:
    """A code whose diagnostic names the banned IP in its first bracket."""
    return code == "5.7.511" or is_portal_code(code)


def lookup(code: str | None) -> CodeInfo | None:
    if code is None:
        return None
    if is_portal_code(code):
        return CATALOGUE["5.7.606-649"]
    return CATALOGUE.get(code)


def classify(code: str | None, provider_code: str | None, text: str) -> Action | None:
    """The catalogue's action for a diagnostic, before the request's IP is judged."""
    if code == "5.7.511" or _BLOCKLIST_1.search(text):
        return Action.REVIEW
    if is_portal_code(code):
        return Action.PORTAL
    if (provider_code and _CONSUMER_PROVIDER.match(provider_code)) or _CONSUMER_TEXT.search(text):
        return Action.CONSUMER
    info = lookup(code)
    if info is not None:
        return info.action
    return Action.OTHER if code else None
