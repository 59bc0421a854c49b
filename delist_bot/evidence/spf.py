"""SPF's check_host() (RFC 7208) for one IP and one domain, over a lookup function.

Pure apart from LOOKUP, which the caller gives (with its own timeout). The domain's owner writes
the records: at most 10 lookups of include/a/mx/ptr/exists/redirect and 2 void ones (section
4.6.4), at most 10 MX names, and ptr never matches (its use is discouraged and costly).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from delist_bot.core.evidence import SpfResult
from delist_bot.evidence.dns import Answer, Status
from delist_bot.ndr import linear

Lookup = Callable[[str, str], Answer]
MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_MX = 10
# The requester writes its own domain's record: "+all", or ip4:0.0.0.0/1 ip4:128.0.0.0/1, pass
# every IP and say nothing of this one. A pass that wide is neutral as evidence.
WIDEST_V4, WIDEST_V6 = 16, 32
QUALIFIERS = {
    "+": SpfResult.PASS,
    "-": SpfResult.FAIL,
    "~": SpfResult.SOFTFAIL,
    "?": SpfResult.NEUTRAL,
}
# On RE2: a record is the requester's own text (up to 4 KB per string, and many strings).
_MECHANISM = linear.compile(
    r"([-+~?]?)([a-z0-9]+)(?::([^/]*))?((?:/\d{0,3})?(?://\d{0,3})?)$", re.I
)
_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([-.+,/_=]*)\}|%%|%_|%-", re.I)


class SpfError(Exception):
    def __init__(self, result: SpfResult):
        super().__init__(result.value)
        self.result = result


@dataclass
class _Budget:
    lookups: int = 0
    void: int = 0

    def spend(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise SpfError(SpfResult.PERMERROR)


@dataclass(frozen=True)
class _Query:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str  # local@domain
    lookup: Lookup
    budget: _Budget


def check_host(ip: str, domain: str, sender: str, lookup: Lookup) -> SpfResult:
    """The SPF result for IP sending as SENDER (whose domain is DOMAIN)."""
    query = _Query(ipaddress.ip_address(ip), sender, lookup, _Budget())
    try:
        return _check(query, domain)
    except SpfError as exc:
        return exc.result


def _check(query: _Query, domain: str) -> SpfResult:
    domain = domain.rstrip(".").lower()
    if not _valid_domain(domain):
        return SpfResult.NONE
    record = _record(query, domain)
    if record is None:
        return SpfResult.NONE
    terms = record.split()[1:]
    redirect = None
    for term in terms:
        name, eq, value = term.partition("=")
        if eq and re.fullmatch(r"[a-z][a-z0-9_.-]*", name, re.I):
            if name.lower() == "redirect":
                if redirect is not None:
                    raise SpfError(SpfResult.PERMERROR)
                redirect = value
            continue  # exp= and unknown modifiers change no result here
        result = _mechanism(query, domain, term)
        if result is not None:
            return result
    if redirect is None:
        return SpfResult.NEUTRAL
    query.budget.spend()
    target = _expand(query, domain, redirect)
    result = _check(query, target)
    return SpfResult.PERMERROR if result is SpfResult.NONE else result


def _record(query: _Query, domain: str) -> str | None:
    answer = query.lookup(domain, "TXT")
    if answer.failed:
        raise SpfError(SpfResult.TEMPERROR)
    found = [r for r in answer.records if re.match(r"v=spf1(?: |$)", r, re.I)]
    if len(found) > 1:
        raise SpfError(SpfResult.PERMERROR)
    return found[0] if found else None


def _mechanism(query: _Query, domain: str, term: str) -> SpfResult | None:
    """The term's qualifier's result when it matches, None when it does not."""
    parsed = _MECHANISM.match(term)
    if parsed is None:
        raise SpfError(SpfResult.PERMERROR)
    qualifier, name, spec, cidrs = parsed.groups()
    name = name.lower()
    v4, v6 = _cidrs(cidrs) if name in ("a", "mx") else (32, 128)  # ip4/ip6: one length
    target = _expand(query, domain, spec) if spec else domain
    if name in ("include", "a", "mx", "ptr", "exists"):
        query.budget.spend()
    match name:
        case "all" if spec is None and not cidrs:
            hit = True
        case "ip4" | "ip6" if spec:
            hit = _in_network(query.ip, spec, cidrs)
        case "a":
            hit = _any_address(query, target, v4, v6)
        case "mx":
            hit = _mx(query, target, v4, v6)
        case "include" if spec:
            hit = _include(query, target)
        case "exists" if spec:
            hit = _addresses(query, target, "A") != ()
        case "ptr":
            hit = False
        case _:
            raise SpfError(SpfResult.PERMERROR)
    if not hit:
        return None
    result = QUALIFIERS[qualifier or "+"]
    if result is SpfResult.PASS and _too_wide(name, spec, cidrs, v4, v6):
        return SpfResult.NEUTRAL
    return result


def _too_wide(name: str, spec: str | None, cidrs: str, v4: int, v6: int) -> bool:
    """A match that would pass most of the Internet: all, or a network wider than /16 (/32)."""
    if name == "all":
        return True
    if name in ("ip4", "ip6") and spec:
        prefix = ipaddress.ip_network(spec + cidrs, strict=False)
        return prefix.prefixlen < (WIDEST_V4 if prefix.version == 4 else WIDEST_V6)
    return name in ("a", "mx") and (v4 < WIDEST_V4 or v6 < WIDEST_V6)


def _include(query: _Query, target: str) -> bool:
    result = _check(query, target)
    if result in (SpfResult.TEMPERROR, SpfResult.PERMERROR):
        raise SpfError(result)
    if result is SpfResult.NONE:
        raise SpfError(SpfResult.PERMERROR)
    return result is SpfResult.PASS


def _mx(query: _Query, target: str, v4: int, v6: int) -> bool:
    answer = query.lookup(target, "MX")
    names = _checked(query, answer)
    if len(names) > MAX_MX:
        raise SpfError(SpfResult.PERMERROR)
    return any(_any_address(query, name, v4, v6) for name in names)


def _any_address(query: _Query, target: str, v4: int, v6: int) -> bool:
    rdtype, length = ("A", v4) if query.ip.version == 4 else ("AAAA", v6)
    for address in _addresses(query, target, rdtype):
        try:
            network = ipaddress.ip_network(f"{address}/{length}", strict=False)
        except ValueError:
            continue
        if query.ip in network:
            return True
    return False


def _addresses(query: _Query, target: str, rdtype: str) -> tuple[str, ...]:
    return _checked(query, query.lookup(target, rdtype))


def _checked(query: _Query, answer: Answer) -> tuple[str, ...]:
    if answer.failed:
        raise SpfError(SpfResult.TEMPERROR)
    if answer.status in (Status.NXDOMAIN, Status.NODATA):
        query.budget.void += 1
        if query.budget.void > MAX_VOID:
            raise SpfError(SpfResult.PERMERROR)
    return answer.records


def _in_network(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, spec: str, cidr: str) -> bool:
    try:
        network = ipaddress.ip_network(spec + cidr, strict=False)
    except ValueError as exc:
        raise SpfError(SpfResult.PERMERROR) from exc
    return ip.version == network.version and ip in network


def _cidrs(text: str) -> tuple[int, int]:
    v4, _, v6 = text.partition("//")
    v4 = v4.lstrip("/")
    four, six = int(v4) if v4 else 32, int(v6) if v6 else 128
    if four > 32 or six > 128:
        raise SpfError(SpfResult.PERMERROR)
    return four, six


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return len(domain) <= 253 and len(labels) > 1 and all(0 < len(x) <= 63 for x in labels)


def _expand(query: _Query, domain: str, spec: str) -> str:
    """Section 7's macros (no %{p}: its lookups are what RFC 7208 advises against)."""
    local, _, sender_domain = query.sender.rpartition("@")
    ip = query.ip
    dotted = str(ip) if ip.version == 4 else ".".join(ip.exploded.replace(":", ""))
    letters = {
        "s": query.sender,
        "l": local or "postmaster",
        "o": sender_domain or domain,
        "d": domain,
        "i": dotted,
        "c": str(ip),
        "p": "unknown",
        "h": domain,
        "r": "unknown",
        "t": "0",
        "v": "in-addr" if ip.version == 4 else "ip6",
    }

    def one(found: re.Match[str]) -> str:
        whole = found.group(0)
        if whole in ("%%", "%_", "%-"):
            return {"%%": "%", "%_": " ", "%-": "%20"}[whole]
        letter, digits, reverse, delimiters = found.groups()
        parts = re.split("[" + re.escape(delimiters or ".") + "]", letters[letter.lower()])
        parts = parts[::-1] if reverse else parts
        keep = int(digits) if digits else len(parts)
        if digits and keep == 0:
            raise SpfError(SpfResult.PERMERROR)
        return ".".join(parts[-keep:])

    if "%" in spec and not _MACRO.search(spec):
        raise SpfError(SpfResult.PERMERROR)
    expanded = _MACRO.sub(one, spec)
    while len(expanded) > 253 and "." in expanded:  # section 7.3: drop labels from the left
        expanded = expanded.split(".", 1)[1]
    return expanded
