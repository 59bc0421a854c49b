"""Reviewers' commands by email: the case token, the command line, and who may give one.

Pure. A command counts only from a configured reviewer (the message's one From address), with the
case's HMAC token while the case waits for a decision (and GRACE after it), and, where an
authserv_id is configured, with our server's DKIM or SPF pass aligned with the reviewer's domain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from delist_bot.core import authentication, quotes
from delist_bot.core.addresses import AddressError, wire
from delist_bot.core.models import OPEN_STATUSES, Case, Extraction

# The words that answer the request (what the digest counts as a reviewer's decisions), then
# those that only keep the case (a note, taking it); in this order `cases decide --help` lists them.
DECISION_WORDS = ("approve", "deny", "info", "close")
COMMANDS = (*DECISION_WORDS, "note", "take")
_TAG = re.compile(r"\[(DL-\d{6})/([0-9a-f]{16})\]")
_REFERENCE = re.compile(r"<review\.(DL-\d{6})\.([0-9a-f]{16})[.@]")
_CASE_TAG = re.compile(r"\[(DL-\d{6})\]")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# Control characters other than line ends and tabs: a NUL or an escape sequence in a reviewer's
# text means nothing to the requester and some mail servers refuse a message holding one. Also
# the invisible joiners and soft hyphen, which would hide a token from the scrubbing.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200c\u200d\u2060]")
# A decided case's token still works this long: a colleague's reply sent at the same moment as
# the decision, or a `note` on it. After that it is dead, so a token that leaked stops mattering.
GRACE = timedelta(hours=1)
POLICY_GRACE = timedelta(days=7)  # a policy's delisting may be overturned by mail this long


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


def parse_command(text: str, live_tokens: Iterable[str] = (), team: Iterable[str] = ()) -> Command:
    """The first non-empty line's first word is the command; the rest is the message, without
    what the reviewer quoted and without any live token (it may reach the requester). TEXT is
    the reply as written, '>' marks included; TEAM the addresses a quote header names."""
    lines = quotes.reviewer_text(_CONTROL.sub("", text), live_tokens, team).splitlines()
    if not lines:
        return Command("", "")
    first, rest = lines[0].strip(), "\n".join(lines[1:]).strip()
    word, _, tail = first.partition(" ")
    word = word.strip().rstrip(":.,!").lower()
    message = "\n".join(part for part in (tail.strip(), rest) if part)
    return Command(word, message)


def is_reviewer(address: str, reviewers: Iterable[str]) -> bool:
    """ADDRESS is one of REVIEWERS however either is written: any case, a +tag, its domain in
    Unicode or A-labels (IDNA 2008: straße.example is not strasse.example), NFC or NFD."""
    key = _mailbox_key(address)
    return key is not None and key in {_mailbox_key(r) for r in reviewers}


def _mailbox_key(address: str) -> str | None:
    try:
        found = wire(address)
    except AddressError:
        return None
    # ASCII letters only: str.lower() folds some non-ASCII letters into ASCII ones.
    local = found.local.translate(_ASCII_LOWER).partition("+")[0]
    return f"{local}@{found.domain.lower()}"


def token_live(case: Case, now: datetime) -> bool:
    """A case's token works while it waits for a decision, and GRACE after the decision."""
    if case.status in OPEN_STATUSES:
        return True
    grace = POLICY_GRACE if case.decided_by == "policy" else GRACE  # its FYI asks for a deny
    return case.decided_at is not None and now <= case.decided_at + grace


def live_tokens(cases: Iterable[Case], secret: str, now: datetime) -> frozenset[str]:
    return frozenset(case_token(secret, c.id) for c in cases if token_live(c, now))


def rejection(
    extraction: Extraction,
    case: Case,
    token: str,
    secret: str,
    reviewers: Iterable[str],
    now: datetime,
    authserv_id: str = "",
) -> str | None:
    """Why a command must not be applied, or None when it may."""
    sender = (extraction.from_address or "").lower()
    if not sender:
        return f"not a reviewer: {extraction.from_problem or 'no From address'}"
    if not is_reviewer(sender, reviewers):
        return f"{sender} is not a reviewer"
    if not hmac.compare_digest(token, case_token(secret, case.id)):
        return "the case token is missing or wrong"
    if not token_live(case, now):
        since = f" since {case.decided_at.isoformat(timespec='minutes')}" if case.decided_at else ""
        return f"the token expired: {case.id} is {case.status.value}{since}"
    if authserv_id and not authentication.vouches(extraction.auth_results, authserv_id, sender):
        domain = sender.rpartition("@")[2]
        return (
            f"no dkim=pass or spf=pass aligned with {domain} in an Authentication-Results "
            f"header from {authserv_id} at the top of the message"
        )
    return None
