"""The block list's pure parts: reading list files, networks, and an IP's neighbourhood.

The entries themselves live in the store; this module only reasons about addresses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from delist_bot.core.ip import plain_address

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class Listing:
    network: str
    reason: str


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
