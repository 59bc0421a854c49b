"""Failures you cannot miss: a message set aside by an internal error fails `run --once` and
`status` until someone retries or dismisses it; bad input is quarantined quietly.

The internal error is a real one: an operator's template that fails while the reply renders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from delist_bot.services.init import write
from tests.conftest import DATA_SAMPLES, delist_bot

PORTAL = DATA_SAMPLES / "04-portal-redirected-bounce.eml"
CONSUMER = DATA_SAMPLES / "05-consumer-outlook-com.eml"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write(tmp_path, local=True)  # as `delist-bot init --local` does (tested in test_cli_deploy)
    config = tmp_path / "delist-bot.toml"
    config.write_text(config.read_text().replace('# path = "templates"', 'path = "templates"'))
    return tmp_path


def _drop(site: Path, name: str, raw: bytes) -> None:
    (site / "mail" / "new" / name).write_bytes(raw)


def _cli(site: Path, *args: str):
    return delist_bot(*args, "--config", str(site / "delist-bot.toml"))


def test_an_internal_error_fails_the_pass_and_status_until_retried(site: Path) -> None:
    broken = site / "templates" / "replies" / "portal.en.txt"
    broken.parent.mkdir(parents=True)
    broken.write_text("Hello {{ no_such_variable }}\n")
    _drop(site, "portal.eml", PORTAL.read_bytes())
    _drop(site, "consumer.eml", CONSUMER.read_bytes())

    run = _cli(site, "run", "--once")
    assert run.returncode == 2
    assert run.stdout.startswith("processed 2 message(s); sent 1,")  # the other one answered
    assert run.stderr.splitlines()[-1] == (
        "delist-bot: 1 message(s) quarantined by an internal error: "
        "see `delist-bot quarantine list`, then retry or dismiss them"
    )
    status = _cli(site, "status")
    assert status.returncode == 1
    assert "unhealthy: 1 message(s) quarantined by an internal error" in status.stderr
    again = _cli(site, "run", "--once")  # still failing: nobody has looked yet
    assert again.returncode == 2 and again.stdout.startswith("processed 0 message(s)")

    [entry] = json.loads(_cli(site, "quarantine", "list", "--json").stdout)
    assert entry["kind"] == "internal" and entry["handled"] is None
    assert "UndefinedError: 'no_such_variable' is undefined" in entry["reason"]
    shown = _cli(site, "quarantine", "show", entry["id"][:6])
    assert shown.returncode == 0 and "folder:     Quarantine" in shown.stdout

    broken.unlink()  # the operator fixes the template, then retries
    retried = _cli(site, "quarantine", "retry", entry["id"][:6])
    assert retried.returncode == 0, retried.stderr
    assert len(list((site / "mail" / "new").iterdir())) == 1
    run = _cli(site, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("processed 1 message(s); sent 1,")
    status = _cli(site, "status")
    assert status.returncode == 0 and status.stdout.endswith("healthy\n")
    [entry] = json.loads(_cli(site, "quarantine", "list", "--all", "--json").stdout)
    assert entry["handled"] == "retried"


def test_a_dismissal_clears_it_and_the_message_stays(site: Path) -> None:
    broken = site / "templates" / "replies" / "portal.en.txt"
    broken.parent.mkdir(parents=True)
    broken.write_text("{{ 1 / 0 }}\n")
    _drop(site, "portal.eml", PORTAL.read_bytes())
    assert _cli(site, "run", "--once").returncode == 2
    [entry] = json.loads(_cli(site, "quarantine", "list", "--json").stdout)
    assert "ZeroDivisionError" in entry["reason"]
    dismissed = _cli(site, "quarantine", "dismiss", entry["id"])
    assert dismissed.returncode == 0 and dismissed.stdout == f"{entry['id']}: dismissed\n"
    assert _cli(site, "status").returncode == 0
    assert _cli(site, "run", "--once").returncode == 0
    assert len(list((site / "mail" / ".Quarantine" / "new").iterdir())) == 1


def test_bad_input_is_quarantined_quietly(site: Path) -> None:
    _drop(site, "big.eml", b"Subject: big\r\n\r\n" + b"x" * (11 * 1024 * 1024))
    run = _cli(site, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert _cli(site, "status").returncode == 0
    [entry] = json.loads(_cli(site, "quarantine", "list", "--json").stdout)
    assert entry["kind"] == "input" and "limit" in entry["reason"]
    retry = _cli(site, "quarantine", "retry", entry["id"])
    assert retry.returncode == 1
    assert retry.stderr == (
        f"delist-bot: {entry['id']}: the message was never read (too big?); nothing to retry\n"
    )


@pytest.mark.parametrize("ident", ["", "zzzz"])
def test_an_unknown_id_is_one_line(site: Path, ident: str) -> None:
    result = _cli(site, "quarantine", "dismiss", ident)
    assert result.returncode == 1
    assert result.stderr.startswith("delist-bot: no quarantined message with id")
    assert result.stderr.count("\n") == 1
