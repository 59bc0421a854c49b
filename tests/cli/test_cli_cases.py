"""`delist-bot cases` and `delist-bot blocklist`, run as an operator would, on a demo store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from delist_bot.services.demo import run_demo
from tests.conftest import delist_bot


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A configuration over the store the demo leaves: two open cases."""
    folder = run_demo(tmp_path / "demo").folder
    path = tmp_path / "delist-bot.toml"
    path.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{folder / "maildir"}"\n'
        f'[smtp]\nkind = "files"\npath = "{folder / "outbox"}"\nfrom_address = "delist@d.example"\n'
        f'[store]\npath = "{folder / "store.json"}"\n'
        '[review]\nreviewers = ["rev@d.example"]\n'
    )
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return delist_bot(*args[:2], "--config", str(config), *args[2:])


def test_list_and_show(config_file: Path) -> None:
    listed = cli(config_file, "cases", "list")
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [
        "DL-000002",
        "DL-000001",
    ]
    as_json = json.loads(cli(config_file, "cases", "list", "--status", "open", "--json").stdout)
    assert {c["id"] for c in as_json} == {"DL-000001", "DL-000002"}
    shown = cli(config_file, "cases", "show", "DL-000001").stdout
    assert "IP:            81.2.69.142" in shown
    assert "duplicate_request" in shown and "reply_review" in shown
    assert (
        json.loads(cli(config_file, "cases", "show", "dl-000001", "--json").stdout)["id"]
        == "DL-000001"
    )


def test_unknown_case_is_one_line(config_file: Path) -> None:
    for command in (("cases", "show", "DL-999999"), ("cases", "decide", "DL-999999", "approve")):
        result = cli(config_file, *command)
        assert result.returncode == 1
        assert result.stderr == "delist-bot: no case DL-999999\n"


def test_decide_from_the_terminal(config_file: Path) -> None:
    cli(config_file, "blocklist", "add", "81.2.69.0/24", "--reason", "trap hits")
    result = cli(
        config_file,
        "cases",
        "decide",
        "DL-000001",
        "approve",
        "--message",
        "clean now",
        "--reviewer",
        "rev@d.example",
    )
    assert result.returncode == 0, result.stderr
    assert "status delisted" in result.stdout
    assert "queued delisted to mario@mail.example.org" in result.stdout
    check = cli(config_file, "blocklist", "check", "81.2.69.142")
    assert check.returncode == 1 and "approved in DL-000001, within 81.2.69.0/24" in check.stdout
    assert cli(config_file, "blocklist", "check", "81.2.69.7").returncode == 0  # the rest stays
    listed = cli(config_file, "blocklist", "list").stdout
    assert "81.2.69.0/24" in listed and "81.2.69.142/32                 except" in listed
    again = cli(config_file, "cases", "decide", "DL-000001", "deny")
    assert again.returncode == 1 and "already delisted" in again.stderr
    assert (
        cli(config_file, "blocklist", "add", "81.2.69.142").stdout.strip()
        == "81.2.69.142/32: relisted"
    )
    assert cli(config_file, "blocklist", "check", "81.2.69.142").returncode == 0


def test_blocklist_commands(config_file: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# our list\n203.0.113.7 trap\n2001:db8::/48\nnot-an-ip\n\n")
    imported = cli(config_file, "blocklist", "import", str(listing))
    assert imported.stdout.strip() == "2 added, 0 relisted, 0 already listed; 1 line(s) skipped"
    assert "line 4" in imported.stderr
    check = cli(config_file, "blocklist", "check", "203.0.113.7")
    assert (
        check.returncode == 0
        and "listed as 203.0.113.7/32" in check.stdout
        and "(trap)" in check.stdout
    )
    assert cli(config_file, "blocklist", "check", "2001:db8::1").returncode == 0
    assert cli(config_file, "blocklist", "remove", "203.0.113.7").returncode == 0
    assert cli(config_file, "blocklist", "check", "203.0.113.7").returncode == 1
    entries = json.loads(cli(config_file, "blocklist", "list", "--json").stdout)
    assert [e["network"] for e in entries] == ["2001:db8::/48"]
    bad = cli(config_file, "blocklist", "add", "300.1.2.3")
    assert bad.returncode == 1 and bad.stderr.startswith("delist-bot: '300.1.2.3' is not an IP")


def test_decide_lists_the_review_commands_in_their_order() -> None:
    """The words come from core.review.COMMANDS; --help and a bad word show them as before."""
    bad = delist_bot("cases", "decide", "DL-000001", "aprove")
    assert bad.returncode == 2
    assert "'aprove' is not one of 'approve', 'deny', 'info', 'close', 'note', 'take'" in bad.stderr
    assert "{approve|deny|info|close|note|take}" in delist_bot("cases", "decide", "--help").stdout
