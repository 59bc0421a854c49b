"""The block list's pure parts: reading list files, networks, an IP's neighbourhood, and the
record of one entry (BlocklistEntry) that the store's blocklist table keeps and hands out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from delist_bot.core.ip import plain_address

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class Listing:
    network: str
    reason: str


@dataclass(frozen=True)
class Delisting:
    """One approval that took an entry off the list: stored as 'ISO-time CASE-ID'."""

    at: datetime
    case_id: str

    def to_doc(self) -> str:
        return f"{self.at.isoformat()} {self.case_id}"

    @classmethod
    def from_doc(cls, text: str) -> Delisting:
        at, _, case_id = text.partition(" ")
        return cls(datetime.fromisoformat(at), case_id)

    @property
    def label(self) -> str:
        """'2026-11-27 DL-000001': the day and the case, as the reviewers' dossier shows it."""
        return f"{self.at.date().isoformat()} {self.case_id}"


# The keys of an entry as `Blocklist.add` writes them. An exception entry is written in another
# order, and entries from before exceptions have no "exception" key (it reads as false and comes
# last); an entry keeps the order it was read in, so `blocklist list --json` prints it unchanged.
ENTRY_KEYS = (
    "network",
    "reason",
    "added_at",
    "active",
    "exception",
    "removed_at",
    "delistings",
    "relistings",
)


@dataclass(frozen=True)
class BlocklistEntry:
    """A listed network, or (exception) one IP an approval took off a wider listed network.
    Inactive entries stay as history: their delistings and how often they were relisted."""

    network: str
    reason: str
    added_at: datetime
    active: bool = True
    exception: bool = False
    removed_at: datetime | None = None
    delistings: tuple[Delisting, ...] = ()
    relistings: int = 0
    keys: tuple[str, ...] = field(default=ENTRY_KEYS, compare=False, repr=False)

    def to_doc(self) -> dict[str, Any]:
        """The stored document, "exception" always present, keys in the order they were read."""
        values = {
            "network": self.network,
            "reason": self.reason,
            "added_at": self.added_at.isoformat(),
            "active": self.active,
            "exception": self.exception,
            "removed_at": self.removed_at.isoformat() if self.removed_at else None,
            "delistings": [d.to_doc() for d in self.delistings],
            "relistings": self.relistings,
        }
        return {key: values[key] for key in self.keys}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> BlocklistEntry:
        keys = tuple(k for k in doc if k in ENTRY_KEYS)
        removed = doc.get("removed_at")
        return cls(
            network=doc["network"],
            reason=doc["reason"],
            added_at=datetime.fromisoformat(doc["added_at"]),
            active=bool(doc["active"]),
            exception=bool(doc.get("exception")),  # entries from before exceptions have none
            removed_at=datetime.fromisoformat(removed) if removed else None,
            delistings=tuple(Delisting.from_doc(d) for d in doc["delistings"]),
            relistings=int(doc["relistings"]),
            keys=keys if "exception" in keys else (*keys, "exception"),
        )


def parse_listing(text: str) -> Listing:
    """'IP-or-CIDR [reason]' -> Listing; raises ValueError with a readable message."""
    token, _, reason = text.strip().partition(" ")
    try:
        network = ipaddress.ip_network(token, strict=False)
    except ValueError as exc:
        raise ValueError(f"{token!r} is not an IP address or CIDR network") from exc
    return Listing(str(_unmapped(network)), reason.strip())


def _unmapped(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> object:
    """An IPv4-mapped IPv6 network (::ffff:81.2.0.0/112) as the IPv4 one it names: cases hold
    IPv4 hosts as IPv4 addresses (see plain_address)."""
    if (
        network.version == 6
        and network.prefixlen >= _MAPPED.prefixlen
        and network.subnet_of(_MAPPED)
    ):
        host = plain_address(str(network.network_address))
        return ipaddress.ip_network(f"{host}/{network.prefixlen - _MAPPED.prefixlen}")
    return network


def parse_file(text: str) -> tuple[list[Listing], list[str]]:
    """Listings and the problems found, line by line; # starts a comment."""
    listings, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            listings.append(parse_listing(line))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    return listings, problems


def contains(network: str, ip: str) -> bool:
    try:
        return plain_address(ip) in ipaddress.ip_network(network)
    except ValueError:
        return False


def neighbourhood(ip: str) -> str:
    """The /24 of an IPv4 address or the /48 of an IPv6 one, where one operator's hosts sit."""
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def specificity(network: str) -> int:
    return ipaddress.ip_network(network).prefixlen
