"""Reviewers' commands by email: the case token, the command line, and who may give one.

Pure. A command counts only from a configured reviewer, with the case's HMAC token, and, where
an authserv_id is configured, with DKIM or SPF passing for the reviewer's domain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from delist_bot.models import Extraction

COMMANDS = ("approve", "deny", "info", "note", "take", "close")
_TAG = re.compile(r"\[(DL-\d{6})/([0-9a-f]{16})\]")
_REFERENCE = re.compile(r"<review\.(DL-\d{6})\.([0-9a-f]{16})[.@]")
_CASE_TAG = re.compile(r"\[(DL-\d{6})\]")
_RESULT = re.compile(r"\b(dkim|spf)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
_DOMAIN_OF = {
    "dkim": re.compile(r"header\.[di]\s*=\s*@?([^\s;]+)", re.IGNORECASE),
    "spf": re.compile(r"smtp\.mailfrom\s*=\s*(?:[^@\s;]*@)?([^\s;]+)", re.IGNORECASE),
}


@dataclass(frozen=True)
class Command:
    word: str  # one of COMMANDS, or what the reviewer typed when it is not one
    message: str  # the text for the sender (or the note)

    @property
    def known(self) -> bool:
        return self.word in COMMANDS


def case_token(secret: str, case_id: str) -> str:
    return hmac.new(secret.encode(), case_id.encode(), hashlib.sha256).hexdigest()[:16]


def notification_tag(case_id: str, token: str) -> str:
    return f"[{case_id}/{token}]"


def notification_id(case_id: str, token: str, domain: str) -> str:
    return f"<review.{case_id}.{token}@{domain}>"


def token_reference(extraction: Extraction) -> tuple[str, str] | None:
    """(case id, token) that a reply to a reviewer notification carries, if any."""
    for reference in (extraction.in_reply_to or "", *reversed(extraction.references)):
        if match := _REFERENCE.search(reference):
            return match.group(1), match.group(2)
    if match := _TAG.search(extraction.subject or ""):
        return match.group(1), match.group(2)
    return None


def case_tag(subject: str | None) -> str | None:
    match = _CASE_TAG.search(subject or "")
    return match.group(1) if match else None


def parse_command(text: str) -> Command:
    """The first non-empty line's first word is the command; the rest is the message."""
    lines = text.strip().splitlines()
    if not lines:
        return Command("", "")
    first, rest = lines[0].strip(), "\n".join(lines[1:]).strip()
    word, _, tail = first.partition(" ")
    word = word.strip().rstrip(":.,!").lower()
    message = "\n".join(part for part in (tail.strip(), rest) if part)
    return Command(word, message)


def rejection(
    extraction: Extraction,
    case_id: str,
    token: str,
    secret: str,
    reviewers: list[str],
    authserv_id: str = "",
) -> str | None:
    """Why a command must not be applied, or None when it may."""
    sender = (extraction.from_address or "").lower()
    if sender not in {r.lower() for r in reviewers}:
        return f"{sender or 'an unknown sender'} is not a reviewer"
    if not hmac.compare_digest(token, case_token(secret, case_id)):
        return "the case token is missing or wrong"
    if authserv_id and not authenticated(extraction.auth_results, authserv_id, sender):
        return f"no dkim=pass or spf=pass from {authserv_id} for {sender.rpartition('@')[2]}"
    return None


def authenticated(results: tuple[str, ...], authserv_id: str, address: str) -> bool:
    """DKIM or SPF passed for the address's domain, by our own receiving server's account."""
    domain = address.rpartition("@")[2].lower()
    for header in results:
        server, _, rest = header.partition(";")
        if server.strip().split()[0:1] != [authserv_id]:
            continue  # anyone can write an Authentication-Results header; trust only ours
        for method, verdict, properties in _RESULT.findall(rest):
            found = _DOMAIN_OF[method.lower()].search(properties)
            if verdict.lower() == "pass" and found and found.group(1).lower().strip(">") == domain:
                return True
    return False
