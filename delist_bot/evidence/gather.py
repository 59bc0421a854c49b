"""Gather a request's evidence: the four kinds of lookup side by side, all within one deadline
(timeout_seconds from the start); whatever has not answered by then is "unknown"."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from delist_bot.core.authentication import is_public_suffix, organisational
from delist_bot.core.evidence import Evidence, Listing, Network, Verdict
from delist_bot.evidence import rdap, spf
from delist_bot.evidence.dns import Answer, Resolver, Status, reverse_name

RDAP_SECONDS = 3600.0  # a network's holder changes rarely; RDAP answers carry no TTL
MAX_PTR_NAMES = 5
WORKERS = 32  # a group's lookups wait on one another past this many


@dataclass(frozen=True)
class Settings:
    nameservers: tuple[str, ...] = ()
    dnsbl_zones: tuple[str, ...] = ()
    rdap_url: str = ""
    timeout_seconds: float = 3.0


@dataclass
class Gatherer:
    settings: Settings
    clock: Callable[[], float] = time.monotonic
    resolver: Resolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = Resolver(list(self.settings.nameservers), self.settings.timeout_seconds)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="evidence")
        self._rdap: dict[str, tuple[float, Network]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def gather(self, ip: str, requester: str) -> Evidence:
        """Evidence about IP for REQUESTER's request; never raises for a failed lookup."""
        return self.gather_many([(ip, requester)])[0]

    def gather_many(self, requests: list[tuple[str, str]]) -> list[Evidence]:
        """Evidence for each (ip, requester) of a group, all within one deadline: a group of
        requests waits no longer than one (a lookup queued past the deadline is not asked)."""
        deadline = self.clock() + self.settings.timeout_seconds
        jobs = [self._submit(ip, requester, deadline) for ip, requester in requests]
        pending = [job for each in jobs for job in each.values()]
        wait(pending, timeout=max(0.0, deadline - self.clock()))
        return [
            _combine(each, _domain(requester))
            for each, (_, requester) in zip(jobs, requests, strict=True)
        ]

    def _submit(self, ip: str, requester: str, deadline: float) -> dict[str, Future[Evidence]]:
        domain = _domain(requester)
        return {
            "ptr": self._pool.submit(self._ptr, ip, deadline),
            "spf": self._pool.submit(self._spf, ip, domain, requester, deadline),
            "dnsbl": self._pool.submit(self._dnsbl, ip, deadline),
            "rdap": self._pool.submit(self._network, ip, deadline),
        }

    def _lookup(self, deadline: float) -> Callable[[str, str], Answer]:
        return lambda name, rdtype: self.resolver.query(name, rdtype, deadline)

    def _ptr(self, ip: str, deadline: float) -> Evidence:
        query = self._lookup(deadline)
        answer = query(reverse_name(ip), "PTR")
        names = [n.rstrip(".").lower() for n in answer.records[:MAX_PTR_NAMES]]
        if answer.failed or not names:
            return Evidence(fcrdns=Verdict.UNKNOWN if answer.failed else Verdict.FAIL)
        rdtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
        unknown = False
        for name in names:
            forward = query(name, rdtype)
            unknown = unknown or forward.failed
            if any(_same_ip(ip, a) for a in forward.records):
                return Evidence(ptr=name, fcrdns=Verdict.PASS)
        return Evidence(ptr=names[0], fcrdns=Verdict.UNKNOWN if unknown else Verdict.FAIL)

    def _spf(self, ip: str, domain: str, requester: str, deadline: float) -> Evidence:
        if not domain:
            return Evidence()
        result = spf.check_host(ip, domain, requester, self._lookup(deadline))
        return Evidence(spf=result)

    def _dnsbl(self, ip: str, deadline: float) -> Evidence:
        query = self._lookup(deadline)
        stem = reverse_name(ip).removesuffix("in-addr.arpa.").removesuffix("ip6.arpa.")
        listed, complete = [], True
        for zone in self.settings.dnsbl_zones:
            name = stem + zone.strip(".") + "."
            answer = query(name, "A")
            codes = [a for a in answer.records if _listing_code(a)]
            if answer.failed or (answer.status is Status.OK and not codes):
                complete = False  # no answer, or not a block list's answer (a resolver's error)
            elif codes:
                txt = query(name, "TXT")
                listed.append(Listing(zone, codes[0], " ".join(txt.records)[:500]))
        return Evidence(dnsbl=tuple(listed), dnsbl_checked=complete)

    def _network(self, ip: str, deadline: float) -> Evidence:
        if not self.settings.rdap_url:
            return Evidence()
        with self._lock:
            cached = self._rdap.get(ip)
        if cached is not None and cached[0] > self.clock():
            return Evidence(rdap=cached[1])
        left = deadline - self.clock()
        network = rdap.lookup(self.settings.rdap_url, ip, left) if left > 0 else None
        if network is not None:
            with self._lock:
                if len(self._rdap) >= 10_000:
                    self._rdap.pop(next(iter(self._rdap)))
                self._rdap[ip] = (self.clock() + RDAP_SECONDS, network)
        return Evidence(rdap=network)


def _combine(jobs: dict[str, Future[Evidence]], domain: str) -> Evidence:
    """One Evidence from the parts that answered in time; the rest stay unknown."""
    parts = {name: job.result() for name, job in jobs.items() if job.done() and _ok(job)}
    found = parts.get("ptr", Evidence())
    if "spf" in parts:
        found = replace(found, spf=parts["spf"].spf)
    if "dnsbl" in parts:
        checked = parts["dnsbl"]
        found = replace(found, dnsbl=checked.dnsbl, dnsbl_checked=checked.dnsbl_checked)
    if "rdap" in parts:
        found = replace(found, rdap=parts["rdap"].rdap)
    return replace(found, requester_domain_match=same_owner(found.ptr, domain))


def _domain(requester: str) -> str:
    return requester.rpartition("@")[2].lower().rstrip(".")


def same_owner(ptr: str | None, domain: str) -> bool | None:
    """Whether the PTR name and the requester's domain share their registrable domain (None:
    no PTR); a public suffix itself (co.uk, a PTR of "com") is nobody's."""
    if not ptr or not domain:
        return None
    first, second = _registrable(ptr), _registrable(domain)
    return first is not None and first == second


def _registrable(name: str) -> str | None:
    try:
        organisation = organisational(name)
    except UnicodeError:
        return None
    return None if is_public_suffix(organisation) else organisation


def _same_ip(ip: str, text: str) -> bool:
    try:
        return ipaddress.ip_address(ip) == ipaddress.ip_address(text)
    except ValueError:
        return False


def _listing_code(text: str) -> bool:
    """127.0.0.0/8, less 127.255.255.0/24 (Spamhaus's "your resolver may not ask" answers)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address in ipaddress.ip_network("127.0.0.0/8") and not text.startswith("127.255.255.")


def _ok(job: Future[Evidence]) -> bool:
    return job.exception() is None
