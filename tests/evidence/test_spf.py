"""check_host() over records given as plain data (the lookup is its input): each mechanism,
qualifier and modifier of RFC 7208 once; the real DNS server's cases are in test_evidence.py."""

from __future__ import annotations

import pytest

from delist_bot.core.evidence import SpfResult
from delist_bot.evidence.dns import Answer, Status
from delist_bot.evidence.spf import check_host

RECORDS = {
    ("d.test", "TXT"): ("v=spf1 ip4:81.2.69.0/24 -all", "some other text"),
    ("v6.test", "TXT"): ("v=spf1 ip6:2a00:1450:4009::/48 ~all",),
    ("a.test", "TXT"): ("v=spf1 a/24 ?all",),
    ("a.test", "A"): ("81.2.70.1",),
    ("mx.test", "TXT"): ("v=spf1 mx:mx.test//64 -all",),
    ("mx.test", "MX"): ("m1.mx.test.",),
    ("m1.mx.test", "A"): ("81.2.71.5",),
    ("r.test", "TXT"): ("v=spf1 redirect=d.test",),
    ("rnone.test", "TXT"): ("v=spf1 redirect=nothing.test",),
    ("bad.test", "TXT"): ("v=spf1 ip4:999.1.1.1 -all",),
    ("unknownmech.test", "TXT"): ("v=spf1 frobnicate -all",),
    ("modifier.test", "TXT"): ("v=spf1 exp=explain.test foo=bar ip4:81.2.69.10 -all",),
    ("neutral.test", "TXT"): ("v=spf1 ip4:10.0.0.1",),
    ("macro.test", "TXT"): ("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all",),
    ("10.69.2.81.in-addr._spf.macro.test", "A"): ("127.0.0.2",),
    ("temp.test", "TXT"): None,
    # The requester's own record passing everyone: no evidence for this IP (neutral).
    ("plusall.test", "TXT"): ("v=spf1 +all",),
    ("halves.test", "TXT"): ("v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all",),
    ("inclall.test", "TXT"): ("v=spf1 include:plusall.test -all",),
    ("wide-a.test", "TXT"): ("v=spf1 a/1 -all",),
    ("wide-a.test", "A"): ("81.2.70.1",),
    ("v6wide.test", "TXT"): ("v=spf1 ip6:2000::/3 -all",),
}


def lookup(name: str, rdtype: str) -> Answer:
    found = RECORDS.get((name.rstrip(".").lower(), rdtype), ())
    if found is None:
        return Answer(Status.ERROR)
    return Answer(Status.OK, found) if found else Answer(Status.NXDOMAIN)


@pytest.mark.parametrize(
    ("ip", "domain", "expected"),
    [
        ("81.2.69.10", "d.test", SpfResult.PASS),
        ("81.2.70.10", "d.test", SpfResult.FAIL),
        ("2a00:1450:4009::25", "v6.test", SpfResult.PASS),
        ("2a00:1450:4010::25", "v6.test", SpfResult.SOFTFAIL),
        ("81.2.70.200", "a.test", SpfResult.PASS),  # a/24
        ("81.2.72.1", "a.test", SpfResult.NEUTRAL),
        ("81.2.71.5", "mx.test", SpfResult.PASS),
        ("81.2.71.6", "mx.test", SpfResult.FAIL),
        ("81.2.69.10", "r.test", SpfResult.PASS),
        ("81.2.69.10", "rnone.test", SpfResult.PERMERROR),  # redirect to no record
        ("81.2.69.10", "bad.test", SpfResult.PERMERROR),
        ("81.2.69.10", "unknownmech.test", SpfResult.PERMERROR),
        ("81.2.69.10", "modifier.test", SpfResult.PASS),
        ("81.2.69.10", "neutral.test", SpfResult.NEUTRAL),  # no match, no all
        ("81.2.69.10", "macro.test", SpfResult.PASS),
        ("81.2.69.11", "macro.test", SpfResult.FAIL),
        ("81.2.69.10", "temp.test", SpfResult.TEMPERROR),
        ("81.2.69.10", "nothing.test", SpfResult.NONE),
        ("81.2.69.10", "localhost", SpfResult.NONE),  # not a domain with a dot
        ("81.2.69.10", "x" * 64 + ".test", SpfResult.NONE),  # a label over 63
        ("81.2.69.10", "plusall.test", SpfResult.NEUTRAL),
        ("81.2.69.10", "halves.test", SpfResult.NEUTRAL),
        ("81.2.69.10", "inclall.test", SpfResult.FAIL),  # the include passes no one in particular
        ("81.2.69.10", "wide-a.test", SpfResult.NEUTRAL),
        ("2a00:1450:4009::25", "v6wide.test", SpfResult.NEUTRAL),
    ],
)
def test_check_host(ip: str, domain: str, expected: SpfResult) -> None:
    assert check_host(ip, domain, f"pm@{domain}", lookup) is expected
