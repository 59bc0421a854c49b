"""IP addresses in their one written form, and whether Microsoft could have blocked one.

Pure: text in, an address (or ValueError) out; every reader of an IP goes through here.
"""

from __future__ import annotations

import ipaddress


def canonical_ip(text: str) -> str:
    """The address in TEXT in its one written form: without an IPv6 zone id (`fe80::1%eth0` and
    `fe80::1%+3IA-` name the same address: the zone is the reader's interface, and any text at
    all), and an IPv4-mapped IPv6 address (::ffff:81.2.69.142) as the IPv4 host it names, which
    is what a block list holds. Raises ValueError for anything that is not an address."""
    return str(plain_address(text))


def plain_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """TEXT as an address object, as canonical_ip() writes it. Raises ValueError."""
    address = ipaddress.ip_address(text)
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return ipaddress.IPv6Address(address.packed) if address.scope_id is not None else address


def is_public(ip: str | None) -> bool:
    """True for an address that is globally routable, the only kind Microsoft can block."""
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False
