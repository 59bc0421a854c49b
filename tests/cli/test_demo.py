"""The embedded default: `delist-bot demo` works with no server and no configuration."""

from __future__ import annotations

import email
from collections import Counter
from pathlib import Path

from delist_bot.services.demo import run_demo
from tests.conftest import delist_bot


def test_demo_answers_every_sample(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")
    actions = Counter(p.action for p in result.report.processed)
    assert actions == {
        "review": 3,
        "portal": 1,
        "consumer": 1,
        "other": 1,
        "need_info": 1,
        "ignore": 2,
    }
    written = sorted((tmp_path / "demo" / "outbox").glob("*.eml"))
    assert len(written) == len(result.report.sent) == 9
    kinds = Counter(
        email.message_from_bytes(p.read_bytes())["X-Delist-Bot-Action"] for p in written
    )
    assert kinds["duplicate"] == 1 and kinds["review"] == 2
    assert kinds["reviewer_notification"] == 2  # one per new case
    assert not list((tmp_path / "demo" / "maildir" / "new").iterdir())


def test_demo_twice_starts_clean(tmp_path: Path) -> None:
    for _ in range(2):
        result = delist_bot("demo", "--dir", str(tmp_path / "d"))
        assert result.returncode == 0, result.stderr
    assert "Seeded 9 sample requests" in result.stdout
    assert "9 mails written to" in result.stdout
    assert "case DL-000001" in result.stdout and "DL-000003" not in result.stdout
