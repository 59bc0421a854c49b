"""What the lookups found about a request's IP, as plain values, and back from the store's JSON.

Pure. Every field has an "unknown" value: a lookup that failed never stops a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """fcrdns: the PTR name resolves back to the IP (pass), does not (fail), or a lookup failed."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class SpfResult(StrEnum):
    """RFC 7208 section 2.6, plus unknown: we could not ask (no requester domain, a timeout)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Listing:
    """A configured DNS block list zone that lists the IP, with its TXT (its reason), if any."""

    zone: str
    code: str  # the A record: 127.0.0.x
    txt: str = ""


@dataclass(frozen=True)
class Network:
    """The RDAP answer for the IP's network: who holds it and where to report abuse."""

    name: str = ""
    handle: str = ""
    range: str = ""  # "start - end", or CIDRs
    country: str = ""
    abuse: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    ptr: str | None = None
    fcrdns: Verdict = Verdict.UNKNOWN
    requester_domain_match: bool | None = None  # None: no PTR (or no requester domain)
    spf: SpfResult = SpfResult.UNKNOWN
    dnsbl: tuple[Listing, ...] = ()
    dnsbl_checked: bool = False  # every configured zone answered (so an empty dnsbl means clean)
    rdap: Network | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "ptr": self.ptr,
            "fcrdns": self.fcrdns.value,
            "requester_domain_match": self.requester_domain_match,
            "spf": self.spf.value,
            "dnsbl": [{"zone": x.zone, "code": x.code, "txt": x.txt} for x in self.dnsbl],
            "dnsbl_checked": self.dnsbl_checked,
            "rdap": None if self.rdap is None else _network_doc(self.rdap),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Evidence:
        rdap = doc.get("rdap")
        return cls(
            ptr=doc.get("ptr"),
            fcrdns=Verdict(doc.get("fcrdns", "unknown")),
            requester_domain_match=doc.get("requester_domain_match"),
            spf=SpfResult(doc.get("spf", "unknown")),
            dnsbl=tuple(Listing(x["zone"], x["code"], x.get("txt", "")) for x in doc["dnsbl"]),
            dnsbl_checked=bool(doc.get("dnsbl_checked")),
            rdap=None if rdap is None else Network(**{**rdap, "abuse": tuple(rdap["abuse"])}),
        )


def _network_doc(network: Network) -> dict[str, Any]:
    return {
        "name": network.name,
        "handle": network.handle,
        "range": network.range,
        "country": network.country,
        "abuse": list(network.abuse),
    }
