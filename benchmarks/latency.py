"""Latency with IMAP IDLE: from a message landing in the mailbox to its acknowledgement being
accepted by the SMTP server, over 100 messages, with `delist-bot run` as operators run it.

Run: python -m benchmarks.latency [N]. Target: median under 2 seconds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.pipeline import append_all, requests
from delist_bot.core.models import Action
from delist_bot.core.rules import request_action
from delist_bot.ndr import extract
from tests.conftest import imap_settings
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_worker_imap import _write_toml


def answerable(count: int) -> list[bytes]:
    """Requests that get a reply (automatic mail, rightly, gets none)."""
    pool = [
        r
        for r in requests(3 * count, offset=5000)
        if request_action(extract(r)) is not Action.IGNORE
    ]
    return pool[:count]


def main(count: int = 100) -> None:
    folder = Path(tempfile.mkdtemp(prefix="delist-latency-"))
    folder.chmod(0o755)  # Dovecot's auth process reads below it
    (folder / "dovecot").mkdir()
    dovecot = Dovecot(folder / "dovecot")
    dovecot.start()
    smtp = SmtpServer.start()
    user = dovecot.add_user()
    # A slow poll: only IDLE can make the replies fast.
    settings = imap_settings(
        dovecot,
        user,
        smtp,
        folder / "store.json",
        schedule={"poll_seconds": 600},
        review={"reviewers": []},
        limits={"replies_per_sender": 1000, "replies_per_domain": 10**6},
    )
    log = open(folder / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "delist_bot",
            "-v",
            "run",
            "--config",
            str(_write_toml(folder, settings)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    latencies = []
    try:
        time.sleep(3)  # the first pass and the IDLE connection
        for message in answerable(count):
            before = len(smtp.recorder.accepted_at)
            landed = time.monotonic()
            append_all(dovecot, user, [message])
            deadline = landed + 60
            while len(smtp.recorder.accepted_at) == before and time.monotonic() < deadline:
                time.sleep(0.005)
            if len(smtp.recorder.accepted_at) == before:
                raise SystemExit("no reply within 60 s")
            latencies.append(smtp.recorder.accepted_at[before] - landed)
    finally:
        worker.terminate()
        worker.wait(30)
        smtp.stop()
        dovecot.stop()
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"messages: {count}; landing to acknowledgement accepted by SMTP:")
    print(
        f"  median {statistics.median(ordered):.2f} s, 95th percentile {p95:.2f} s, "
        f"max {ordered[-1]:.2f} s (target: median < 2 s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
