"""`delist-bot templates list|check`: the templates in use, and whether each renders."""

from __future__ import annotations

import sys

import click

from delist_bot.cli.app import cli, config_option, load_config, one_line_errors
from delist_bot.config import Config, resolve


def _override(config_path: str | None) -> Config | None:
    """The configuration when one is given (its [templates] path applies), else None."""
    if config_path is None:
        return None
    return load_config(config_path)


@cli.group()
def templates() -> None:
    """The reply templates: built-in, or an operator's folder ([templates] path) first."""


@templates.command(name="list")
@config_option
def list_(config_path: str | None) -> None:
    """Every template, and whether it is the operator's own or built in."""
    from delist_bot.services.template_check import listing

    with one_line_errors():
        folder = _folder(_override(config_path))
    for item in listing(folder):
        click.echo(f"{item.origin:<9} {item.name:<40} {item.path}")


@templates.command()
@config_option
def check(config_path: str | None) -> None:
    """Render every kind and language with sample data; one line per error, with file:line."""
    from delist_bot.services.template_check import check as check_templates

    with one_line_errors():
        folder = _folder(_override(config_path))
    problems = check_templates(folder)
    for problem in problems:
        click.echo(f"delist-bot: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo("templates ok" + (f" (custom ones from {folder})" if folder else ""))


def _folder(config: Config | None):
    if config is None or not config.templates.path:
        return None
    return resolve(config, config.templates.path)
