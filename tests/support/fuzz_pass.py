"""Hostile and broken mail through the whole pass: every message ends processed or quarantined.

`python -m tests.support.fuzz_pass 10000` is the long run; the suite runs a few hundred.
"""

from __future__ import annotations

import mailbox
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from delist_bot.ndr import INTERNAL_ERROR
from delist_bot.runtime.worker import Worker
from delist_bot.services.demo import demo_config
from tests.conftest import CORPUS, DATA_SAMPLES, SAMPLES

SEEDS = (
    sorted(SAMPLES.glob("*.eml"))
    + sorted(DATA_SAMPLES.glob("*.eml"))
    + sorted(CORPUS.glob("sisimai*/*.eml"))
)


def nested(depth: int) -> bytes:
    head = [b"From: deep@example.org\r\nSubject: nest\r\nMIME-Version: 1.0\r\n"]
    for i in range(depth):
        head.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
    return b"".join([*head, b"Content-Type: text/plain\r\n\r\n550 5.7.511 x\r\n"])


def mutate(raw: bytes, rng: random.Random, n: int) -> bytes:
    """One of the ways mail arrives broken, with a Message-ID of its own."""
    kind = n % 8
    if kind == 0:
        raw = raw[: rng.randrange(1, len(raw))]
    elif kind == 1:
        flipped = bytearray(raw)
        for _ in range(rng.randint(1, 60)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        raw = bytes(flipped)
    elif kind == 2:
        raw = raw.replace(b"boundary=", b"boundary=x", 1).replace(b"--outer-b--", b"")
    elif kind == 3:
        raw = raw.replace(
            b"charset=utf-8",
            rng.choice(
                [b"charset=no-such", b"charset=utf-16", b"charset=\x00bad", b"charset=iso-2022-jp"]
            ),
        )
    elif kind == 4:
        raw = b"Subject: " + b"A" * rng.randint(10_000, 300_000) + b"\r\n" + raw
    elif kind == 5:
        raw = nested(rng.choice([20, 90, 150, 2000]))
    elif kind == 6:
        raw = rng.randbytes(rng.randint(0, 5000))
    else:
        raw = raw.replace(
            b"Content-Transfer-Encoding: base64",
            b"Content-Transfer-Encoding: base64\n" + rng.randbytes(20),
        )
    return b"Message-ID: <fuzz-%d@example.org>\r\n" % n + raw


def run(count: int, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="delist-fuzz-"))
    config = demo_config(folder)
    inbox = mailbox.Maildir(Path(config.mailbox.path), create=True)
    for n in range(count):
        inbox.add(mutate(rng.choice(SEEDS).read_bytes(), rng, n))
    worker = Worker(config)
    outcomes: Counter[str] = Counter()
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    for result in worker.run_once(now).processed:
        outcomes[str(result.outcome)] += 1  # the value, as reports print it
        if result.outcome == "quarantined":
            assert result.reason, result
            assert not result.reason.startswith(("internal error", INTERNAL_ERROR)), result.reason
    left = len(mailbox.Maildir(Path(config.mailbox.path), create=False))
    assert left == 0, f"{left} messages left in the request folder"
    assert sum(outcomes.values()) == count
    return dict(outcomes)


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    started = time.perf_counter()
    outcomes = run(total)
    print(
        f"{total} hostile messages through the whole pass in {time.perf_counter() - started:.0f} s; "
        f"outcomes {outcomes}; no crash, none left behind, every quarantine with its reason"
    )
