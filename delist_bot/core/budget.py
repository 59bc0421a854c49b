"""The outgoing budget: how much mail one outside address, and one domain, may get from us.

Pure: an address, the counts the store kept and the limits in; a verdict out.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from delist_bot.core.addresses import a_labels

DOMAIN_WINDOW = timedelta(hours=24)  # replies_per_domain is a daily figure


@dataclass(frozen=True)
class Recipient:
    """An outside address as the budget counts it: every spelling that can reach one mailbox
    shares one key, even where that merges two people (a budget must err on the strict side)."""

    key: str  # the mailbox: see `of`
    domain: str  # as written after the @ (after routing), lower case (not the registrable domain)

    @classmethod
    def of(cls, address: str) -> Recipient:
        local, domain = _mailbox(address)
        local, domain = _routed(local, domain)
        # victim+1@, victim+2@ ... reach one mailbox; so do v.ictim@ and vi.ctim@ at Gmail and
        # at every domain Google hosts (which cannot be told from the address).
        local = local.partition("+")[0].replace(".", "")
        return cls(f"{local}@{_ALIASES.get(domain, domain)}", domain)


# Domains that are one mail system under two names.
_ALIASES = {"googlemail.com": "gmail.com"}
MAX_ROUTING_HOPS = 8  # a local part is at most 64 octets: a few hops at most


def _mailbox(address: str) -> tuple[str, str]:
    """Local part and domain, each in one form: NFC (what `addresses.wire` sends) and case
    folded; the domain in IDNA."""
    local, _, domain = unicodedata.normalize("NFC", address.strip()).rpartition("@")
    return local.casefold(), _domain(domain)


def _routed(local: str, domain: str) -> tuple[str, str]:
    """The mailbox a source-routed local part reaches through a relay that honours it: the
    percent hack (RFC 1123 5.2.16: `victim%target.example@relay`, which Postfix applies by
    default for its own domains) and UUCP bang paths (`target.example!victim@relay`)."""
    for _ in range(MAX_ROUTING_HOPS):
        if "!" in local:
            host, _, local = local.partition("!")
        elif "%" in local:
            local, _, host = local.rpartition("%")
        else:
            break
        domain = _domain(host)
    return local, domain


def _domain(domain: str) -> str:
    """Lower case, and a Unicode domain as its IDNA form, so that both spellings of one
    domain share a budget."""
    return a_labels(domain.lower().rstrip("."))


def same_mailbox(one: str | None, other: str | None) -> bool:
    """Are two addresses one mailbox, for who may speak for a case or command it: the same
    up to case, normal form and a +tag, but not the budget's wider merging (dots, routing),
    where another person's address could pass for the requester's."""

    def exact(address: str) -> tuple[str, str]:
        local, domain = _mailbox(address)
        return local.partition("+")[0], domain

    return bool(one and other) and exact(one or "") == exact(other or "")


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
