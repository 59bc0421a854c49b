"""Shared fixtures: where the samples and the shared corpus live."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SAMPLES = TESTS / "samples"
CORPUS = TESTS.parent.parent / "shared" / "corpus"


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip("the shared corpus is not beside this checkout")
    return CORPUS
