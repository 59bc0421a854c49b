"""Which IP a diagnostic names as blocked: an ordered list of small detectors.

Only a detector's match counts; any other IP in the text (the receiving MX, Received headers,
SPF or rDNS complaints) is a decoy and never reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from delist_bot.core.ip import canonical_ip
from delist_bot.ndr import linear
from delist_bot.ndr.text import folded

_V4 = r"\d{1,3}(?:\.\s?\d{1,3}){3}"
_V6 = r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?"
_ZONE = r"(?:%[^\s\[\]<>()]{1,64})?"  # fe80::1%eth0: read, then dropped by canonical_ip
_TOKEN = rf"(?:IPv6:)?(?:{_V6}{_ZONE}|{_V4})"
_BRACKET = r"\[\s*(?P<ip>[^\[\]]{1,80}?)\s*\]"
_BLOCK_WORDS = re.compile(
    r"block|bloqu|blacklist|listed|spam|reputation|banned|denied|rbl|dnsbl", re.IGNORECASE
)
_LIST_HOSTS = re.compile(
    r"spamhaus|cloudmark|spamcop|sorbs|barracuda|abuseat|senderscore|uceprotect|mailspike",
    re.IGNORECASE,
)
_PLACEHOLDER = linear.compile(
    r"""^[\s_*'"]*(?:
        (?:[xX#*n]{1,4}[.\s]*){2,}                      # xxx.xxx.xxx.xxx, XX.xxx.x.xxx, xxxx
      | (?:source\s+)?ip(?:[\s-]address)?(?:\s*\d)?    # IP address, IP1.IP2...
      | ip\d(?:\.ip\d){3}
      | <?ip-?address>?|\$\w+
      | (?:indirizzo|adresse|direcci\S+n|endere\S+o)\s+ip(?:\s+\w+)*
      | ip-adresse|a\.b\.c\.d|ip
    )[\s_*'"]*$""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class Detector:
    name: str
    pattern: linear.LinearPattern
    # Words the pattern cannot match without (any one of each group): a substring test on
    # folded text is cheaper than starting the engine.
    requires: tuple[tuple[str, ...], ...]
    needs_block_words: bool = False
    anchor: str | None = None  # the word every match starts with, when there is one

    def could_match(self, folded_text: str) -> bool:
        return all(any(w in folded_text for w in group) for group in self.requires)

    def finditer(self, text: str, folded_text: str) -> Iterator[Any]:
        """The pattern's matches, leftmost first, in one linear pass over TEXT."""
        if self.could_match(folded_text):
            yield from self.pattern.finditer(text)


def _detector(
    name: str, regex: str, requires: tuple[tuple[str, ...], ...], needs_block_words: bool = False
) -> Detector:
    words = [group[0] for group in requires if len(group) == 1]
    anchor = next((w for w in words if regex.lower().startswith(w)), None)
    pattern = linear.compile(regex, re.IGNORECASE)
    return Detector(name, pattern, requires, needs_block_words, anchor)


_LISTED = ("block", "listed", "banned")


DETECTORS: tuple[Detector, ...] = (
    _detector(
        "banned",
        rf"banned\s+send(?:er|ing\s+IP)\s*:?\s*(?:{_BRACKET}|(?P<bare>{_TOKEN}))",
        requires=(("banned",),),
    ),
    _detector(
        "messages-from",
        rf"messages\s+from\s+(?:{_BRACKET}|(?P<bare>{_TOKEN})|(?P<empty>))\s*"
        r"(?:weren'?t|were\s+not|was\s+not|have\s+not\s+been)\s+(?:sent|delivered)",
        requires=(("messages",),),
    ),
    _detector(
        "host-blocked",
        rf"(?:client(?:\s+host)?|host|sender|mail\s+server|IP(?:\s+address)?|source)\s*{_BRACKET}"
        r"\s*(?:has\s+been\s+|is\s+|was\s+)?(?:temporarily\s+)?"
        r"(?:blocked|listed|blacklisted|rate\s+limited|banned|refused)",
        requires=(("[",), ("blocked", "listed", "rate", "banned", "refused")),
    ),
    _detector(
        "rejected-client",
        rf"{_BRACKET}>?:?\s*client\s+host\s+rejected",
        requires=(("[",), ("rejected",)),
    ),
    _detector(
        "blocked-ip",
        rf"blocked\s+IP(?:\s+address)?\s*:?\s*(?P<bare>{_TOKEN})",
        requires=(("blocked",),),
    ),
    _detector(
        "messages-deferred",
        rf"messages\s+from\s+(?P<bare>{_TOKEN})\s+(?:temporarily\s+)?(?:deferred|blocked|rejected)",
        requires=(("messages",),),
    ),
    _detector(
        "ip-listed",
        rf"IP(?:\s+address)?\s+(?P<bare>{_TOKEN})\s+(?:is|has\s+been|was)\s+"
        r"(?:blocked|listed|blacklisted|banned)",
        requires=(("ip",), _LISTED),
    ),
    _detector(
        "bracket-count",
        rf"\[\s*(?P<bare>{_V4})\s+\d+\s*\]",
        requires=(("[",),),
        needs_block_words=True,
    ),
    _detector(
        "url-ip", rf"[?&/]ip=(?P<bare>{_TOKEN})", requires=(("ip=",),), needs_block_words=True
    ),
)

# For Microsoft's own review and portal codes, the first bracket after the code is the banned
# IP in every language the wording was translated to.
FIRST_BRACKET = linear.compile(_BRACKET)


@dataclass(frozen=True)
class FoundIp:
    ip: str | None
    placeholder: bool
    position: int


def find_blocked_ip(text: str, microsoft_code: bool = False) -> FoundIp | None:
    """The first IP a detector names as blocked in one diagnostic statement."""
    lowered = folded(text)
    hits = [hit for detector in DETECTORS if (hit := run_detector(detector, text, lowered))]
    if microsoft_code and (match := FIRST_BRACKET.search(text)):
        read = read_ip_token(match.group("ip"))
        if read is not None:
            hits.append(FoundIp(read[0], read[1], match.start()))
    real = [hit for hit in hits if hit.ip]
    pool = real or hits
    return min(pool, key=lambda hit: hit.position) if pool else None


def run_detector(detector: Detector, text: str, lowered: str) -> FoundIp | None:
    """The detector's first hit in TEXT (LOWERED is folded(TEXT))."""
    if detector.needs_block_words and not (_BLOCK_WORDS.search(text) or _LIST_HOSTS.search(text)):
        return None
    for match in detector.finditer(text, lowered):
        groups = match.groupdict()
        if groups.get("empty") is not None:
            return FoundIp(None, True, match.start())
        token = groups.get("ip") or groups.get("bare") or ""
        read = read_ip_token(token)
        if read is not None:
            return FoundIp(read[0], read[1], match.start())
    return None


def read_ip_token(token: str) -> tuple[str | None, bool] | None:
    """(address, is_placeholder) for a bracket's content, or None when it is neither."""
    token = token.strip()
    if _PLACEHOLDER.match(token):
        return None, True
    candidates = ["".join(token.split()), token.split()[0] if token.split() else ""]
    for candidate in candidates:
        candidate = candidate.removeprefix("IPv6:").removeprefix("ipv6:").strip("*_'\"<>.,;")
        if "." not in candidate and ":" not in candidate:
            continue  # no address without either; skips the cost of ipaddress's exceptions
        try:
            return canonical_ip(candidate), False
        except ValueError:
            continue
    return None
