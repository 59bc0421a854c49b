"""Deploying: `init`, `config check` against a real Dovecot and SMTP server, the systemd units,
and the log formats."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from delist_bot.services.init import write
from tests.conftest import DATA_SAMPLES, TESTS, delist_bot, imap_settings
from tests.support.imap_helpers import count
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_worker_imap import _write_toml

UNITS = TESTS.parent / "contrib" / "systemd"


def test_init_writes_a_private_secret_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = delist_bot("init", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    for name in ("delist-bot.toml", "review.secret", "delist-bot.env"):
        assert stat.S_IMODE((site / name).stat().st_mode) == 0o600, name
    assert re.fullmatch(r"[0-9a-f]{64}\n", (site / "review.secret").read_text())
    assert (site / "data").is_dir() and (site / "templates").is_dir()
    assert "delist-bot config check --config" in result.stdout
    # The skeleton names what to fill in, and the check says it in one line.
    checked = delist_bot("config", "check", "--config", str(site / "delist-bot.toml"))
    assert checked.returncode == 1
    assert checked.stderr == (
        "delist-bot: mailbox.password is required (or set DELIST_BOT_IMAP_PASSWORD)\n"
    )
    again = delist_bot("init", str(site))
    assert again.returncode == 1
    assert again.stderr.startswith("delist-bot: ") and again.stderr.count("\n") == 1
    assert "exists" in again.stderr and "Traceback" not in again.stderr


def test_two_inits_make_two_secrets(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert delist_bot("init", "--local", str(tmp_path / name)).returncode == 0
    secrets = {(tmp_path / n / "review.secret").read_text() for n in ("a", "b")}
    assert len(secrets) == 2


def test_a_secret_file_others_can_read_is_a_problem(tmp_path: Path) -> None:
    assert delist_bot("init", "--local", str(tmp_path)).returncode == 0
    (tmp_path / "review.secret").chmod(0o644)
    result = delist_bot("config", "check", "--config", str(tmp_path / "delist-bot.toml"))
    assert result.returncode == 1
    assert result.stderr == (
        f"delist-bot: review.secret_file: {tmp_path / 'review.secret'} can be read by others "
        f"(chmod 600 {tmp_path / 'review.secret'})\n"
    )


def test_config_check_against_real_servers(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = imap_settings(dovecot, imap_user, smtp_server, tmp_path / "store.json")
    good = _write_toml(tmp_path, settings)
    result = delist_bot("config", "check", "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration ok: mailbox imap 127.0.0.1")
    assert count(dovecot, imap_user, "Processed") == 0  # nothing created, nothing processed
    assert smtp_server.recorder.messages == []

    settings["mailbox"]["password"] = "wrong"
    settings["mailbox"]["folder"] = "Requests"
    settings["smtp"]["port"] = _closed_port()
    settings["review"]["reviewers"] = []
    result = delist_bot("config", "check", "--config", str(_write_toml(tmp_path, settings)))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "review.reviewers is empty",
        "mailbox",
        "smtp",
    ], lines
    assert "AUTHENTICATIONFAILED" in lines[1] or "authentication" in lines[1].lower()
    assert "wrong" not in result.stderr  # the password is never printed

    settings["mailbox"]["password"] = imap_settings(
        dovecot, imap_user, smtp_server, tmp_path / "store.json"
    )["mailbox"]["password"]
    result = delist_bot("config", "check", "--config", str(_write_toml(tmp_path, settings)))
    assert "delist-bot: mailbox.folder: no folder 'Requests' on 127.0.0.1" in result.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def systemd(tmp_path: Path) -> Path:
    """The units, pointing at this environment's delist-bot (verify checks that it exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    command = Path(sys.executable).parent / "delist-bot"
    for unit in UNITS.glob("*.*"):
        text = unit.read_text().replace("/opt/delist-bot/bin/delist-bot", str(command))
        (tmp_path / unit.name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "unit", ["delist-bot.service", "delist-bot-once.service", "delist-bot-once.timer"]
)
def test_units_verify(systemd: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(systemd / unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert unit not in result.stderr, result.stderr


@pytest.mark.parametrize("unit", ["delist-bot.service", "delist-bot-once.service"])
def test_services_are_hardened(systemd: Path, unit: str) -> None:
    text = (systemd / unit).read_text()
    for line in (
        "User=delist-bot",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/delist-bot",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line
    [start] = re.findall(r"^ExecStart=\S+ (.+)$", text, re.MULTILINE)
    if unit == "delist-bot.service":
        assert start == "run" and "\nRestart=on-failure\n" in text
    else:
        assert start == "run --once" and "\nType=oneshot\n" in text
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(systemd / unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "--offline" in result.stderr:  # systemd older than 250 cannot rate a unit file
        return
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert score and float(score.group(1)) <= 2.0, result.stdout[-500:]


def test_json_logs_are_one_object_a_line(tmp_path: Path) -> None:
    write(tmp_path, local=True)
    for sample in DATA_SAMPLES.glob("0[1-3]*.eml"):
        (tmp_path / "mail" / "new" / sample.name).write_bytes(sample.read_bytes())
    config = str(tmp_path / "delist-bot.toml")
    result = delist_bot("-v", "--log-format", "json", "run", "--once", "--config", config)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(entries) >= 3
    assert {e["level"] for e in entries} == {"info"}
    assert all(set(e) == {"time", "level", "logger", "message"} for e in entries)
    assert any("case DL-000001" in e["message"] for e in entries)


@pytest.mark.system  # the entry point as systemd starts it: a new interpreter, its env
def test_text_logs_under_journald_leave_the_time_to_the_journal(tmp_path: Path) -> None:
    write(tmp_path, local=True)
    sample = next(DATA_SAMPLES.glob("01*.eml"))
    (tmp_path / "mail" / "new" / sample.name).write_bytes(sample.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "delist_bot", "-v", "run", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "JOURNAL_STREAM": "8:12345",
            "DELIST_BOT_CONFIG": str(tmp_path / "delist-bot.toml"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("INFO message ")
