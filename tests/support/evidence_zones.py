"""The test zones the evidence tests serve from NSD, and an RDAP server shaped like RIPE's.

81.2.69.0/24 is the test network: .10 is a clean mail server of goodmail.test, .11 has a PTR that
does not resolve back, .12 is othercorp.test's (spfpass.test's SPF authorises it), .13 is listed
in bl.test, .14 claims goodmail.test's name in its PTR without owning it (the attacker's case).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.dns_server import DnsServer


def _chunks(text: str) -> str:
    """TEXT as a TXT record's quoted strings (at most 255 bytes each)."""
    return " ".join(f'"{text[i : i + 250]}"' for i in range(0, len(text), 250))


MANY_INCLUDES = " ".join(f"include:i{n}.hostile.test" for n in range(150))
HUGE = " ".join(f"ip4:10.{n // 250}.{n % 250}.1" for n in range(3000))

ZONES: dict[str, list[str]] = {
    "goodmail.test": [
        '@ IN TXT "v=spf1 ip4:81.2.69.10 ip4:81.2.69.13 ip6:2a00:1450:4009::/48 -all"',
        "mail IN A 81.2.69.10",
        "liar IN A 81.2.69.99",
        "bl13 IN A 81.2.69.13",
        "mail6 IN AAAA 2a00:1450:4009::10",
    ],
    "othercorp.test": ["mx IN A 81.2.69.12", '@ IN TXT "v=spf1 -all"'],
    "spfpass.test": [
        '@ IN TXT "v=spf1 include:_spf.spfpass.test ~all"',
        '_spf IN TXT "v=spf1 a:relay.spfpass.test mx -all"',
        "relay IN A 81.2.69.12",
        "@ IN MX 10 mx.spfpass.test.",
        "mx IN A 81.2.69.50",
    ],
    "69.2.81.in-addr.arpa": [
        "10 IN PTR mail.goodmail.test.",
        "11 IN PTR liar.goodmail.test.",
        "12 IN PTR mx.othercorp.test.",
        "13 IN PTR bl13.goodmail.test.",
        "14 IN PTR mail.goodmail.test.",
    ],
    "9.0.0.4.0.5.4.1.0.0.a.2.ip6.arpa": [
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 IN PTR mail6.goodmail.test.",
    ],
    "bl.test": [
        "13.69.2.81 IN A 127.0.0.2",
        '13.69.2.81 IN TXT "listed: spam trap hits, see https://bl.test/81.2.69.13"',
    ],
    "hostile.test": [
        '@ IN TXT "v=spf1 include:hostile.test -all"',  # includes itself
        'loop-a IN TXT "v=spf1 include:loop-b.hostile.test -all"',
        'loop-b IN TXT "v=spf1 include:loop-a.hostile.test -all"',
        *(f'chain{n} IN TXT "v=spf1 include:chain{n + 1}.hostile.test -all"' for n in range(12)),
        'chain12 IN TXT "v=spf1 ip4:81.2.69.0/24 -all"',
        f"many IN TXT {_chunks('v=spf1 ' + MANY_INCLUDES + ' -all')}",
        *(f'i{n} IN TXT "v=spf1 -all"' for n in range(150)),
        f"huge IN TXT {_chunks('v=spf1 ' + HUGE + ' ip4:81.2.69.10 -all')}",
        'voids IN TXT "v=spf1 a:nx1.hostile.test a:nx2.hostile.test a:nx3.hostile.test +all"',
        'twice IN TXT "v=spf1 +all"',
        'twice IN TXT "v=spf1 -all"',
        'macro IN TXT "v=spf1 exists:%{i}.ok.hostile.test -all"',
        "81.2.69.10.ok IN A 127.0.0.2",
        *(f"c{n} IN CNAME c{n + 1}" for n in range(30)),
        'c30 IN TXT "v=spf1 +all"',
        "cname IN CNAME c0",
    ],
}


def ripe_answer(ip: str) -> dict:
    """An answer shaped like rdap.db.ripe.net's for an IPv4 network."""
    return {
        "objectClassName": "ip network",
        "handle": "81.2.69.0 - 81.2.69.255",
        "startAddress": "81.2.69.0",
        "endAddress": "81.2.69.255",
        "ipVersion": "v4",
        "name": "GOODMAIL-NET",
        "type": "ASSIGNED PA",
        "country": "GB",
        "rdapConformance": ["cidr0", "rdap_level_0", "nro_rdap_profile_0"],
        "cidr0_cidrs": [{"v4prefix": "81.2.69.0", "length": 24}],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "GM-RIPE",
                "roles": ["registrant"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "GM"]]],
            },
            {
                "objectClassName": "entity",
                "handle": "AR123-RIPE",
                "roles": ["abuse"],
                "vcardArray": [
                    "vcard",
                    [
                        ["version", {}, "text", "4.0"],
                        ["fn", {}, "text", "Abuse contact"],
                        ["kind", {}, "text", "group"],
                        ["email", {}, "text", "abuse@goodmail.test"],
                    ],
                ],
            },
        ],
        "links": [{"href": f"https://rdap.db.ripe.net/ip/{ip}", "rel": "self"}],
    }


class _Rdap(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ip = self.path.rsplit("/", 1)[-1]
        if ip == "81.2.69.99":  # sends us to a host that is no registry
            self._send(302, b"", {"Location": "http://evil.test/ip/81.2.69.99"})
        elif ip == "81.2.69.98":  # an endless answer
            self._send(200, b"[" * 400_000)
        elif ip == "81.2.69.97":  # one hop to a path on the same (configured) host
            self._send(301, b"", {"Location": "/ip/81.2.69.10"})
        elif ip.startswith(("81.2.69.", "2a00")):
            self._send(200, json.dumps(ripe_answer(ip)).encode())
        else:
            self._send(404, b'{"errorCode": 404}')

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def rdap_server() -> Iterator[str]:
    """An RDAP base URL on loopback: http://127.0.0.1:PORT/ip/."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rdap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ip/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    """NSD serving ZONES on a free loopback port."""
    server = DnsServer(tmp_path_factory.mktemp("nsd"), ZONES)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rdap_url() -> Iterator[str]:
    with rdap_server() as url:
        yield url
