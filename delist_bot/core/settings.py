"""Who the bot is and what its decisions need from the configuration, as plain values.

The shell builds these from the TOML once; the core only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from delist_bot.core import budget, sla
from delist_bot.core.addresses import AddressError, wire


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
class Settings:
    """Who the bot is and whom it tells; everything decisions need from the configuration."""

    sender: Sender
    own_addresses: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    secret: str = ""
    authserv_id: str = ""
    require_listed: bool = False
    replies_per_sender: int = 3
    reply_window_hours: float = 24
    replies_per_domain: int = 100
    ages: sla.Ages = field(default_factory=sla.Ages)
    policy_mode: str = "off"  # [policy] mode: off, suggest, auto


def budget_limits(settings: Settings) -> budget.Limits:
    """The reply budget the [limits] section sets."""
    return budget.Limits(
        per_recipient=settings.replies_per_sender,
        window=timedelta(hours=settings.reply_window_hours),
        per_domain=settings.replies_per_domain,
    )
