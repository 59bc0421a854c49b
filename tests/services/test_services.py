"""The services the CLI and the worker share: a decision's one "too late" rule, the digest sent
without a worker, and a pass run from a configuration, over a real store and a real Maildir."""

from __future__ import annotations

import dataclasses
import email
from datetime import timedelta
from itertools import product
from pathlib import Path

import pytest

from delist_bot.config import Config
from delist_bot.core import cases
from delist_bot.core.models import CaseStatus
from delist_bot.core.review import COMMANDS, Command
from delist_bot.services import cases as case_service
from delist_bot.services import reports, run
from delist_bot.services.demo import run_demo
from delist_bot.services.errors import UserError
from tests.core.test_case_lifecycle import REQUEST, T0


@pytest.mark.parametrize(
    ("status", "decided_by", "word"), list(product(CaseStatus, (None, "policy"), COMMANDS))
)
def test_too_late_is_the_rule_apply_command_follows(
    status: CaseStatus, decided_by: str | None, word: str
) -> None:
    """The CLI asks `too_late`; a reviewer's mail goes through `apply_command`: one rule."""
    case = dataclasses.replace(
        cases.open_case(1, REQUEST, T0), status=status, decided_by=decided_by
    )
    late = cases.too_late(case, word)
    decision = cases.apply_command(case, Command(word, ""), "rev@example.net", T0)
    assert (late is None) == decision.applied
    if late is not None:
        assert late == f"DL-000001 is already {status.value}; only note and take work now"
        assert decision.notices[0].text == late  # the reviewer reads what the terminal prints


@pytest.fixture
def demo(tmp_path: Path) -> Config:
    """A store with the demo's cases, on a Maildir and a folder of .eml files."""
    return run_demo(tmp_path / "demo", now=T0).config


def test_a_late_word_is_refused_with_the_core_answer(demo: Config) -> None:
    case, mails = case_service.decide(demo, "dl-000001", "approve", "", "ann (terminal)", T0)
    assert case.status is CaseStatus.DELISTED and [m.kind for m in mails] == ["delisted"]
    with pytest.raises(UserError, match=r"^DL-000001 is already delisted; only note and take"):
        case_service.decide(demo, "DL-000001", "deny", "", "ann (terminal)", T0)
    noted, _ = case_service.decide(demo, "DL-000001", "note", "seen", "ann (terminal)", T0)
    assert noted.events[-1].kind == "note"
    with pytest.raises(UserError, match=r"^no case DL-999999$"):
        case_service.decide(demo, "DL-999999", "note", "", "ann (terminal)", T0)


def test_the_digest_is_sent_without_a_worker(demo: Config) -> None:
    assert reports.email_digest(demo, T0).sent == []  # no operators: nothing queued
    operators = dataclasses.replace(demo.review, operators=["ops@delist-bot.example"])
    sent = reports.email_digest(dataclasses.replace(demo, review=operators), T0).sent
    assert [(m.kind, m.to) for m in sent] == [("digest", "ops@delist-bot.example")]
    written = Path(demo.smtp.path) / f"{sent[0].id}.eml"
    assert email.message_from_bytes(written.read_bytes())["X-Delist-Bot-Action"] == "digest"


def test_one_pass_from_a_configuration_releases_the_worker_lock(demo: Config) -> None:
    later = run.run_once(demo, T0 + timedelta(hours=1))
    assert later.report.processed == [] and later.unattended == 0
    assert not reports.health_facts(demo, T0).worker_running
