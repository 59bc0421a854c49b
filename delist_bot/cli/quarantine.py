"""`delist-bot quarantine list|show|retry|dismiss`: look at what was set aside, and why.

A retry moves the message from the quarantine folder back to the request folder (found by
its digest), so the next pass handles it again; a dismissal only records that someone looked.
"""

from __future__ import annotations

import dataclasses

import click

from delist_bot.cli.app import (
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
    print_json,
)
from delist_bot.services import quarantine as service


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
        found = service.listed(load_config(config_path))
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
        entry = service.find(config, ident)
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
        entry = service.retry(config, ident, now_utc())
    click.echo(f"{entry.id}: moved back to {config.mailbox.folder}; the next pass handles it")


@quarantine_group.command()
@config_option
@click.argument("ident")
def dismiss(config_path: str | None, ident: str) -> None:
    """Record that it was looked at; the message stays in the quarantine folder."""
    with one_line_errors():
        entry = service.dismiss(load_config(config_path), ident, now_utc())
    click.echo(f"{entry.id}: dismissed")
