"""The command group, its shared options, and the rule that user errors are one line.

Every command module registers itself on `cli`.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from delist_bot import __version__, logs
from delist_bot.config import Config, load
from delist_bot.logs import LogFormat
from delist_bot.services.app import configure
from delist_bot.services.errors import EXPECTED_ERRORS


@contextmanager
def one_line_errors() -> Iterator[None]:
    """What the user got wrong is said in one line on stderr, exit status 1."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        click.echo(f"delist-bot: {exc}", err=True)
        sys.exit(1)


def parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-11-29T10:00:00Z"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="DELIST_BOT_CONFIG",
    help="The TOML configuration (default: $DELIST_BOT_CONFIG).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="delist-bot")
@click.option("-v", "--verbose", is_flag=True, help="Log every message handled.")
@click.option(
    "--log-format",
    type=click.Choice([f.value for f in LogFormat]),
    default=LogFormat.TEXT.value,
    show_default=True,
    help="Plain lines on stderr, or one JSON object a line.",
)
def cli(verbose: bool, log_format: str) -> None:
    """Run the delist@ mailbox for IPs blocked by Microsoft 365."""
    logs.configure(logging.INFO if verbose else logging.WARNING, LogFormat(log_format))


def load_config(path: str | None) -> Config:
    """The configuration, with the operator's templates (if any) in place for this process."""
    config = load(path)
    configure(config)
    return config


def now_utc() -> datetime:
    return datetime.now(UTC)


def shown(text: str) -> str:
    """Text from a message as a terminal may show it: control and format characters (an
    escape sequence can write the clipboard, retitle the window or clear the screen; a bidi
    override reverses what follows) in their visible \\x.. form; line ends and tabs kept."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf") else ascii(c)[1:-1]
        for c in text
    )


def print_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def main() -> None:
    cli(prog_name="delist-bot")
