"""Every built sample and every bug sample reads as its table says."""

from __future__ import annotations

import pytest

from delist_bot.services.parse import parse_record
from tests.conftest import SAMPLES, read_tsv
from tests.support import builder

EXPECTED = read_tsv(SAMPLES / "expected.tsv")
BUGS = read_tsv(SAMPLES / "bugs" / "expected.tsv")


def _want(row: dict[str, str]) -> dict[str, object]:
    return {
        "ndr_code": row["ndr_code"] or None,
        "smtp_code": int(row["smtp_code"]) if row["smtp_code"] else None,
        "ip": row["ip"] or None,
        "action": row["action"],
        "language": row["language"] or None,
        "sender": row["sender"] or None,
    }


@pytest.mark.parametrize("row", EXPECTED, ids=[r["file"] for r in EXPECTED])
def test_built_sample(row: dict[str, str]) -> None:
    record = parse_record(row["file"], (SAMPLES / row["file"]).read_bytes())
    assert {k: record[k] for k in _want(row)} == _want(row)
    assert record["evidence"] if row["ndr_code"] or row["ip"] else True


@pytest.mark.parametrize("row", BUGS, ids=[r["file"] for r in BUGS])
def test_bug_sample(row: dict[str, str]) -> None:
    record = parse_record(row["file"], (SAMPLES / "bugs" / row["file"]).read_bytes())
    assert {k: record[k] for k in _want(row)} == _want(row), row["bug"]


def test_samples_cover_every_action_and_style() -> None:
    actions = {row["action"] for row in EXPECTED}
    assert actions == {"review", "portal", "consumer", "other", "need_info", "ignore"}
    styles = {row["file"].split("-", 1)[1].rsplit(".", 1)[0] for row in EXPECTED}
    for style in builder.STYLES:
        assert any(name.endswith("-" + style) for name in styles), style
    assert len(EXPECTED) >= 60


def test_committed_samples_are_what_the_builder_makes(tmp_path) -> None:
    builder.write(builder.build_all(), tmp_path)
    assert (tmp_path / "expected.tsv").read_text() == (SAMPLES / "expected.tsv").read_text()
    for built in tmp_path.glob("*.eml"):
        assert built.read_bytes() == (SAMPLES / built.name).read_bytes(), built.name
