"""Helpers for the courier's tests: a configuration file, ordinary requests, the CLI in-process.

The CLI runs through click as a user runs it (same code, same exit status), without the cost
of a new interpreter per pass.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from delist_bot.cli import cli


def write_toml(path: Path, settings: dict) -> Path:
    """SETTINGS (sections of plain values) as a TOML file; JSON strings and arrays are TOML."""
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ordinary(n: int) -> tuple[str, bytes]:
    """An ordinary portal request from a sender of its own: (its address, its bytes)."""
    sender = f"admin{n}@shop{n}.example.com"
    raw = (
        f"From: Admin {n} <{sender}>\r\n"
        "To: delist@delist.example.net\r\n"
        "Subject: blocked by Microsoft\r\n"
        "Date: Fri, 20 Nov 2026 09:13:02 +0100\r\n"
        f"Message-ID: <ordinary-{n}@shop{n}.example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello, our mail is refused:\r\n\r\n"
        f"550 5.7.606 Access denied, banned sending IP [81.2.70.{n}]. To request removal\r\n"
        "from this list, please visit https://sender.office.com/.\r\n"
    ).encode()
    return sender, raw


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str
    traceback: bool


def run_cli(*args: str) -> Ran:
    """`delist-bot ARGS` in this process; an exception that escaped, or one logged with its
    traceback, counts as a traceback."""
    logged = _TracebackCatcher()
    logger = logging.getLogger("delist_bot")
    logger.addHandler(logged)
    try:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    finally:
        logger.removeHandler(logged)
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    traceback = escaped or logged.seen or "Traceback" in result.output
    return Ran(result.exit_code, result.output, traceback)


class _TracebackCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = self.seen or record.exc_info is not None
