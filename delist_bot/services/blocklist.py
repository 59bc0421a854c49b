"""The block list for the terminal: import, add, remove, check and list networks.

The rules of a listing (what parses, what counts as a delisting) are core/blocklist.py's and
the store's; this module only opens the store for each command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from delist_bot.config import Config
from delist_bot.core.blocklist import BlocklistEntry, Listing, parse_listing
from delist_bot.runtime.wiring import open_store
from delist_bot.services.errors import UserError


@dataclass(frozen=True)
class Check:
    """What the block list says about one IP."""

    entry: BlocklistEntry | None  # the active listing that covers it
    exception: BlocklistEntry | None  # an approval that excepts it
    delistings: int  # how often it was delisted before


def listing(address: str) -> Listing:
    try:
        return parse_listing(address)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def add_many(config: Config, listings: list[Listing], now: datetime) -> list[str]:
    """Each listing added in one write; what happened to each (added, relisted, ...)."""
    with open_store(config).transaction() as tx:
        return [tx.blocklist.add(item.network, item.reason, now) for item in listings]


def add(config: Config, listed: Listing, reason: str, now: datetime) -> str:
    with open_store(config).transaction() as tx:
        return tx.blocklist.add(listed.network, reason, now)


def remove(config: Config, listed: Listing, now: datetime) -> None:
    with open_store(config).transaction() as tx:
        if not tx.blocklist.remove(listed.network, now):
            raise UserError(f"{listed.network} is not on the block list")


def check(config: Config, ip: str) -> Check:
    listing(ip)
    with open_store(config).transaction() as tx:
        entry, history = tx.blocklist.listing_for(ip), tx.blocklist.history_for(ip)
        exception = tx.blocklist.exception_for(ip)
    return Check(entry, exception, sum(len(e.delistings) for e in history))


def entries(config: Config, everything: bool) -> list[BlocklistEntry]:
    """The listed networks (EVERYTHING: also those delisted or removed), by network."""
    with open_store(config).transaction() as tx:
        return sorted(tx.blocklist.listings(active_only=not everything), key=lambda e: e.network)
