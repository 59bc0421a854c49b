"""DNS lookups for evidence, the one module that imports dnspython: our nameservers, a timeout on
every query, and a cache that keeps each answer for its own TTL (a failure is never cached).

The names asked about are chosen by requesters (their domain's SPF, their PTR): answers are cut to
MAX_RECORDS records of at most MAX_TEXT characters, and the cache holds at most MAX_ENTRIES.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.reversename

MAX_RECORDS = 50
MAX_TEXT = 4096  # a TXT record's strings, joined (an SPF record needs a few hundred)
MAX_ENTRIES = 10_000
NEGATIVE_SECONDS = 60.0  # a name or type that does not exist: asked again after a minute
MAX_TTL = 86_400.0


class Status(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, with no record of the type
    ERROR = "error"  # a timeout, SERVFAIL, a refusal: nothing known


@dataclass(frozen=True)
class Answer:
    status: Status
    records: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status is Status.ERROR


FAILED = Answer(Status.ERROR)


def reverse_name(ip: str) -> str:
    return dns.reversename.from_address(ip).to_text()


def nameserver(spec: str) -> dns.nameserver.Do53Nameserver:
    """ "host:port", "[v6]:port" or a bare address (port 53)."""
    host, port = spec, 53
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif spec.count(":") == 1:
        host, _, text = spec.partition(":")
        port = int(text)
    return dns.nameserver.Do53Nameserver(host, port)


class Resolver:
    """Thread-safe: gathering runs its lookups side by side."""

    def __init__(
        self,
        nameservers: list[str],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [nameserver(s) for s in nameservers]
        self._resolver.cache = None  # ours, below, also counts what the benchmark measures
        self._resolver.retry_servfail = False
        self.timeout = timeout
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Answer]] = {}
        self._lock = threading.Lock()
        self.asked = 0  # queries that went to a server (the cache's misses)

    def query(self, name: str, rdtype: str, deadline: float | None = None) -> Answer:
        """NAME's records of RDTYPE as text; FAILED when no answer came by DEADLINE (a
        time.monotonic()-style instant; default: timeout seconds from now)."""
        key = (name.lower().rstrip(".") + ".", rdtype)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        left = (deadline if deadline is not None else now + self.timeout) - now
        if left <= 0:
            return FAILED
        answer, ttl = self._ask(key[0], rdtype, min(left, self.timeout))
        if not answer.failed:
            with self._lock:
                if len(self._cache) >= MAX_ENTRIES:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = (self._clock() + min(ttl, MAX_TTL), answer)
        return answer

    def _ask(self, name: str, rdtype: str, lifetime: float) -> tuple[Answer, float]:
        self.asked += 1
        try:
            found = self._resolver.resolve(
                name, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime
            )
        except dns.resolver.NXDOMAIN:
            return Answer(Status.NXDOMAIN), NEGATIVE_SECONDS
        except (dns.exception.DNSException, OSError, ValueError):
            return FAILED, 0.0
        ttl = max(0.0, found.expiration - time.time())
        if found.rrset is None:
            return Answer(Status.NODATA), min(ttl, NEGATIVE_SECONDS)
        records = tuple(_text(r) for r in list(found.rrset)[:MAX_RECORDS])
        return Answer(Status.OK, records), ttl


def _text(rdata: object) -> str:
    kind = getattr(rdata, "rdtype", None)
    if kind == dns.rdatatype.TXT:
        joined = b"".join(rdata.strings)[:MAX_TEXT]  # type: ignore[attr-defined]
        return joined.decode("utf-8", "replace")
    if kind == dns.rdatatype.MX:
        return rdata.exchange.to_text()  # type: ignore[attr-defined]
    if kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return rdata.address  # type: ignore[attr-defined]
    return rdata.to_text()[:MAX_TEXT]  # type: ignore[attr-defined]
