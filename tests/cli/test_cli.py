"""The `delist-bot parse` contract, run as a user runs it: a real process, real files."""

from __future__ import annotations

import json
from pathlib import Path

from delist_bot.services.parse import CONTRACT_FIELDS
from tests.conftest import SAMPLES, delist_bot

REVIEW_SAMPLE = SAMPLES / "001-postfix-511-attached.eml"


run = delist_bot


def test_parse_json_prints_one_object_per_file() -> None:
    files = sorted(SAMPLES.glob("0[0-1]*.eml"))
    result = run("parse", "--json", *map(str, files))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(f) for f in files]
    for record in records:
        assert set(CONTRACT_FIELDS) <= set(record)
        assert isinstance(record["smtp_code"], int | None)
    first = records[0]
    assert (first["ndr_code"], first["smtp_code"], first["ip"], first["action"]) == (
        "5.7.511",
        550,
        "81.2.69.142",
        "review",
    )


def test_a_bad_file_gets_an_error_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run(
        "parse", "--json", str(tmp_path / "missing.eml"), str(tmp_path), str(REVIEW_SAMPLE)
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [("error" in r) for r in records] == [True, True, False]
    assert records[2]["action"] == "review"
    assert "Traceback" not in result.stderr


def test_over_budget_message_is_an_error(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(b"Subject: big\r\n\r\n" + b"x" * (11 * 1024 * 1024))
    record = json.loads(run("parse", "--json", str(big)).stdout)
    assert "limit" in record["error"]


def test_table_without_json() -> None:
    result = run("parse", str(REVIEW_SAMPLE))
    assert result.returncode == 0
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == [
        "FILE", "ACTION", "NDR_CODE", "SMTP_CODE", "IP", "SOURCE", "LANGUAGE", "SENDER"
    ]  # fmt: skip
    assert row.split()[1:5] == ["review", "5.7.511", "550", "81.2.69.142"]


def test_no_files_is_a_usage_error() -> None:
    result = run("parse")
    assert result.returncode == 2
    assert "Missing argument" in result.stderr and "Traceback" not in result.stderr
