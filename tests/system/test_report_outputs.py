"""The report as operators get it: a page in a real Chromium, the digest by mail, status."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.services.demo import run_demo
from delist_bot.store import Store
from tests.conftest import TESTS, delist_bot
from tests.support.servers import SmtpServer

SCREENSHOTS = TESTS.parent / "build"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def write_config(folder: Path, smtp: str) -> Path:
    path = folder.parent / "delist-bot.toml"
    path.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{folder / "maildir"}"\n{smtp}\n'
        f'[store]\npath = "{folder / "store.json"}"\n'
        '[review]\nreviewers = ["rev@d.example"]\noperators = ["ops@d.example"]\n'
    )
    return path


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    folder = run_demo(tmp_path / "demo").folder
    delist_bot(
        "cases",
        "decide",
        "DL-000001",
        "approve",
        "--config",
        str(
            write_config(
                folder,
                f'[smtp]\nkind = "files"\npath = "{folder / "outbox"}"\n'
                'from_address = "delist@d.example"',
            )
        ),
    )
    return tmp_path / "delist-bot.toml"


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (./scripts/test installs it)")
    profile = tempfile.mkdtemp(prefix="delist-chromium-")
    try:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_messages(stderr: str) -> list[str]:
    return re.findall(r"CONSOLE[^\]]*\] (.*)", stderr)


def test_console_errors_are_seen(tmp_path: Path) -> None:
    """The check below can fail: a page with an error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>missing();</script></body></html>")
    assert console_messages(chromium(page.as_uri(), "--dump-dom").stderr)


def test_the_html_report_in_chromium(demo_config: Path) -> None:
    page = demo_config.parent / "report.html"
    result = delist_bot(
        "report", "--config", str(demo_config), "--format", "html", "--output", str(page)
    )
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must be self-contained"

    dom = chromium(page.as_uri(), "--dump-dom")
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count("<svg") == 3
    for title in ("Open cases by age", "Requests and decisions per day", "Time to first contact"):
        assert f">{title}</title>" in dom.stdout  # each chart is named for a screen reader
    assert dom.stdout.count('class="axis-label"') == 6
    assert dom.stdout.count("The figures as a table") == 3
    assert "48-hour promise" in dom.stdout and "DL-000001" in dom.stdout

    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "report.png"
    shot.unlink(missing_ok=True)
    taken = chromium(page.as_uri(), "--window-size=1000,2600", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000, taken.stderr[-500:]


def test_the_digest_reaches_the_operators_with_both_parts(tmp_path: Path) -> None:
    folder = run_demo(tmp_path / "demo").folder
    server = SmtpServer.start()
    try:
        config = write_config(
            folder,
            f'[smtp]\nkind = "smtp"\nhost = "127.0.0.1"\n'
            f'port = {server.port}\nsecurity = "none"\n'
            'from_address = "delist@d.example"',
        )
        result = delist_bot("report", "--config", str(config), "--email")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "digest sent to ops@d.example"
        [(envelope, msg)] = server.recorder.messages
    finally:
        server.stop()
    assert envelope.rcpt_tos == ["ops@d.example"]
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Delist-Bot-Action"] == "digest"
    assert msg["Subject"].startswith("delist-bot daily digest: 2 open")
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert "Open cases by age" in parsed.get_body(("plain",)).get_content()
    assert parsed.get_body(("html",)).get_content().count("<svg") == 3


def test_status(demo_config: Path) -> None:
    healthy = delist_bot("status", "--config", str(demo_config))
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.splitlines()[-1] == "healthy"
    assert "outbox:           1 pending, 0 failed" in healthy.stdout  # the approval's reply

    # The last poll as a stopped worker leaves it: ten minutes, over three 60 s intervals, ago.
    with Store(demo_config.parent / "demo" / "store.json").transaction() as tx:
        tx.state.set("last_poll", (datetime.now(UTC) - timedelta(minutes=10)).isoformat())
    stale = delist_bot("status", "--config", str(demo_config))
    assert stale.returncode == 1
    assert re.fullmatch(
        r"delist-bot: unhealthy: last successful poll \d+ min ago "
        r"\(more than 3 intervals\)\n",
        stale.stderr,
    )
