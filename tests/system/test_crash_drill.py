"""The crash drill: a worker killed with SIGKILL again and again over a few hundred requests.

At the end every request has exactly one answer of the right kind, the store opens and INBOX is
empty. The one window that can repeat a reply (killed after the SMTP server accepted it, before
the store recorded that) is counted, not hidden.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from delist_bot.ndr import extract
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, imap_settings
from tests.support.imap_helpers import count, deliver
from tests.support.servers import Dovecot, Recorder, SmtpServer
from tests.system.test_worker_imap import _write_toml

REQUESTS = int(os.environ.get("DELIST_BOT_DRILL_REQUESTS", "240"))
KILLS = int(os.environ.get("DELIST_BOT_DRILL_KILLS", "25"))
TEMPLATES = {
    "review": DATA_SAMPLES / "01-review-attached-en.eml",
    "portal": DATA_SAMPLES / "04-portal-redirected-bounce.eml",
    "consumer": DATA_SAMPLES / "05-consumer-outlook-com.eml",
    "other": DATA_SAMPLES / "06-other-spamhaus.eml",
    "need_info": DATA_SAMPLES / "07-need-info-placeholder.eml",
}
FAILPOINTS = ("store_write", "after_commit", "smtp_before_send", "smtp_accepted", None)
MAILS_PER_WAVE = 8  # a wave of requests makes at least this many mails (a reply each)


def kill_after_mails(process: subprocess.Popen, recorder: Recorder, mails: int) -> None:
    """SIGKILL the pass once the SMTP server has accepted MAILS more mails: by progress, not
    by a sleep, so the kill lands mid-pass on a fast machine and a slow one alike."""
    target = len(recorder.messages) + mails
    while process.poll() is None:
        if len(recorder.messages) >= target:
            process.send_signal(signal.SIGKILL)
            return
        time.sleep(0.002)  # a polling interval, not a wait for an outcome


def requests() -> list[tuple[bytes, str]]:
    """REQUESTS distinct requests from distinct senders; every review names its own IP."""
    made = []
    kinds = list(TEMPLATES)
    for n in range(REQUESTS):
        kind = kinds[n % len(kinds)]
        raw = TEMPLATES[kind].read_bytes()
        original = extract(raw)
        raw = raw.replace(original.message_id.encode(), f"<drill-{n}@example.org>".encode())
        raw = raw.replace(original.sender.encode(), f"sender{n}@drill.example.org".encode())
        raw = raw.replace(b"81.2.69.142", f"81.2.{n // 200 + 70}.{n % 200 + 1}".encode())
        made.append((raw, kind))
    return made


def run_pass(
    config_file: Path,
    failpoint: str | None,
    rng: random.Random,
    now: str | None = None,
    recorder: Recorder | None = None,
):
    env = {**os.environ}
    env.pop("DELIST_BOT_FAILPOINT", None)
    if failpoint:
        env["DELIST_BOT_FAILPOINT"] = failpoint
    command = [sys.executable, "-m", "delist_bot", "run", "--once", "--config", str(config_file)]
    process = subprocess.Popen(
        command + (["--now", now] if now else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if recorder is not None:  # a kill at a random moment of the pass, whatever the machine's speed
        kill_after_mails(process, recorder, rng.randint(1, MAILS_PER_WAVE))
    _, stderr = process.communicate(timeout=600)
    return process.returncode, stderr


def test_sigkill_at_any_moment_loses_nothing(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    rng = random.Random(20261127)
    settings = imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "store.json",
        limits={"replies_per_sender": 100, "replies_per_domain": 1000},
    )
    config_file = _write_toml(tmp_path, settings)
    made = requests()
    wave = -(-REQUESTS // KILLS)

    kills: Counter[str] = Counter()
    for k in range(KILLS):  # requests keep arriving, so every kill lands in the middle of work
        deliver(dovecot, imap_user, [raw for raw, _ in made[k * wave : (k + 1) * wave]])
        failpoint = FAILPOINTS[k % len(FAILPOINTS)]
        most = 4 if failpoint == "store_write" else 8  # a pass writes its store a few times only
        setting = f"{failpoint}:{rng.randint(1, most)}" if failpoint else None
        recorder = None if failpoint else smtp_server.recorder
        code, stderr = run_pass(config_file, setting, rng, recorder=recorder)
        assert "Traceback" not in stderr, stderr
        if code == -signal.SIGKILL:
            kills[failpoint or "random moment"] += 1
    assert sum(kills.values()) >= 20, kills

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()  # orphaned claims are due
    for _ in range(3):
        code, stderr = run_pass(config_file, None, rng, now=later)
        assert code == 0, stderr

    replies = [
        m
        for _, m in smtp_server.recorder.messages
        if not m["X-Delist-Bot-Action"].startswith("reviewer_")
    ]
    per_request = Counter(m["In-Reply-To"] for m in replies)
    kinds = {m["In-Reply-To"]: m["X-Delist-Bot-Action"] for m in replies}
    repeated = {mid: n for mid, n in per_request.items() if n > 1}
    for n, (_, kind) in enumerate(made):
        mid = f"<drill-{n}@example.org>"
        assert per_request[mid] >= 1, f"request {n} got no answer"
        assert kinds[mid] == kind
    print(
        f"\ncrash drill: {REQUESTS} requests, kills {dict(kills)}, "
        f"replies {len(replies)}, requests answered twice {len(repeated)}"
    )
    # Only a kill between the SMTP server's acceptance and the store's record can repeat a reply.
    assert len(repeated) <= kills["smtp_accepted"] + kills["random moment"]
    assert all(n == 2 for n in repeated.values())

    store = Store(Path(settings["store"]["path"]))
    with store.transaction() as tx:
        assert len(tx.state.get("seen")) == REQUESTS
        assert tx.outbox.all() == []  # everything sent has left the hot store
    _, messages, outbox, _ = store.history()
    assert len({m["key"] for m in messages}) == REQUESTS
    assert {m.status for m in outbox} == {"sent"}
    assert count(dovecot, imap_user, "INBOX") == 0
    assert count(dovecot, imap_user, "Processed") == REQUESTS
