"""The outgoing budget: how much mail one outside address, and one domain, may get from us.

Pure: an address, the counts the store kept and the limits in; a verdict out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

DOMAIN_WINDOW = timedelta(hours=24)  # replies_per_domain is a daily figure


@dataclass(frozen=True)
class Recipient:
    """An outside address as the budget counts it: one mailbox, however it is spelled."""

    key: str  # lower case, with any +tag taken off the local part
    domain: str  # exactly as written after the @, lower case (not the registrable domain)

    @classmethod
    def of(cls, address: str) -> Recipient:
        local, _, domain = address.strip().rpartition("@")
        domain = _domain(domain)
        # victim+1@, victim+2@ ... reach one mailbox: they share one budget.
        local = local.lower().partition("+")[0]
        return cls(f"{local}@{domain}", domain)


def _domain(domain: str) -> str:
    """Lower case, and a Unicode domain as its IDNA form, so that both spellings of one
    domain share a budget."""
    domain = domain.lower().rstrip(".")
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def same_mailbox(one: str | None, other: str | None) -> bool:
    """Do two addresses reach the same mailbox, as the budget counts them?"""
    return bool(one and other) and Recipient.of(one or "").key == Recipient.of(other or "").key


@dataclass(frozen=True)
class Limits:
    per_recipient: int = 3
    window: timedelta = timedelta(hours=24)
    per_domain: int = 100
    domain_window: timedelta = DOMAIN_WINDOW

    @property
    def longest(self) -> timedelta:
        return max(self.window, self.domain_window)


@dataclass(frozen=True)
class Counts:
    """Mail to one recipient in the last `window`, and to its domain in `domain_window`."""

    recipient: int = 0
    domain: int = 0


class Verdict(StrEnum):
    SEND = "send"
    RECIPIENT_SPENT = "recipient_spent"
    DOMAIN_SPENT = "domain_spent"


def check(counts: Counts, limits: Limits) -> Verdict:
    """May one more mail go to this recipient?"""
    if counts.recipient >= limits.per_recipient:
        return Verdict.RECIPIENT_SPENT
    if counts.domain >= limits.per_domain:
        return Verdict.DOMAIN_SPENT
    return Verdict.SEND


def reason(found: Verdict, counts: Counts, limits: Limits, recipient: Recipient) -> str:
    """The words for the message record and the log."""
    if found is Verdict.RECIPIENT_SPENT:
        hours = limits.window.total_seconds() / 3600
        return f"{counts.recipient} mails to {recipient.key} in {hours:g} h"
    if found is Verdict.DOMAIN_SPENT:
        hours = limits.domain_window.total_seconds() / 3600
        return f"{counts.domain} mails to the domain {recipient.domain} in {hours:g} h"
    return ""
