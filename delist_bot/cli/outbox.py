"""`delist-bot outbox`: the mail waiting, failed and sent, and queueing failed mail again.

A retried mail is due at once; the worker sends it with its next outbox run.
"""

from __future__ import annotations

import click

from delist_bot.cli.app import (
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
    print_json,
)
from delist_bot.core.models import MailStatus
from delist_bot.services import outbox as service
from delist_bot.services.outbox import SHOWN


@cli.group()
def outbox() -> None:
    """Outgoing mail: list it, retry what failed."""


@outbox.command("list")
@config_option
@click.option(
    "--status",
    type=click.Choice(list(SHOWN)),
    help="Only mail in this state (default: pending and failed; sent mail is read from the "
    "archive).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_mail(config_path: str | None, status: str | None, as_json: bool) -> None:
    """Queued, failed or sent mail, oldest first."""
    with one_line_errors():
        mails = service.mail(load_config(config_path), status)
    if as_json:
        print_json([mail.to_doc() for mail in mails])
        return
    if not mails:
        click.echo(f"no {status or 'pending or failed'} mail")
        return
    click.echo(
        f"{'ID':<14} {'STATUS':<8} {'KIND':<22} {'TRIES':>5}  {'CREATED':<16}  TO / LAST ERROR"
    )
    for mail in mails:
        click.echo(
            f"{mail.id[:14]:<14} {mail.status:<8} {mail.kind:<22} "
            f"{mail.attempts:>5}  {mail.created_at.isoformat()[:16]:<16}  {mail.to}"
        )
        if mail.last_error and mail.status is not MailStatus.SENT:
            click.echo(f"{'':<14} {mail.last_error}")


@outbox.command("retry")
@config_option
@click.argument("mail_ids", metavar="ID...", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Every failed mail.")
def retry(config_path: str | None, mail_ids: tuple[str, ...], all_failed: bool) -> None:
    """Queue failed mail again (an ID or a unique prefix of at least 6 characters); mail still
    waiting for its next attempt is made due now."""
    if not mail_ids and not all_failed:
        raise click.UsageError("give one or more mail IDs, or --all-failed")
    now = now_utc()
    with one_line_errors():
        done = service.retry(load_config(config_path), mail_ids, all_failed, now)
    if not done:
        click.echo("no failed mail")
    for mail in done:
        click.echo(f"queued again: {mail.id} {mail.kind} to {mail.to}")
    if done:
        click.echo("the worker sends them with its next outbox run")
