"""Evidence from a real DNS server (NSD with test zones, reverse zones too) and a real HTTP
server answering RDAP like RIPE's; the requester's own DNS is built to be hostile on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from delist_bot.core.evidence import Evidence, SpfResult, Verdict
from delist_bot.evidence.dns import Resolver
from delist_bot.evidence.gather import Gatherer, Settings, same_owner
from delist_bot.evidence.spf import check_host
from tests.support.dns_server import DnsServer, have_nsd, silent_server

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not have_nsd(), reason="NSD is not installed (scripts/test installs it)"),
]


@pytest.fixture
def gatherer(nsd: DnsServer, rdap_url: str) -> Iterator[Gatherer]:
    found = Gatherer(Settings((nsd.address,), ("bl.test",), rdap_url, 3.0))
    yield found
    found.close()


# ip, requester, ptr, fcrdns, match, spf, listed
CASES = [
    ("81.2.69.10", "pm@goodmail.test", "mail.goodmail.test", "pass", True, "pass", False),
    ("81.2.69.11", "pm@goodmail.test", "liar.goodmail.test", "fail", True, "fail", False),
    ("81.2.69.12", "pm@goodmail.test", "mx.othercorp.test", "pass", False, "fail", False),
    ("81.2.69.12", "it@spfpass.test", "mx.othercorp.test", "pass", False, "pass", False),
    ("81.2.69.13", "pm@goodmail.test", "bl13.goodmail.test", "pass", True, "pass", True),
    # The PTR names the requester's domain, but the name's address is another IP's.
    ("81.2.69.14", "pm@goodmail.test", "mail.goodmail.test", "fail", True, "fail", False),
    ("81.2.69.15", "pm@goodmail.test", None, "fail", None, "fail", False),  # no PTR at all
    ("2a00:1450:4009::10", "pm@goodmail.test", "mail6.goodmail.test", "pass", True, "pass", False),
]


@pytest.mark.parametrize(("ip", "requester", "ptr", "fcrdns", "match", "spf", "listed"), CASES)
def test_evidence_for_each_test_address(
    gatherer: Gatherer,
    ip: str,
    requester: str,
    ptr: str | None,
    fcrdns: str,
    match: bool | None,
    spf: str,
    listed: bool,
) -> None:
    found = gatherer.gather(ip, requester)
    assert (found.ptr, found.fcrdns.value, found.requester_domain_match, found.spf.value) == (
        ptr,
        fcrdns,
        match,
        spf,
    )
    assert found.dnsbl_checked
    assert [x.zone for x in found.dnsbl] == (["bl.test"] if listed else [])
    if listed:
        assert found.dnsbl[0].code == "127.0.0.2"
        assert "spam trap" in found.dnsbl[0].txt
    assert found.rdap is not None
    assert (found.rdap.name, found.rdap.range, found.rdap.abuse) == (
        "GOODMAIL-NET",
        "81.2.69.0/24",
        ("abuse@goodmail.test",),
    )
    assert Evidence.from_doc(found.to_doc()) == found


HOSTILE = [
    ("hostile.test", SpfResult.PERMERROR),  # includes itself: the lookup limit ends it
    ("loop-a.hostile.test", SpfResult.PERMERROR),
    ("chain0.hostile.test", SpfResult.PERMERROR),  # 13 includes deep
    ("many.hostile.test", SpfResult.PERMERROR),  # 150 includes in one record
    ("voids.hostile.test", SpfResult.PERMERROR),  # a third name that does not exist
    ("twice.hostile.test", SpfResult.PERMERROR),  # two SPF records
    ("macro.hostile.test", SpfResult.PASS),  # exists:%{i}.ok.hostile.test
    ("nothing.hostile.test", SpfResult.NONE),
    ("goodmail.test", SpfResult.PASS),
]


@pytest.mark.parametrize(("domain", "expected"), HOSTILE)
def test_spf_of_hostile_domains_ends_within_the_rfc_limits(
    nsd: DnsServer, domain: str, expected: SpfResult
) -> None:
    resolver = Resolver([nsd.address], 3.0)
    result = check_host("81.2.69.10", domain, f"x@{domain}", resolver.query)
    assert result is expected
    assert resolver.asked <= 2 * 10 + 2  # the 10-lookup limit bounds the queries


def test_a_huge_spf_record_is_cut_and_a_cname_chain_is_harmless(nsd: DnsServer) -> None:
    resolver = Resolver([nsd.address], 3.0)
    huge = resolver.query("huge.hostile.test", "TXT")
    assert huge.records and len(huge.records[0]) <= 4096
    # Cut, the record loses its tail: the IP listed at its end is not seen (no pass).
    cut = check_host("81.2.69.10", "huge.hostile.test", "a@huge.hostile.test", resolver.query)
    assert cut is SpfResult.PERMERROR
    # 31 CNAMEs: longer than the resolver follows; a temporary error, never a hang
    chained = check_host("81.2.69.10", "cname.hostile.test", "a@cname.hostile.test", resolver.query)
    assert chained is SpfResult.TEMPERROR


def test_answers_come_from_the_cache_until_their_ttl_ends(nsd: DnsServer) -> None:
    now = [1000.0]
    resolver = Resolver([nsd.address], 3.0, clock=lambda: now[0])
    resolver.query("goodmail.test", "TXT", deadline=now[0] + 3)
    resolver.query("goodmail.test", "TXT", deadline=now[0] + 3)
    assert resolver.asked == 1
    now[0] += 301  # the zone's TTL is 300 seconds
    resolver.query("goodmail.test", "TXT", deadline=now[0] + 3)
    assert resolver.asked == 2


def test_dns_that_never_answers_gives_unknown_within_the_timeout(rdap_url: str) -> None:
    with silent_server() as address:
        gatherer = Gatherer(Settings((address,), ("bl.test",), "", 0.5))
        started = time.monotonic()
        found = gatherer.gather("81.2.69.10", "pm@goodmail.test")
        took = time.monotonic() - started
        gatherer.close()
    assert found == Evidence(dnsbl_checked=False)
    assert found.fcrdns is Verdict.UNKNOWN and found.spf is SpfResult.UNKNOWN
    assert took < 0.5 + 1.0  # the deadline, and a little for the threads to report


@pytest.mark.parametrize("ip", ["81.2.69.99", "81.2.69.98", "192.0.2.1"])
def test_rdap_redirects_elsewhere_and_endless_answers_give_null(rdap_url: str, ip: str) -> None:
    from delist_bot.evidence import rdap

    assert rdap.lookup(rdap_url, ip, 3.0) is None


def test_rdap_follows_one_hop_on_the_configured_host(rdap_url: str) -> None:
    from delist_bot.evidence import rdap

    found = rdap.lookup(rdap_url, "81.2.69.97", 3.0)
    assert found is not None and found.name == "GOODMAIL-NET"


@pytest.mark.parametrize(
    ("ptr", "domain", "expected"),
    [
        ("mail.example.co.uk", "example.co.uk", True),
        ("mail.example.co.uk", "other.co.uk", False),
        ("co.uk", "co.uk", False),  # a public suffix is nobody's
        ("host.github.io", "github.io", False),  # private suffixes count too
        (None, "example.com", None),
    ],
)
def test_registrable_domain_match(ptr: str | None, domain: str, expected: bool | None) -> None:
    assert same_owner(ptr, domain) is expected
