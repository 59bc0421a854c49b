"""Bad input stays cheap and never raises: budgets, garbage, truncation and mutation."""

from __future__ import annotations

import os
import random
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delist_bot.core.models import Extraction
from delist_bot.ndr import INTERNAL_ERROR, extract
from tests.conftest import CORPUS, SAMPLES

SECONDS = 2.0
MEGABYTES = 200


def _nested(depth: int) -> bytes:
    head = [b"From: a@example.org\r\nSubject: nest\r\nMIME-Version: 1.0\r\n"]
    for i in range(depth):
        head.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
    tail = [b"--b%d--\r\n" % i for i in reversed(range(depth))]
    return b"".join([*head, b"Content-Type: text/plain\r\n\r\nhello\r\n", *tail])


def _huge_header() -> bytes:
    return (
        b"From: a@example.org\r\nSubject: " + b"x " * 500_000 + b"\r\n"
        b'Content-Type: text/plain; x="' + b"y " * 500_000 + b'"\r\n\r\n'
        b"550 5.7.511 Access denied, banned sender[81.2.69.142]\r\n"
    )


def _huge_message() -> bytes:
    line = b"550 5.7.511 Access denied, banned sender[81.2.69.142] padding padding\r\n"
    return b"From: a@example.org\r\nSubject: big\r\n\r\n" + line * (20 * 1024 * 1024 // len(line))


CASES: dict[str, Callable[[], bytes]] = {
    "20 MB message": _huge_message,
    "5,000 nested parts": lambda: _nested(5000),
    "1 MB headers": _huge_header,
    "binary garbage": lambda: random.Random(7).randbytes(5 * 1024 * 1024),
    "many flat parts": lambda: _flat_parts(3000),
}


def _flat_parts(count: int) -> bytes:
    parts = b"".join(
        b"--f\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count)
    )
    return (
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n"
        + parts
        + b"--f--\r\n"
    )


@pytest.mark.system  # timed
@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_cheap(name: str) -> None:
    raw = CASES[name]()
    started = time.perf_counter()
    result = extract(raw)
    elapsed = time.perf_counter() - started
    tracemalloc.start()  # measured on a second run: tracing slows Python down several times
    extract(raw)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert isinstance(result, Extraction)
    assert elapsed < SECONDS, f"{name}: {elapsed:.2f} s"
    assert peak < MEGABYTES, f"{name}: {peak:.0f} MB"


def test_over_budget_is_reported_not_parsed() -> None:
    result = extract(_huge_message())
    assert result.error and "limit" in result.error
    assert result.ndr_code is None
    assert "boundaries" in (extract(_nested(5000)).error or "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _assert_handled(extract(raw))


def _assert_handled(result: Extraction) -> None:
    """The extractor's safety net must not be what caught it: that would be a bug."""
    assert isinstance(result, Extraction)
    assert not (result.error or "").startswith(INTERNAL_ERROR), result.error


REAL = (
    sorted(SAMPLES.glob("*.eml"))
    + sorted((SAMPLES / "bugs").glob("*.eml"))
    + sorted(CORPUS.glob("sisimai*/*.eml"))  # empty where the shared corpus is absent
)


def _mutations(raw: bytes, rng: random.Random) -> list[bytes]:
    cut = rng.randrange(len(raw))
    flipped = bytearray(raw)
    for _ in range(20):
        flipped[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return [
        raw[:cut],
        bytes(flipped),
        raw.replace(b"boundary=", b"boundary=broken-", 1),
        raw.replace(b"charset=utf-8", b"charset=no-such-charset"),
        raw.replace(b"--outer-b--", b""),
        raw.replace(b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: x-uuencode"),
        b"Subject: " + b"=?utf-8?b?" + b"A" * 5000 + b"?=\r\n" + raw,
    ]


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_mutated_real_messages_never_raise(path: Path) -> None:
    rng = random.Random(path.name)
    for mutated in _mutations(path.read_bytes(), rng):
        _assert_handled(extract(mutated))


@settings(max_examples=int(os.environ.get("DELIST_BOT_FUZZ_EXAMPLES", "200")), deadline=None)
@given(st.sampled_from(REAL), st.integers(0, 2**32), st.integers(1, 40))
def test_random_mutations_never_raise(path: Path, seed: int, flips: int) -> None:
    rng = random.Random(seed)
    raw = bytearray(path.read_bytes())
    for _ in range(flips):
        position = rng.randrange(len(raw))
        raw[position] = rng.choice(b'\r\n:;=-<>[]"\\ \x00\xff' + bytes([rng.randrange(256)]))
    _assert_handled(extract(bytes(raw)))
