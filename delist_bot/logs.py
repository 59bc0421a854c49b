"""Logging set-up: plain lines on stderr (journald adds its own time stamps), or one JSON
object a line for log shippers (`--log-format json`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One object a line: time, level, logger, message, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def text_format(under_journald: bool) -> str:
    # systemd sets JOURNAL_STREAM for a service whose stderr goes to the journal, which
    # stamps every line itself.
    return (
        "%(levelname)s %(message)s" if under_journald else "%(asctime)s %(levelname)s %(message)s"
    )


def configure(level: int, log_format: LogFormat) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(text_format("JOURNAL_STREAM" in os.environ)))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
