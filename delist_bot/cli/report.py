"""`delist-bot report` (figures for operators) and `delist-bot status` (a health check)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import click

from delist_bot.cli.app import (
    UserError,
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
    open_store,
)
from delist_bot.config import Config

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
    from delist_bot.reports import views
    from delist_bot.reports.digest import queue_data
    from delist_bot.reports.figures import (
        CSV_COLUMNS,
        build_report,
        case_rows,
        first_contact_points,
    )

    now = now_utc()
    start = now - since if isinstance(since, timedelta) else since
    with one_line_errors():
        config = load_config(config_path)
        if email:
            _email(config, now)
            return
        data = queue_data(open_store(config), start)
    figures = build_report(data, now, start)
    if fmt == "text" and output is None and click.get_text_stream("stdout").isatty():
        views.print_rich(figures)
        return
    text = {
        "text": lambda: views.plain(figures),
        "json": lambda: views.as_json(figures),
        "csv": lambda: views.as_csv(case_rows(data.cases, now), CSV_COLUMNS),
        "html": lambda: views.as_html(figures, first_contact_points(data.cases, start)),
        "prometheus": lambda: views.as_prometheus(figures),
    }[fmt]()
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    temporary = output.with_name(output.name + ".tmp")  # a textfile collector must never read half
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(output)
    click.echo(f"wrote {output}")


def _email(config: Config, now: datetime) -> None:
    from delist_bot.runtime.worker import Worker

    result = Worker(config).send_digest(now)
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
    from delist_bot.cli.quarantine import unattended
    from delist_bot.core.models import OPEN_STATUSES, WAITING_MAIL, MailStatus
    from delist_bot.mailbox import MailboxError, open_mailbox
    from delist_bot.reports.health import Facts, verdict
    from delist_bot.smtp.transport import can_send

    with one_line_errors():
        config = load_config(config_path)
        store = open_store(config)
        now = now_utc()
        with store.transaction() as tx:
            last_poll = tx.state.get("last_poll")
            outbox = tx.outbox.all()
            open_cases = [c for c in tx.cases.all() if c.status in OPEN_STATUSES]
        try:
            open_mailbox(config).close()
            mailbox_error = None
        except MailboxError as exc:
            mailbox_error = str(exc)
        smtp_error = can_send(config)
    lines, reasons = verdict(
        Facts(
            now=now,
            poll_interval=timedelta(seconds=config.schedule.poll_seconds),
            last_poll=datetime.fromisoformat(last_poll) if last_poll else None,
            mailbox_error=mailbox_error,
            smtp_error=smtp_error,
            worker_running=store.worker_running(),
            pending=sum(1 for m in outbox if m.status in WAITING_MAIL),
            failed=sum(1 for m in outbox if m.status is MailStatus.FAILED),
            oldest_open_hours=max(
                ((now - c.received_at).total_seconds() / 3600 for c in open_cases), default=None
            ),
            overdue=sum(1 for c in open_cases if not c.first_contact_at and now > c.due_at),
            internal_errors=unattended(store),
        )
    )
    for line in lines:
        click.echo(line)
    if reasons:
        click.echo(f"delist-bot: unhealthy: {'; '.join(reasons)}", err=True)
        raise SystemExit(1)
    click.echo("healthy")
