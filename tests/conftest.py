"""Shared fixtures: where the samples and the shared corpus live, the real servers, and the
`system` marker that tests using those servers get (the fast lane is `pytest -m "not system"`)."""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from tests.support.evidence_zones import nsd, rdap_url  # noqa: F401 (fixtures: NSD and RDAP servers)
from tests.support.servers import PASSWORD, Dovecot, SmtpServer, dovecot_available

TESTS = Path(__file__).parent
SAMPLES = TESTS / "samples"
CORPUS = TESTS.parent.parent / "shared" / "corpus"


# A test that uses one of these fixtures talks to a real server (or a browser, or the crash
# drill's processes): it is marked `system` without its file saying so.
SYSTEM_FIXTURES = frozenset(
    {"dovecot", "imap_user", "imap_config", "smtp_server", "silent", "chromium", "systemd", "nsd"}
)
SYSTEM_FILES = frozenset({"test_crash_drill.py", "test_fuzz_pass.py", "test_report_outputs.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SYSTEM_FIXTURES or item.path.name in SYSTEM_FILES:
            item.add_marker(pytest.mark.system)


def delist_bot(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it: a real process."""
    return subprocess.run(
        [sys.executable, "-m", "delist_bot", *args], capture_output=True, text=True, timeout=timeout
    )


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip("the shared corpus is not beside this checkout")
    return CORPUS


DATA_SAMPLES = TESTS.parent / "data" / "samples"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not dovecot_available():
        pytest.skip("Dovecot is not installed or the tests are not root (run ./scripts/test)")
    server = Dovecot(Path(tempfile.mkdtemp(prefix="delist-dovecot-")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> str:
    """A user of its own, so that every test starts with an empty mailbox."""
    return dovecot.add_user()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer.start()
    yield server
    server.stop()


def imap_settings(dovecot: Dovecot, user: str, smtp: SmtpServer, store: Path, **extra) -> dict:
    settings = {
        "mailbox": {
            "kind": "imap",
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "username": user,
            "password": PASSWORD,
            "timeout": 10,
        },
        "smtp": {
            "kind": "smtp",
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "delist@delist.example.net",
            "timeout": 10,
        },
        "store": {"path": str(store)},
        "review": {"reviewers": ["reviewer@delist.example.net"]},
    }
    for section, values in extra.items():
        settings.setdefault(section, {}).update(values)
    return settings


@pytest.fixture
def imap_config(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> Config:
    return from_dict(imap_settings(dovecot, imap_user, smtp_server, tmp_path / "store.json"), {})
