"""`delist-bot blocklist`: the IPs and networks that reviews act on."""

from __future__ import annotations

from pathlib import Path

import click

from delist_bot.cli.app import (
    cli,
    config_option,
    load_config,
    now_utc,
    one_line_errors,
    print_json,
)
from delist_bot.core.blocklist import parse_file
from delist_bot.services import blocklist as service


@cli.group()
def blocklist() -> None:
    """The block list: import, add, remove, check, list."""


@blocklist.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(config_path: str | None, file: Path) -> None:
    """Add every 'IP-or-CIDR [reason]' line of FILE (# starts a comment)."""
    listings, problems = parse_file(file.read_text(encoding="utf-8", errors="replace"))
    for problem in problems:
        click.echo(f"skipped {problem}", err=True)
    with one_line_errors():
        results = service.add_many(load_config(config_path), listings, now_utc())
    counts = {word: results.count(word) for word in ("added", "relisted", "already listed")}
    click.echo(
        ", ".join(f"{n} {word}" for word, n in counts.items())
        + (f"; {len(problems)} line(s) skipped" if problems else "")
    )


@blocklist.command("add")
@config_option
@click.argument("address")
@click.option("--reason", default="", help="Why it is listed.")
def add(config_path: str | None, address: str, reason: str) -> None:
    """List an IP or CIDR network."""
    with one_line_errors():
        listing = service.listing(address)
        result = service.add(load_config(config_path), listing, reason, now_utc())
    click.echo(f"{listing.network}: {result}")


@blocklist.command("remove")
@config_option
@click.argument("address")
def remove(config_path: str | None, address: str) -> None:
    """Take an IP or CIDR network off the list (not counted as a delisting)."""
    with one_line_errors():
        listing = service.listing(address)
        service.remove(load_config(config_path), listing, now_utc())
    click.echo(f"{listing.network}: removed")


@blocklist.command("check")
@config_option
@click.argument("ip")
def check(config_path: str | None, ip: str) -> None:
    """Is IP listed? Exit 0 when it is, 1 when it is not."""
    with one_line_errors():
        service.listing(ip)  # a bad address is named before a bad configuration
        found = service.check(load_config(config_path), ip)
    entry, exception, delistings = found.entry, found.exception, found.delistings
    if entry is None:
        if exception:
            why = f" (an exception since {exception.added_at.date()}: {exception.reason})"
        else:
            why = f" (delisted {delistings} time(s) before)" if delistings else ""
        click.echo(f"{ip}: not listed{why}")
        raise SystemExit(1)
    reason = f" ({entry.reason})" if entry.reason else ""
    click.echo(f"{ip}: listed as {entry.network} since {entry.added_at.date()}{reason}")


@blocklist.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.option("--all", "everything", is_flag=True, help="Also entries delisted or removed.")
def list_entries(config_path: str | None, as_json: bool, everything: bool) -> None:
    """The listed networks, and the IPs excepted from them by approvals."""
    with one_line_errors():
        entries = service.entries(load_config(config_path), everything)
    if as_json:
        print_json([entry.to_doc() for entry in entries])
        return
    for entry in entries:
        state = "off" if not entry.active else "except" if entry.exception else "listed"
        click.echo(
            f"{entry.network:<30} {state:<7} {entry.added_at.date()}  "
            f"delisted {len(entry.delistings)}x, relisted {entry.relistings}x  "
            f"{entry.reason}"
        )
    if not entries:
        click.echo("the block list is empty")
