"""The real bounce corpus: agree with the manifest on code and IP, and know every miss."""

from __future__ import annotations

from pathlib import Path

from delist_bot.ndr import extract
from tests.conftest import TESTS, read_tsv

KNOWN = {row["path"]: row for row in read_tsv(TESTS / "corpus_disagreements.tsv")}


def _reading(corpus: Path, row: dict[str, str]) -> tuple[str | None, str | None]:
    extraction = extract((corpus / row["path"]).read_bytes())
    assert extraction.error is None, row["path"]
    return extraction.ndr_code, extraction.ip


def test_agrees_with_the_manifest(corpus_dir: Path) -> None:
    rows = read_tsv(corpus_dir / "MANIFEST.tsv")
    misses = {}
    for row in rows:
        got = _reading(corpus_dir, row)
        if got != (row["enhanced_code"] or None, row["blocked_ip"] or None):
            misses[row["path"]] = got
    assert set(misses) == set(KNOWN), "a new disagreement, or a listed one that now agrees"
    for path, (code, ip) in misses.items():
        assert (code or "", ip or "") == (KNOWN[path]["got_code"], KNOWN[path]["got_ip"]), path
    assert 1 - len(misses) / len(rows) >= 0.95


def test_smtp_codes_agree(corpus_dir: Path) -> None:
    for row in read_tsv(corpus_dir / "MANIFEST.tsv"):
        if row["path"] in KNOWN:
            continue
        extraction = extract((corpus_dir / row["path"]).read_bytes())
        expected = int(row["smtp_code"]) if row["smtp_code"] else None
        assert extraction.smtp_code == expected, row["path"]
