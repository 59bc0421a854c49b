"""The CSV export hands spreadsheets no formula: a cell a stranger controls is inert text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.core import cases
from delist_bot.core.models import Extraction
from delist_bot.reports.figures import CSV_COLUMNS, case_rows
from delist_bot.reports.views import as_csv, inert_cell
from delist_bot.store import Store
from tests.conftest import delist_bot

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ATTACK = "=cmd|' /C calc'!A0@x.example"


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (ATTACK, "'" + ATTACK),
        ("+1-555@x.example", "'+1-555@x.example"),
        ("-2+3@x.example", "'-2+3@x.example"),
        ("@SUM(A1:A9)@x.example", "'@SUM(A1:A9)@x.example"),
        ("\t=1@x.example", "'\t=1@x.example"),
        ("\r=1@x.example", "'\r=1@x.example"),
        ("a=b@x.example", "a=b@x.example"),  # only the first character counts
        ("", ""),
        (3, 3),  # figures are ours
        (None, None),
    ],
)
def test_a_cell_that_starts_a_formula_is_quoted(cell: object, written: object) -> None:
    assert inert_cell(cell) == written


def _case_from(requester: str) -> cases.Case:
    request = Extraction(message_id="<a@x>", sender=requester, ndr_code="5.7.511", ip="81.2.69.142")
    return cases.open_case(1, request, NOW - timedelta(hours=2))


def test_a_requester_address_reaches_the_csv_as_text() -> None:
    text = as_csv(case_rows([_case_from(ATTACK)], NOW), CSV_COLUMNS)
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["requester"] == "'" + ATTACK
    assert row["id"] == "DL-000001" and row["ip"] == "81.2.69.142"


def test_report_format_csv_on_the_command_line(tmp_path: Path) -> None:
    with Store(tmp_path / "store.json").transaction() as tx:
        tx.cases.save(_case_from(ATTACK))
    config = tmp_path / "delist-bot.toml"
    config.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{tmp_path / "maildir"}"\n'
        f'[smtp]\nkind = "files"\npath = "{tmp_path / "out"}"\nfrom_address = "d@x.example"\n'
        f'[store]\npath = "{tmp_path / "store.json"}"\n'
    )
    result = delist_bot("report", "--format", "csv", "--since", "30d", "--config", str(config))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["requester"] for r in rows] == ["'" + ATTACK]
