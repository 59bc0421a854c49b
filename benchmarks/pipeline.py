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
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import imapclient

from benchmarks.parse import realistic_messages
from benchmarks.stages import MAIN_STAGES, StageClock
from delist_bot.config import load
from delist_bot.runtime.worker import Worker
from tests.conftest import imap_settings
from tests.support.servers import PASSWORD, Dovecot, free_port, wait_for_port
from tests.system.test_worker_imap import _write_toml as write_toml

LOREM = textwrap.fill("Lorem ipsum dolor sit amet. " * 150, 72).encode()


def requests(count: int, offset: int = 0) -> list[bytes]:
    """Realistic forwards of every action (~20 KB), each with its own Message-ID and sender."""
    made = []
    for n, raw in enumerate(realistic_messages(count), offset):
        # The Message-ID itself, not a Resent-Message-ID before it.
        raw = re.sub(rb"(\A|[\r\n])Message-ID: <", rb"\1Message-ID: <bench-%d-" % n, raw, count=1)
        raw = raw.replace(b"postmaster@example.org", b"admin%d@bench.example.org" % n)
        raw = raw.replace(b"81.2.69.142", b"81.2.%d.%d" % (n // 200 + 70, n % 200 + 1))
        made.append(raw + b"\n" + LOREM)
    return made


def append_all(dovecot: Dovecot, user: str, messages: list[bytes]) -> None:
    client = imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=60)
    client.login(user, PASSWORD)
    for raw in messages:
        client.append("INBOX", raw)
    client.logout()


def floor(dovecot: Dovecot, user: str, folder: str = "INBOX", batch: int = 50) -> float:
    """Fetch every message with BODY.PEEK[] in batches and parse it with the stdlib."""
    started = time.perf_counter()
    client = imapclient.IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=60)
    client.login(user, PASSWORD)
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    for start in range(0, len(uids), batch):
        for data in client.fetch(uids[start : start + batch], ["BODY.PEEK[]"]).values():
            email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
    client.logout()
    return time.perf_counter() - started


class SinkServer:
    """An SMTP server in its own process that accepts and drops everything, like a real MTA
    on another machine: it must not share this process's time."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "aiosmtpd.handlers.Sink",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def configure(dovecot: Dovecot, smtp: SinkServer, folder: Path) -> tuple[str, Path]:
    user = dovecot.add_user()
    settings = imap_settings(
        dovecot,
        user,
        smtp,
        folder / "store.json",  # type: ignore[arg-type]
        limits={"replies_per_sender": 100000, "replies_per_domain": 10**6},
    )
    return user, write_toml(folder, settings)


def one_pass(
    dovecot: Dovecot, smtp: SinkServer, count: int
) -> tuple[list[float], float, float, str]:
    """(floor runs s, pass s, peak MB of the worker process, its summary) over COUNT fresh
    requests. The floor runs once before the pass and twice after it, over the same messages
    in the folder the pass moved them to: the machine's load drifts, so the pass is compared
    with the mean of floors taken around it."""
    user, config_file = configure(dovecot, smtp, Path(tempfile.mkdtemp()))
    for start in range(0, count, 1000):  # never hold the whole backlog here either
        append_all(dovecot, user, requests(min(1000, count - start), offset=start))
    floors = [floor(dovecot, user)]
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "delist_bot", "run", "--once", "--config", str(config_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    floors += [floor(dovecot, user, "Processed") for _ in range(2)]
    return floors, seconds, peak, result.stdout.strip()


def timed_stages(
    dovecot: Dovecot, smtp: SinkServer, count: int, profile: cProfile.Profile | None
) -> tuple[StageClock, float]:
    """A pass over COUNT fresh requests in this process, with a clock on every stage."""
    user, config_file = configure(dovecot, smtp, Path(tempfile.mkdtemp()))
    append_all(dovecot, user, requests(count))
    worker = Worker(load(config_file))
    with StageClock().installed() as clock:
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        worker.run_once(datetime.now(UTC))
        if profile is not None:
            profile.disable()
        return clock, time.perf_counter() - started


def main(count: int = 1000) -> None:
    dovecot = Dovecot(Path(tempfile.mkdtemp(prefix="delist-bench-")))
    dovecot.start()
    smtp = SinkServer()
    try:
        floors, ours, peak_mb, summary = one_pass(dovecot, smtp, count)
        profile = cProfile.Profile() if "--profile" in sys.argv else None
        sample = min(count, 1000)
        clock, sample_seconds = timed_stages(dovecot, smtp, sample, profile)
    finally:
        smtp.stop()
        dovecot.stop()
    size = sum(map(len, requests(20))) / 20 / 1024
    print(f"requests: {count}, mean size {size:.1f} KB; worker: {summary}")
    floor_seconds = statistics.mean(floors)
    runs = ", ".join(f"{count / f:.0f}" for f in floors)
    print(f"floor (fetch BODY.PEEK[] + stdlib parse): {count / floor_seconds:7.0f} msg/s ({runs})")
    print(
        f"delist-bot run --once (fetch..send):      {count / ours:7.0f} msg/s ({ours:.1f} s, "
        "including the process start)"
    )
    print(f"ratio pass / floor: {ours / floor_seconds:.2f}x per message (target <= 3x)")
    print(f"peak memory of the worker process: {peak_mb:.0f} MB (target < 150 MB)")
    stages = clock.main_thread(sample_seconds)
    print(f"time by stage, per message (a pass over {sample} requests in this process):")
    for stage in (*MAIN_STAGES, "other"):
        share = stages[stage] / sample_seconds
        print(f"  {stage:<18} {stages[stage] / sample * 1000:5.2f} ms {share:6.1%}")
    send = clock.seconds["send"]
    print(
        f"  {'send':<18} {send / sample * 1000:5.2f} ms (the courier thread, beside the above; "
        "it includes the SMTP server's time)"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1000)
