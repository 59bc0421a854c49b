"""End to end: N realistic requests in a real Dovecot, one worker pass, replies to a local SMTP.

Run: python -m benchmarks.pipeline [N]. Compares, in the same run, with the floor: fetching the
same messages with BODY.PEEK[] in batches and parsing them with the standard library.
Prints messages per second, seconds per stage, peak memory, and the ratio (target <= 3x).
"""

from __future__ import annotations

import cProfile
import email
import email.policy
import pstats
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import imapclient

from benchmarks.parse import realistic_messages
from delist_bot.config import from_dict
from delist_bot.worker import Worker
from tests.conftest import imap_settings
from tests.servers import PASSWORD, Dovecot, SmtpServer

STAGES = {
    "fetch": ("mailbox/imap.py",),
    "parse and extract": ("ndr/",),
    "decide": ("rules.py", "pipeline.py:plan", "cases.py", "review.py"),
    "store": ("store.py", "tinydb"),
    "render": ("replies.py", "outgoing.py", "jinja2", "email/generator", "email/message"),
    "send": ("transport.py", "smtplib"),
}


def requests(count: int) -> list[bytes]:
    """Realistic forwards of every action (~20 KB), each with its own Message-ID and sender."""
    made = []
    for n, raw in enumerate(realistic_messages(count)):
        raw = raw.replace(b"Message-ID: <", b"Message-ID: <bench-%d-" % n, 1)
        raw = raw.replace(b"postmaster@example.org", b"admin%d@bench.example.org" % n)
        raw = raw.replace(b"81.2.69.142", b"81.2.%d.%d" % (n // 200 + 70, n % 200 + 1))
        made.append(raw + b"\n" + b"Lorem ipsum dolor sit amet. " * 150)
    return made


def append_all(dovecot: Dovecot, user: str, messages: list[bytes]) -> None:
    client = imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=60)
    client.login(user, PASSWORD)
    for raw in messages:
        client.append("INBOX", raw)
    client.logout()


def floor(dovecot: Dovecot, user: str, batch: int = 50) -> float:
    """Fetch every message with BODY.PEEK[] in batches and parse it with the stdlib."""
    started = time.perf_counter()
    client = imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=60)
    client.login(user, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    for start in range(0, len(uids), batch):
        for data in client.fetch(uids[start : start + batch], ["BODY.PEEK[]"]).values():
            email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
    client.logout()
    return time.perf_counter() - started


def stage_seconds(profile: cProfile.Profile) -> dict[str, float]:
    """Own time of every function, attributed to the stage whose file it lives in."""
    totals: Counter[str] = Counter()
    for (path, _line, name), (_cc, _nc, own, _ct, _callers) in pstats.Stats(profile).stats.items():
        where = f"{path}:{name}"
        stage = next((s for s, marks in STAGES.items() if any(m in where for m in marks)), "other")
        totals[stage] += own
    return dict(totals)


def one_pass(
    dovecot: Dovecot,
    smtp: SmtpServer,
    messages: list[bytes],
    profile: cProfile.Profile | None = None,
) -> tuple[float, float, int]:
    """(floor seconds, pass seconds, replies sent) for MESSAGES in a fresh mailbox."""
    user = dovecot.add_user()
    append_all(dovecot, user, messages)
    floor_seconds = floor(dovecot, user)
    store = Path(tempfile.mkdtemp()) / "store.json"
    config = from_dict(
        imap_settings(dovecot, user, smtp, store, limits={"replies_per_sender": 1000}), {}
    )
    worker = Worker(config)
    started = time.perf_counter()
    if profile:
        profile.enable()
    report = worker.run_once(datetime.now(UTC))
    if profile:
        profile.disable()
    return floor_seconds, time.perf_counter() - started, len(report.sent)


def main(count: int = 1000) -> None:
    dovecot = Dovecot(Path(tempfile.mkdtemp(prefix="delist-bench-")))
    dovecot.start()
    smtp = SmtpServer.start()
    profile = cProfile.Profile()
    try:
        messages = requests(count)
        size = sum(map(len, messages)) / len(messages) / 1024
        floor_seconds, ours, sent = one_pass(dovecot, smtp, messages)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        one_pass(dovecot, smtp, requests(min(count, 300)), profile)  # stages, on a sample
    finally:
        smtp.stop()
        dovecot.stop()
    print(f"requests: {count}, mean size {size:.1f} KB; mail sent {sent}")
    print(f"floor (fetch BODY.PEEK[] + stdlib parse): {count / floor_seconds:7.0f} msg/s")
    print(f"delist-bot pass (fetch..send):            {count / ours:7.0f} msg/s ({ours:.1f} s)")
    print(f"ratio pass / floor: {ours / floor_seconds:.2f}x per message (target <= 3x)")
    print(
        f"peak memory of this process: {peak_mb:.0f} MB (target < 150 MB; it also runs the "
        "SMTP server and holds the generated requests)"
    )
    stages = stage_seconds(profile)
    total = sum(stages.values())
    print("share of time by stage (profiled pass over a sample):")
    for stage in (*STAGES, "other"):
        print(f"  {stage:<18} {stages.get(stage, 0) / total:5.1%}")
    if "--profile" in sys.argv:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1000)
