"""`delist-bot parse`: what the extractor reads from each file, as JSON lines or a table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from delist_bot.cli.app import cli
from delist_bot.services.parse import error_record, parse_record

EVIDENCE_WIDTH = 110


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


def _print_table(rows: list[dict]) -> None:
    columns = ("file", "action", "ndr_code", "smtp_code", "ip", "source", "language", "sender")
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
        for note in row.get("notes") or ():
            click.echo(f"    note: {note}")


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return "-" if value is None else str(value)
