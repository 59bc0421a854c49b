"""Authentication-Results that our own receiving server wrote, and whether they vouch for an address.

Pure. authres parses the headers (RFC 8601); organisational domains for DMARC's relaxed alignment
come from the public suffix list that publicsuffixlist bundles (it never fetches a newer one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import authres
from publicsuffixlist import PublicSuffixList

from delist_bot.core.addresses import a_labels

# The headers a receiving server (MTA, milters, LDA) puts above a message as it accepts and files
# it. The top run of these is where our server's Authentication-Results sit; the first header of
# any other name (DKIM-Signature, From, Message-ID, X-Spam-...) arrived with the message, and no
# Authentication-Results at or below it is believed.
TRACE_HEADERS = frozenset(
    {
        "return-path",
        "delivered-to",
        "x-original-to",
        "received",
        "received-spf",
        "authentication-results",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
    }
)
MAX_RESULTS_HEADER = 4096  # authres re-slices its input per token: bound what it reads
MAX_TOP_RESULTS = 10
_ESCAPED = re.compile(r"%u([0-9a-f]{6})%")
_ESCAPE = {"%": "%u000025%"}


def top_results(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The Authentication-Results values in the run of trace headers at the top."""
    found: list[str] = []
    for name, value in headers:
        name = name.strip().lower()
        if name not in TRACE_HEADERS:
            break
        if name == "authentication-results" and len(found) < MAX_TOP_RESULTS:
            found.append(value)
    return tuple(found)


def vouches(results: Iterable[str], authserv_id: str, address: str) -> bool:
    """Our server saw dkim=pass for a domain aligned with the address's, or spf=pass for an
    aligned MAIL FROM domain (DMARC's relaxed alignment: the same organisational domain)."""
    domain, ours = address.rpartition("@")[2], authserv_id.strip().lower()
    for value in results:
        header = _parse(value)
        if header is None or (header.authserv_id or "").lower() != ours:
            continue
        for result in header.results:
            if (result.result or "").lower() != "pass":
                continue
            passed = _passed_domain(result)
            if passed and aligned(passed, domain):
                return True
    return False


def aligned(one: str, other: str) -> bool:
    return organisational(one) == organisational(other)


def organisational(domain: str) -> str:
    """The registrable domain: example.co.uk for mx.example.co.uk."""
    ascii_domain = a_labels(domain.strip().rstrip(".").lower())
    return _suffixes().privatesuffix(ascii_domain) or ascii_domain


def is_public_suffix(domain: str) -> bool:
    """Whether DOMAIN (lower-case A-labels, as organisational gives it) is a public suffix
    itself (com, co.uk): a name nobody owns."""
    return bool(_suffixes().is_public(domain))


def _passed_domain(result: authres.core.AuthenticationResult) -> str | None:
    """The domain a passing result vouches for: DKIM's d= (else i=), SPF's MAIL FROM domain.
    The domain is what follows the last @: `"@corp.example x"@evil.example` is evil.example."""
    method = (result.method or "").lower()
    wanted = {"dkim": (("header", "d"), ("header", "i")), "spf": (("smtp", "mailfrom"),)}
    for kind, name in wanted.get(method, ()):
        for prop in result.properties:
            if (prop.type or "").lower() == kind and (prop.name or "").lower() == name:
                domain = _unescaped(str(prop.value or "")).rpartition("@")[2].strip()
                if domain:
                    return domain
    return None


def _parse(value: str) -> authres.AuthenticationResultsHeader | None:
    if len(value) > MAX_RESULTS_HEADER:
        return None
    # authres reads ASCII only; a server may write a UTF-8 MAIL FROM (RFC 8616): each non-ASCII
    # character goes through it as %uXXXXXX% (and a % as %u000025%), and comes back after.
    text = "".join(_ESCAPE.get(c, c) if c.isascii() else f"%u{ord(c):06x}%" for c in value)
    text = " ".join(text.split())
    if len(text) > MAX_RESULTS_HEADER:
        return None
    try:
        return authres.AuthenticationResultsHeader.parse_value(text)
    except (authres.AuthResError, ValueError, IndexError):
        return None  # a header we cannot read vouches for nobody


def _unescaped(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()
