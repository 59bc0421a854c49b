"""The `delist-bot` command line: thin click commands over services/.

User errors become one clear line and a non-zero exit, never a traceback.
"""

from delist_bot.cli import (
    blocklist,
    cases,
    init,
    outbox,
    parse,
    quarantine,
    report,
    run,
    templates,
)
from delist_bot.cli.app import cli, main

__all__ = [
    "blocklist",
    "cases",
    "cli",
    "init",
    "main",
    "outbox",
    "parse",
    "quarantine",
    "report",
    "run",
    "templates",
]
