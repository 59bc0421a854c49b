"""The `delist-bot` command line: thin click commands over the library.

User errors become one clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from delist_bot import __version__
from delist_bot.config import Config, ConfigError, load
from delist_bot.mailbox import MailboxError
from delist_bot.parse_report import error_record, parse_record
from delist_bot.store import StoreError

EVIDENCE_WIDTH = 110
USER_ERRORS = (ConfigError, StoreError, MailboxError)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """What the user got wrong is said in one line on stderr, exit status 1."""
    try:
        yield
    except USER_ERRORS as exc:
        click.echo(f"delist-bot: {exc}", err=True)
        sys.exit(1)


def parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-11-29T10:00:00Z"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="DELIST_BOT_CONFIG",
    help="The TOML configuration (default: $DELIST_BOT_CONFIG).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="delist-bot")
@click.option("-v", "--verbose", is_flag=True, help="Log every message handled.")
def cli(verbose: bool) -> None:
    """Run the delist@ mailbox for IPs blocked by Microsoft 365."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def parse(as_json: bool, files: tuple[Path, ...]) -> None:
    """Read forwarded NDRs and print the code, IP and action found in each FILE."""
    failed = False
    rows = []
    for path in files:
        try:
            record = parse_record(str(path), path.read_bytes())
        except OSError as exc:
            record = error_record(str(path), exc.strerror or str(exc))
        failed = failed or "error" in record
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            rows.append(record)
    if rows:
        _print_table(rows)
    sys.exit(1 if failed else 0)


@cli.command()
@config_option
@click.option("--once", is_flag=True, help="Do one full pass and exit.")
@click.option("--now", callback=parse_now, help="Evaluate time as if at this instant (ISO 8601).")
def run(config_path: str | None, once: bool, now: datetime | None) -> None:
    """Answer the delist@ mailbox: poll, decide, record, reply; forever or --once."""
    from delist_bot.worker import Worker

    with one_line_errors():
        worker = Worker(_config(config_path))
        if not once:
            worker.serve()
            return
        worker.store.hold_worker_lock()
        try:
            report = worker.run_once(now)
        finally:
            worker.store.release_worker_lock()
    click.echo(
        f"processed {len(report.processed)} message(s); sent {len(report.sent)}, "
        f"retrying {len(report.retrying)}, failed {len(report.failed)}"
    )


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
    from delist_bot.demo import run_demo

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


def _config(path: str | None) -> Config:
    return load(path)


def _print_table(rows: list[dict]) -> None:
    columns = ("file", "action", "ndr_code", "smtp_code", "ip", "language", "sender")
    cells = [[_cell(row, c) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row, cell_row in zip(rows, cells, strict=True):
        click.echo("  ".join(v.ljust(w) for v, w in zip(cell_row, widths, strict=True)).rstrip())
        if row.get("error"):
            click.echo(f"    error: {row['error']}")
        elif row.get("evidence"):
            evidence = row["evidence"]
            ellipsis = "…" if len(evidence) > EVIDENCE_WIDTH else ""
            click.echo(f"    {evidence[:EVIDENCE_WIDTH]}{ellipsis}")


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return "-" if value is None else str(value)


def main() -> None:
    cli(prog_name="delist-bot")
