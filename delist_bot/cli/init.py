"""`delist-bot init [DIR]` (a new installation) and `delist-bot config check` (before the first
run, and after every change)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from delist_bot.cli.app import cli, config_option, load_config, one_line_errors
from delist_bot.services.errors import UserError


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option(
    "--local",
    is_flag=True,
    help="A local Maildir and a folder of .eml files instead of IMAP and SMTP (works at once).",
)
def init(folder: Path, local: bool) -> None:
    """Write a commented configuration, its folders and a review secret into FOLDER."""
    from delist_bot.services.init import ScaffoldError, next_steps, write

    with one_line_errors():
        try:
            written = write(folder, local)
        except ScaffoldError as exc:
            raise UserError(str(exc)) from exc
    for path in written.files:
        click.echo(f"wrote {path}")
    click.echo("")
    click.echo(next_steps(written.folder, local), nl=False)


@cli.group()
def config() -> None:
    """The configuration file."""


@config.command()
@config_option
def check(config_path: str | None) -> None:
    """Validate the file and try the mailbox and the SMTP server; one line per problem."""
    from delist_bot.services.config_check import problems

    with one_line_errors():
        settings = load_config(config_path)
    found = problems(settings)
    for problem in found:
        click.echo(f"delist-bot: {problem}", err=True)
    if found:
        sys.exit(1)
    mailbox = settings.mailbox
    where = mailbox.host if mailbox.kind == "imap" else mailbox.path
    smtp = settings.smtp.host if settings.smtp.kind == "smtp" else settings.smtp.path
    click.echo(
        f"configuration ok: mailbox {mailbox.kind} {where}, outgoing {settings.smtp.kind} {smtp}"
    )
