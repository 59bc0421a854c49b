"""`delist-bot outbox`: the mail waiting, failed and sent, and queueing failed mail again.

A retried mail is due at once; the worker sends it with its next outbox run.
"""

from __future__ import annotations

import click

from delist_bot.cli.app import (
    UserError,
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
    open_store,
    print_json,
)
from delist_bot.core.models import WAITING_MAIL, MailRecord, MailStatus
from delist_bot.store import Store

SHOWN = {
    "pending": WAITING_MAIL,
    "failed": frozenset({MailStatus.FAILED}),
    "sent": frozenset({MailStatus.SENT}),
}
MIN_PREFIX = 6


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
        mails = _mail(open_store(load_config(config_path)), status)
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
        store = open_store(load_config(config_path))
        with store.transaction() as tx:
            queued = tx.outbox.all()
            chosen = [m.id for m in queued if m.status is MailStatus.FAILED] if all_failed else []
            chosen += [_resolve(store, queued, given) for given in mail_ids]
            done = []
            for mail_id in dict.fromkeys(chosen):
                try:
                    done.append(tx.outbox.retry(mail_id, now))
                except ValueError as exc:
                    raise UserError(f"{exc}: wait for its attempt to finish") from None
    if not done:
        click.echo("no failed mail")
    for mail in done:
        click.echo(f"queued again: {mail.id} {mail.kind} to {mail.to}")
    if done:
        click.echo("the worker sends them with its next outbox run")


def _mail(store: Store, status: str | None) -> list[MailRecord]:
    wanted = SHOWN[status] if status else WAITING_MAIL | {MailStatus.FAILED}
    with store.transaction() as tx:
        mails = [m for m in tx.outbox.all() if m.status in wanted]
    if status in ("sent", "failed"):  # sent mail, and mail failed long ago, is archived
        mails += [m for m in _archived(store) if m.status in wanted]
    return sorted(mails, key=lambda m: m.created_at)


def _archived(store: Store) -> list[MailRecord]:
    return [MailRecord.from_doc(doc) for doc in store.archive.records("outbox")]


def _resolve(store: Store, queued: list[MailRecord], given: str) -> str:
    """The id of the one queued mail GIVEN names (its id, or a unique prefix)."""
    if len(given) < MIN_PREFIX:
        raise UserError(f"mail id {given!r} is too short (at least {MIN_PREFIX} characters)")
    found = [m.id for m in queued if m.id == given] or [
        m.id for m in queued if m.id.startswith(given)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f"mail id {given!r} names {len(found)} mails: give more of it")
    archived = [m for m in _archived(store) if m.id.startswith(given)]
    if any(m.status is MailStatus.SENT for m in archived):
        raise UserError(f"mail {given} was sent already")
    if archived:
        raise UserError(f"mail {given} failed over 30 days ago; its bytes are no longer kept")
    raise UserError(f"no mail {given}")
