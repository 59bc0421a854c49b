"""Hostile mail against ordinary mail, side by side in one run.

Run: python -m benchmarks.hostile [ROUNDS]. Two figures:
- per message: every .eml up to 120 KB under tests/hostile/ is extracted against an ordinary
  request padded to the same size (a real sample from tests/samples); the worst and the median
  time and ratio (targets: every message under 100 ms and within 5x of its ordinary twin);
- per pass: `delist-bot run --once` (Maildir mailbox, files outbox) over 25 hostile and 40
  ordinary requests against 65 ordinary (target: about as long), and whether every ordinary
  requester was answered in that pass.
"""

from __future__ import annotations

import mailbox
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.pipeline import requests
from delist_bot.ndr import extract

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "hostile"
ORDINARY = ROOT / "tests" / "samples" / "006-exim-old-511-outlook-it.eml"
MAX_BYTES = 120 * 1024
PAD_LINE = b"Dear customer, here is the offer you asked for, as agreed on the phone.\n"
TARGET_MS, TARGET_RATIO = 100.0, 5.0


def hostile_files() -> list[Path]:
    return sorted(p for p in HOSTILE.glob("**/*.eml") if p.stat().st_size <= MAX_BYTES)


def ordinary_of_size(size: int) -> bytes:
    """A real request with ordinary prose appended until it is SIZE bytes long."""
    raw = ORDINARY.read_bytes() + b"\n"
    return raw + PAD_LINE * max(0, (size - len(raw)) // len(PAD_LINE))


def _seconds(raw: bytes) -> float:
    started = time.perf_counter()
    extract(raw)
    return time.perf_counter() - started


def per_message(rounds: int) -> list[tuple[str, int, float, float]]:
    """(file, size, hostile seconds, ordinary seconds): the best of ROUNDS each, the two
    taken in turn within every round so that both see the same machine load."""
    rows = []
    for path in hostile_files():
        raw = path.read_bytes()
        twin = ordinary_of_size(len(raw))
        hostile = ordinary = float("inf")
        for _ in range(rounds):
            hostile = min(hostile, _seconds(raw))
            ordinary = min(ordinary, _seconds(twin))
        rows.append((str(path.relative_to(HOSTILE)), len(raw), hostile, ordinary))
    return rows


def print_per_message(rows: list[tuple[str, int, float, float]]) -> None:
    print(f"{'hostile message':52} {'KB':>5} {'ms':>7} {'ordinary':>8} {'ratio':>6}")
    for name, size, hostile, ordinary in sorted(rows, key=lambda r: r[2] / r[3], reverse=True):
        print(
            f"{name:52} {size / 1024:5.0f} {hostile * 1e3:7.2f} {ordinary * 1e3:8.2f} "
            f"{hostile / ordinary:5.1f}x"
        )
    times = [r[2] * 1e3 for r in rows]
    ratios = [r[2] / r[3] for r in rows]
    print(
        f"\n{len(rows)} messages up to {MAX_BYTES // 1024} KB: "
        f"time worst {max(times):.1f} ms, median {statistics.median(times):.2f} ms "
        f"(target < {TARGET_MS:.0f} ms); ratio to an ordinary request of the same size "
        f"worst {max(ratios):.1f}x, median {statistics.median(ratios):.1f}x "
        f"(target <= {TARGET_RATIO:.0f}x)"
    )


# --- a whole pass --------------------------------------------------------------------------


def hostile_requests(count: int) -> list[bytes]:
    """COUNT hostile messages, cycled, each with its own Message-ID and sender."""
    files = hostile_files()
    made = []
    for n in range(count):
        raw = files[n % len(files)].read_bytes()
        raw = re.sub(
            rb"(?im)^Message-ID:[^\n]*", b"Message-ID: <hostile-pass-%d@x.example>" % n, raw
        )
        made.append(raw.replace(b"postmaster@example.org", b"hostile%d@example.org" % n))
    return made


def run_pass(folder: Path, messages: list[bytes]) -> float:
    """Seconds for one `delist-bot run --once` over MESSAGES in a fresh Maildir."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    inbox = mailbox.Maildir(folder / "maildir", create=True)
    for raw in messages:
        inbox.add(raw)
    config = folder / "delist-bot.toml"
    config.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{folder / "maildir"}"\n'
        f'[smtp]\nkind = "files"\npath = "{folder / "outbox"}"\n'
        'from_address = "delist@bench.example"\n'
        f'[store]\npath = "{folder / "store.json"}"\n'
        '[review]\nreviewers = ["reviewer@bench.example"]\n'
    )
    command = [sys.executable, "-m", "delist_bot", "run", "--once", "--config", str(config)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    spent = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run --once failed: {done.stderr.strip()}")
    return spent


def answered(folder: Path, senders: list[bytes]) -> int:
    """How many of SENDERS got a reply in the files outbox."""
    mails = [p.read_bytes() for p in (folder / "outbox").glob("*.eml")]
    return sum(
        any(b"To: " + s in mail or b"<" + s + b">" in mail for mail in mails) for s in senders
    )


def per_pass(rounds: int) -> None:
    ordinary = requests(65)
    mixed = hostile_requests(25) + ordinary[:40]
    senders = [re.search(rb"admin\d+@bench\.example\.org", raw).group() for raw in ordinary[:40]]
    best_mixed = best_plain = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            best_mixed = min(best_mixed, run_pass(Path(tmp) / "mixed", mixed))
            got = answered(Path(tmp) / "mixed", senders)
            best_plain = min(best_plain, run_pass(Path(tmp) / "plain", ordinary))
            expected = answered(Path(tmp) / "plain", senders)  # automatic mail gets no reply
    print(
        f"\n`run --once`, best of {rounds}: 25 hostile + 40 ordinary {best_mixed:.2f} s, "
        f"65 ordinary {best_plain:.2f} s: ratio {best_mixed / best_plain:.2f}x "
        f"(target about 1x)\nthe 40 ordinary requesters answered: {got} beside the hostile "
        f"mail, {expected} without it"
    )


def main(rounds: int = 5) -> None:
    print_per_message(per_message(rounds))
    per_pass(max(1, rounds // 2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
