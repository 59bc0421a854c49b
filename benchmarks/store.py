"""History must not slow the present: the cost of one request with 0, 1k, 10k and 100k closed
cases (and a year of processed messages) in history, side by side in one run; a report over 100k
cases against the time to load them; and small mails naming unknown case ids against untagged
ones over 20k archived cases (a lookup by id reads the index, never every shard).

Run: python -m benchmarks.store [MAX_CASES]   or   python -m benchmarks.store ids
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.pipeline import requests
from delist_bot.core import cases
from delist_bot.core.review import Command
from delist_bot.core.settings import Sender, Settings
from delist_bot.reports import views
from delist_bot.reports.figures import QueueData, build_report
from delist_bot.runtime.pipeline import process
from delist_bot.store import Store, case_to_doc

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SETTINGS = Settings(
    sender=Sender.from_address("delist@d.example"),
    reviewers=("r@d.example",),
    secret="s",
    replies_per_sender=10**6,
    replies_per_domain=10**6,
)
BATCH = 50
ROUNDS = 4


def with_history(folder: Path, closed: int, messages_per_day: int) -> Store:
    """A store whose archive holds CLOSED decided cases and a year of message records."""
    store = Store(folder / "store.json")
    from delist_bot.core.models import Extraction

    docs = []
    for n in range(closed):
        ip = f"{11 + n % 200}.{(n // 200) % 250}.{n % 250}.{n % 7 + 1}"
        start = NOW - timedelta(days=8 + n % 350, hours=n % 24)
        request = Extraction(
            message_id=f"<h{n}@x>",
            sender=f"s{n}@x.example",
            ndr_code="5.7.511",
            ip=ip,
            evidence="550 5.7.511 Access denied",
            language="en",
        )
        case = cases.open_case(n + 1, request, start)
        word = ("approve", "deny", "close")[n % 3]
        docs.append(
            case_to_doc(
                cases.apply_command(
                    case, Command(word, ""), "r@d.example", start + timedelta(hours=20)
                ).case
            )
        )
    store.archive.append("cases", docs)
    records = (
        {
            "key": f"mid:<m{d}-{i}@x>",
            "received_at": (NOW - timedelta(days=d)).isoformat(),
            "action": "review",
            "ip": "81.2.69.1",
        }
        for d in range(3, 368)
        for i in range(messages_per_day)
    )
    store.archive.append("messages", list(records))
    with store.transaction() as tx:
        tx.state.set("case_counter", closed)
    return store


def cost_per_request(store: Store, raws: list[bytes], offset: int) -> float:
    """Seconds per request: batches of BATCH requests, each batch one transaction."""
    started = time.perf_counter()
    for start in range(0, len(raws), BATCH):
        with store.transaction() as tx:
            for i, raw in enumerate(raws[start : start + BATCH], start):
                process(tx, f"{offset}-{i}", raw, NOW, SETTINGS)
    return (time.perf_counter() - started) / len(raws)


def main(largest: int = 100_000) -> None:
    sizes = [0] + [n for n in (1_000, 10_000, 100_000) if n <= largest]
    stores = {}
    for size in sizes:
        started = time.perf_counter()
        stores[size] = with_history(Path(tempfile.mkdtemp()), size, 300 if size else 0)
        print(f"history of {size:>6} closed cases built in {time.perf_counter() - started:.1f} s")
    costs: dict[int, list[float]] = {size: [] for size in sizes}
    for round_ in range(ROUNDS):  # interleaved, so every size sees the same machine load
        raws = [r.replace(b"<bench-", b"<r%d-" % round_) for r in requests(200, round_ * 200)]
        for size in sizes:
            costs[size].append(cost_per_request(stores[size], raws, round_))
    base = statistics.median(costs[0])
    print(f"\nper-request cost, median of {ROUNDS} rounds of 200 requests (batches of {BATCH}):")
    for size in sizes:
        median = statistics.median(costs[size])
        print(
            f"  {size:>6} closed cases + a year of messages: {median * 1000:6.2f} ms "
            f"= {median / base:.2f}x empty history (target <= 1.3x)"
        )

    big = stores[sizes[-1]]
    started = time.perf_counter()
    loaded = QueueData(*big.history())
    load = time.perf_counter() - started
    started = time.perf_counter()
    figures = build_report(loaded, NOW, NOW - timedelta(days=7))
    views.as_json(figures)
    views.plain(figures)
    figures_time = time.perf_counter() - started
    print(
        f"\nreport over {len(loaded.cases)} cases and {len(loaded.messages)} message records: "
        f"load {load:.2f} s, figures and renderings {figures_time:.2f} s, "
        f"whole report {(load + figures_time) / load:.2f}x the load (target < 3x)"
    )


def small_mail(n: int, round_: int, tagged: bool) -> bytes:
    tag = f"[DL-{900_000 + n:06d}] " if tagged else ""
    return (
        f"From: s{n}@bench.example\r\nTo: delist@d.example\r\n"
        f"Subject: Re: {tag}our IP is still blocked\r\n"
        f"Message-ID: <id-{round_}-{n}-{tagged}@bench.example>\r\n\r\n"
        "Hello, is there any news on our request?\r\n"
    ).encode()


def cost_of_mails(path: Path, raws: list[bytes], label: str) -> float:
    """Seconds for RAWS, one transaction each, in a process that has not read the archive yet."""
    store = Store(path)
    started = time.perf_counter()
    for n, raw in enumerate(raws):
        with store.transaction() as tx:
            process(tx, f"{label}-{n}", raw, NOW, SETTINGS)
    return time.perf_counter() - started


def lookup_by_id(archived: int = 20_000, mails: int = 20) -> None:
    started = time.perf_counter()
    store = with_history(Path(tempfile.mkdtemp()), archived, 0)
    print(f"history of {archived} archived cases built in {time.perf_counter() - started:.1f} s")
    costs: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(ROUNDS * 2):  # interleaved: both kinds see the same machine load
        for tagged in (round_ % 2 == 0, round_ % 2 == 1):
            raws = [small_mail(n, round_, tagged) for n in range(mails)]
            costs[tagged].append(cost_of_mails(store.path, raws, f"{round_}-{tagged}"))
    tagged, untagged = statistics.median(costs[True]), statistics.median(costs[False])
    print(
        f"\n{mails} small mails over {archived} archived cases, median of {ROUNDS * 2} rounds:\n"
        f"  tagged with unknown ids [DL-9xxxxx]: {tagged * 1000:7.1f} ms\n"
        f"  untagged:                             {untagged * 1000:7.1f} ms\n"
        f"  ratio tagged / untagged: {tagged / untagged:.2f}x (target about 1x; reading every shard: 17-28x)"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["ids"]:
        lookup_by_id()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
        lookup_by_id()
