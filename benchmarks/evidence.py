"""Evidence's cost, side by side in one run: a request's own cost (extract, then process it into a
store), gathering its evidence with every lookup answered from the cache, gathering it from a
real NSD and RDAP server (cold), and gathering it while DNS never answers.

Run: python -m benchmarks.evidence [N]. Targets: cached lookups add at most 50 ms to a request;
with DNS silent, gathering (one request, or a whole group at once) ends within timeout_seconds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from delist_bot.core.settings import Sender
from delist_bot.core.settings import Settings as PipelineSettings
from delist_bot.evidence.gather import Gatherer, Settings, same_owner
from delist_bot.ndr import extract
from delist_bot.runtime.pipeline import process
from delist_bot.store import Store
from tests.support.builder import microsoft_511
from tests.support.dns_server import DnsServer, silent_server
from tests.support.evidence_zones import ZONES, rdap_server

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TIMEOUT = 1.0


def request(n: int) -> bytes:
    return (
        f"From: <pm{n}@goodmail.test>\nTo: delist@d.example\nSubject: delist {n}\n"
        f"Message-ID: <bench-{n}@goodmail.test>\n\nPlease delist.\n\n"
        f"Remote Server returned '{microsoft_511('81.2.69.10')}'\n"
    ).encode()


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def timed(work, count: int) -> list[float]:
    spent = []
    for n in range(count):
        started = time.perf_counter()
        work(n)
        spent.append(time.perf_counter() - started)
    return spent


def main(count: int = 200) -> None:
    folder = Path(tempfile.mkdtemp(prefix="delist-evidence-"))
    store = Store(folder / "store.json")
    settings = PipelineSettings(sender=Sender.from_address("delist@d.example"), secret="s")

    def baseline(n: int) -> None:
        raw = request(n)
        with store.transaction() as tx:
            process(tx, str(n), raw, NOW, settings, extraction=extract(raw))

    own = timed(baseline, count)
    nsd = DnsServer(folder / "nsd", ZONES)
    nsd.start()
    try:
        with rdap_server() as url:
            same_owner("mail.goodmail.test", "goodmail.test")  # loads the public suffix list
            fresh = Settings((nsd.address,), ("bl.test",), url, TIMEOUT)
            fresh_ones = [Gatherer(fresh) for _ in range(5)]
            cold = timed(lambda n: fresh_ones[n].gather("81.2.69.10", "pm@goodmail.test"), 5)
            for each in fresh_ones:
                each.close()
            gatherer = Gatherer(fresh)
            gatherer.gather("81.2.69.10", "pm@goodmail.test")
            asked = gatherer.resolver.asked
            cached = timed(lambda n: gatherer.gather("81.2.69.10", "pm@goodmail.test"), count)
            assert gatherer.resolver.asked == asked, "a cached gather went to the server"
            gatherer.close()
    finally:
        nsd.stop()
    with silent_server() as address:
        silent = Gatherer(Settings((address,), ("bl.test",), "", TIMEOUT))
        one = timed(lambda n: silent.gather(f"81.2.69.{n + 1}", "pm@goodmail.test"), 3)
        started = time.perf_counter()
        silent.gather_many([(f"81.2.70.{n}", f"pm{n}@goodmail.test") for n in range(50)])
        group = time.perf_counter() - started
        silent.close()

    added = median_ms(cached)
    print(f"requests: {count}; timeout_seconds: {TIMEOUT}")
    print(f"{'measure':<48}{'median':>12}{'ratio':>22}")
    print(f"{'a request (extract + process + commit)':<48}{median_ms(own):>9} ms{'1.00':>22}")
    ratio = f"{added / median_ms(own):.2f} of a request"
    print(f"{'evidence, every lookup from the cache':<48}{added:>9} ms{ratio:>22}")
    print(f"{'evidence, no cache (NSD + RDAP on loopback)':<48}{median_ms(cold):>9} ms{'':>22}")
    print(
        f"{'evidence, DNS never answers (one request)':<48}{median_ms(one):>9} ms"
        f"{max(one) / TIMEOUT:>13.2f} of timeout"
    )
    print(
        f"{'evidence, DNS never answers (50 at once)':<48}{group * 1000:>9.2f} ms"
        f"{group / TIMEOUT:>13.2f} of timeout"
    )
    verdict = (
        "met" if added <= 50 and max(one) <= TIMEOUT * 1.1 and group <= TIMEOUT * 1.1 else "MISSED"
    )
    print(f"targets (cached <= 50 ms; silent DNS within timeout_seconds): {verdict}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
