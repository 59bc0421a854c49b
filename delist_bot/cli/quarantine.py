"""`delist-bot quarantine list|show|retry|dismiss`: look at what was set aside, and why.

A retry moves the message from the quarantine folder back to the request folder (found by
its digest), so the next pass handles it again; a dismissal only records that someone looked.
"""

from __future__ import annotations

import dataclasses
import hashlib

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
from delist_bot.config import Config
from delist_bot.core import quarantine
from delist_bot.core.quarantine import Entry, Handling
from delist_bot.store import Store


def load_entries(store: Store) -> list[Entry]:
    with store.transaction() as tx:
        return quarantine.entries(tx.quarantine.all(), tx.state.get(quarantine.HANDLED_STATE, {}))


def unattended(store: Store) -> int:
    """How many messages an internal error set aside that nobody has looked at yet."""
    return len(quarantine.needing_attention(load_entries(store)))


@cli.group(name="quarantine")
def quarantine_group() -> None:
    """Messages set aside: bad input (quietly) and internal errors (until looked at)."""


@quarantine_group.command(name="list")
@config_option
@click.option("--all", "show_all", is_flag=True, help="Also those already retried or dismissed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def list_(config_path: str | None, show_all: bool, as_json: bool) -> None:
    """The quarantine of the last 30 days, oldest first."""
    with one_line_errors():
        found = load_entries(open_store(load_config(config_path)))
    shown = [e for e in found if show_all or e.handled is None]
    if as_json:
        print_json([dataclasses.asdict(e) for e in shown])
        return
    for e in shown:
        state = e.handled.value if e.handled else ("TO LOOK AT" if e.needs_attention else "")
        click.echo(f"{e.id}  {e.at[:19]}  {e.kind.value:<8}  {state:<10}  {e.reason}")
    if not shown:
        click.echo("nothing in quarantine" + ("" if show_all else " to look at"))


@quarantine_group.command()
@config_option
@click.argument("ident")
def show(config_path: str | None, ident: str) -> None:
    """One quarantined message: why, when, and where it is."""
    with one_line_errors():
        config = load_config(config_path)
        entry = _find(open_store(config), ident)
    for name, value in dataclasses.asdict(entry).items():
        click.echo(f"{name + ':':<12}{value if value is not None else '-'}")
    click.echo(f"{'folder:':<12}{config.mailbox.quarantine_folder}")


@quarantine_group.command()
@config_option
@click.argument("ident")
def retry(config_path: str | None, ident: str) -> None:
    """Move the message back to the request folder; the next pass handles it again."""
    with one_line_errors():
        config = load_config(config_path)
        store = open_store(config)
        entry = _find(store, ident)
        _move_back(config, entry)
        _mark(store, entry, Handling.RETRIED)
    click.echo(f"{entry.id}: moved back to {config.mailbox.folder}; the next pass handles it")


@quarantine_group.command()
@config_option
@click.argument("ident")
def dismiss(config_path: str | None, ident: str) -> None:
    """Record that it was looked at; the message stays in the quarantine folder."""
    with one_line_errors():
        store = open_store(load_config(config_path))
        entry = _find(store, ident)
        _mark(store, entry, Handling.DISMISSED)
    click.echo(f"{entry.id}: dismissed")


def _find(store: Store, ident: str) -> Entry:
    try:
        return quarantine.find(load_entries(store), ident)
    except LookupError as exc:
        raise UserError(str(exc)) from exc


def _mark(store: Store, entry: Entry, how: Handling) -> None:
    with store.transaction() as tx:
        live = {e.id for e in quarantine.entries(tx.quarantine.all(), {})}
        handled = tx.state.get(quarantine.HANDLED_STATE, {})
        tx.state.set(
            quarantine.HANDLED_STATE, quarantine.mark(handled, [entry.id], how, now_utc(), live)
        )


def _move_back(config: Config, entry: Entry) -> None:
    """Find the message in the quarantine folder by its digest and move it to the request
    folder (the mailbox opened on the quarantine folder as its request folder)."""
    from delist_bot.mailbox import open_mailbox

    if entry.sha256 is None:
        raise UserError(f"{entry.id}: the message was never read (too big?); nothing to retry")
    settings = dataclasses.replace(config.mailbox, folder=config.mailbox.quarantine_folder)
    mailbox = open_mailbox(dataclasses.replace(config, mailbox=settings))
    try:
        for batch in mailbox.batches():
            for fetched in batch:
                if fetched.raw and hashlib.sha256(fetched.raw).hexdigest() == entry.sha256:
                    mailbox.move([fetched.uid], config.mailbox.folder)
                    return
    finally:
        mailbox.close()
    raise UserError(f"{entry.id}: not in the folder {config.mailbox.quarantine_folder} any more")
