"""The mail kinds are one StrEnum whose values are stored in the outbox and sent as
X-Delist-Bot-Action: pinned here, each with its template, and each Action's reply among them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from delist_bot.compose.templates import TEMPLATES
from delist_bot.core.models import TEAM_MAIL, Action, MailKind
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES
from tests.runtime.test_pipeline import T0, run, sent

# The values as DESIGN.md lists them and earlier versions stored them: never renamed.
SENT_VALUES = {
    "review",
    "duplicate",
    "portal",
    "consumer",
    "other",
    "need_info",
    "not_listed",
    "delisted",
    "denied",
    "info_request",
    "holding",
    "reviewer_notification",
    "reviewer_reminder",
    "reviewer_followup",
    "reviewer_help",
    "operator_escalation",
    "digest",
}


def test_the_values_are_the_ones_stored_and_sent() -> None:
    assert {kind.value for kind in MailKind} == SENT_VALUES


@pytest.mark.parametrize("kind", list(MailKind), ids=str)
def test_each_kind_but_the_digest_has_its_template(kind: MailKind) -> None:
    folder = "internal" if kind in TEAM_MAIL else "replies"
    assert (TEMPLATES / folder / f"{kind}.en.txt").is_file() or kind is MailKind.DIGEST


def test_each_template_is_a_kind() -> None:
    for folder in ("replies", "internal"):
        for template in (TEMPLATES / folder).iterdir():
            assert MailKind(template.name.split(".")[0])


def test_each_action_that_gets_a_reply_is_the_kind_of_that_reply() -> None:
    assert {MailKind(a.value) for a in Action if a is not Action.IGNORE} <= set(MailKind)


def test_the_mail_the_record_and_the_store_carry_the_plain_value(tmp_path: Path) -> None:
    """A StrEnum goes out and into the store as its value, never as `MailKind.REVIEW`."""
    store = Store(tmp_path / "s.json")
    result = run(store, (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes(), T0)
    assert json.dumps(result.replies) == '["review", "reviewer_notification"]'
    [reply] = sent(store, "review")
    assert reply["X-Delist-Bot-Action"] == "review"
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b'"kind":"review"' in stored and b"MailKind" not in stored
