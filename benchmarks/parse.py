"""Extraction speed against the stdlib parser on the same bytes, measured side by side.

Run: python -m benchmarks.parse [COUNT]. Prints messages per second for both and the ratio
(goal: extraction costs at most 2x email.message_from_bytes with policy.default).
"""

from __future__ import annotations

import email
import email.policy
import statistics
import sys
import textwrap
import time

from delist_bot.ndr import extract
from tests.support.builder import build_all

ROUNDS = 5


def realistic_messages(count: int) -> list[bytes]:
    """The built samples, each carrying a typical 15 KB original message, cycled to COUNT."""
    # Wrapped as mail clients wrap it: RFC 5322 allows no line over 998 octets.
    filler = textwrap.fill("Dear customer, here is the offer you asked for. " * 300, 72).encode()
    base = []
    for sample in build_all():
        raw = sample.raw
        if b"--outer-b--" in raw:
            attachment = (
                b"--outer-b\nContent-Type: text/plain; name=offer.txt\n"
                b"Content-Transfer-Encoding: 8bit\n\n" + filler + b"\n--outer-b--"
            )
            raw = raw.replace(b"--outer-b--", attachment, 1)
        else:
            raw = raw + b"\n\n" + filler
        base.append(raw)
    return [base[i % len(base)] for i in range(count)]


def _time(function, messages: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in messages:
        function(raw)
    return time.perf_counter() - started


def main(count: int = 2000) -> None:
    messages = realistic_messages(count)
    size = statistics.mean(len(m) for m in messages) / 1024
    baseline = lambda raw: email.message_from_bytes(raw, policy=email.policy.default)  # noqa: E731
    ratios, base_times, ours_times = [], [], []
    for _ in range(ROUNDS):  # interleaved, so both see the same machine load
        base_times.append(_time(baseline, messages))
        ours_times.append(_time(extract, messages))
        ratios.append(ours_times[-1] / base_times[-1])
    base, ours = min(base_times), min(ours_times)
    print(f"messages: {count}, mean size {size:.1f} KB, best of {ROUNDS} rounds")
    print(f"stdlib message_from_bytes(policy.default): {count / base:8.0f} msg/s")
    print(f"delist-bot extract:                         {count / ours:8.0f} msg/s")
    print(
        f"ratio extract / stdlib parse: median {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}); goal <= 2.00x"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
