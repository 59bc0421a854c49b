"""`delist-bot report` (figures for operators) and `delist-bot status` (a health check)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import click

from delist_bot.cli.app import (
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
)
from delist_bot.config import Config
from delist_bot.services import reports
from delist_bot.services.errors import UserError

FORMATS = ("text", "json", "csv", "html", "prometheus")


def parse_since(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta | datetime:
    if match := re.fullmatch(r"(\d+)\s*([dh])", value.strip()):
        amount, unit = int(match.group(1)), match.group(2)
        return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: use 7d, 24h or a date such as 2026-11-20") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=now_utc().tzinfo)


@cli.command()
@config_option
@click.option(
    "--since",
    default="7d",
    show_default=True,
    callback=parse_since,
    help="The period: 7d, 24h, or a date.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of the terminal.",
)
@click.option("--email", is_flag=True, help="Send the digest to the operators now.")
def report(
    config_path: str | None, since: timedelta | datetime, fmt: str, output: Path | None, email: bool
) -> None:
    """The state of the delist queue."""
    now = now_utc()
    start = now - since if isinstance(since, timedelta) else since
    with one_line_errors():
        config = load_config(config_path)
        if email:
            _email(config, now)
            return
        found = reports.report(config, start, now)
    if fmt == "text" and output is None and click.get_text_stream("stdout").isatty():
        reports.print_rich(found)
        return
    text = reports.render(found, fmt)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    temporary = output.with_name(output.name + ".tmp")  # a textfile collector must never read half
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(output)
    click.echo(f"wrote {output}")


def _email(config: Config, now: datetime) -> None:
    result = reports.email_digest(config, now)
    if not (result.sent or result.retrying or result.failed):
        raise UserError("no [review] operators configured: no digest to send")
    if result.sent:
        click.echo(f"digest sent to {', '.join(m.to for m in result.sent)}")
        return
    problem = (result.retrying or result.failed)[0]
    raise UserError(f"digest not sent: {problem.last_error}")


@cli.command()
@config_option
def status(config_path: str | None) -> None:
    """Health check: exit 0 when healthy, 1 with the reason on one line otherwise."""
    with one_line_errors():
        found = reports.health(load_config(config_path), now_utc())
    for line in found.lines:
        click.echo(line)
    if found.reasons:
        click.echo(f"delist-bot: unhealthy: {'; '.join(found.reasons)}", err=True)
        raise SystemExit(1)
    click.echo("healthy")
