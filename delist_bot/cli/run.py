"""`delist-bot run` (the worker) and `delist-bot demo` (the embedded default)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from delist_bot.cli.app import cli, config_option, load_config, one_line_errors, parse_now
from delist_bot.core.quarantine import attention_line

EXIT_INTERNAL_ERRORS = 2  # 1 is a configuration or mailbox problem that stopped the pass


@cli.command()
@config_option
@click.option("--once", is_flag=True, help="Do one full pass and exit.")
@click.option("--now", callback=parse_now, help="Evaluate time as if at this instant (ISO 8601).")
def run(config_path: str | None, once: bool, now: datetime | None) -> None:
    """Answer the delist@ mailbox: poll, decide, record, reply; forever or --once."""
    from delist_bot.services import run as service

    with one_line_errors():
        config = load_config(config_path)
        if not once:
            service.serve(config)
            return
        done = service.run_once(config, now)
    report, attention = done.report, done.unattended
    click.echo(
        f"processed {len(report.processed)} message(s); sent {len(report.sent)}, "
        f"retrying {len(report.retrying)}, failed {len(report.failed)}"
    )
    if attention:  # a bug set messages aside: cron and systemd must see the failure
        click.echo(f"delist-bot: {attention_line(attention)}", err=True)
        sys.exit(EXIT_INTERNAL_ERRORS)


@cli.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the demo keeps its state.",
)
def demo(folder: Path) -> None:
    """Run one pass on sample requests in a local Maildir; replies become .eml files."""
    from delist_bot.services.demo import run_demo

    with one_line_errors():
        result = run_demo(folder)
    outbox = result.folder / "outbox"
    click.echo(f"Seeded {len(result.seeded)} sample requests into {result.folder / 'maildir'}\n")
    for item in result.report.processed:
        click.echo(result.seeded.get(item.uid, item.uid))
        case = f", case {item.case_id}" if item.case_id else ""
        reason = f" ({item.reason})" if item.reason else ""
        click.echo(
            f"  from {item.sender or '-'}: {item.action or '-'}{case}, {item.outcome}{reason}"
        )
        for kind, mail_id in zip(item.replies, item.reply_ids, strict=True):
            click.echo(f"  reply ({kind}): {outbox / (mail_id + '.eml')}")
    click.echo(
        f"\n{len(result.report.sent)} mails written to {outbox} "
        "(replies to senders, and a notification to the reviewers for each new case)"
    )
    click.echo(f"cases and history: {result.folder / 'store.json'}")
