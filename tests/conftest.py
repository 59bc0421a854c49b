"""Shared fixtures: where the samples and the shared corpus live, the real servers, the command
line, and the `system` marker (the fast lane is `pytest -m "not system"`)."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.ndr import ocr
from tests.support.evidence_zones import nsd, rdap_url  # noqa: F401 (fixtures: NSD and RDAP servers)
from tests.support.servers import PASSWORD, Dovecot, SmtpServer, dovecot_available
from tests.support.zygote import Zygote

TESTS = Path(__file__).parent
SAMPLES = TESTS / "samples"
CORPUS = TESTS.parent.parent / "shared" / "corpus"


# `system`: a test that needs what a developer's machine may lack or what costs seconds: a real
# server (Dovecot, SMTP, DNS, RDAP), an outside program (Tesseract, Chromium, systemd), a
# new interpreter per command, or time measured as it grows. It gets the mark from a fixture it
# uses, from living in tests/system/, or from its own @pytest.mark.system.
SYSTEM_FIXTURES = frozenset(
    {
        "dovecot",
        "imap_user",
        "imap_config",
        "smtp_server",
        "silent",
        "chromium",
        "systemd",
        "nsd",
        "tesseract",
    }
)
SYSTEM_FOLDER = TESTS / "system"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SYSTEM_FIXTURES or item.path.is_relative_to(SYSTEM_FOLDER):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def tesseract() -> None:
    """Tesseract, the outside program that reads screenshots (a test that reads one is system)."""
    if ocr.missing() is not None:
        pytest.skip(str(ocr.missing()))


# The command line --------------------------------------------------------------------------------
_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def delist_bot(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it: a process of its own, in this process's folder,
    environment and umask. It is forked from one that imported delist-bot once
    (tests/support/zygote.py), so a command costs its work rather than an interpreter's start."""
    global _zygote
    with _zygote_lock:
        if _zygote is None:
            _zygote = Zygote()
    code, out, err = _zygote.run(*args, timeout=timeout, inherit=True)
    if code == -signal.SIGALRM:
        raise subprocess.TimeoutExpired(["delist-bot", *args], timeout, out, err)
    return subprocess.CompletedProcess(["delist-bot", *args], code, out, err)


def delist_bot_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m delist_bot ARGS`: a new interpreter, as the installed command starts one (for
    system tests of the entry point itself)."""
    return subprocess.run(
        [sys.executable, "-m", "delist_bot", *args], capture_output=True, text=True, timeout=timeout
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if _zygote is not None:
        _zygote.stop()


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
