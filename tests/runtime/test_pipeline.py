"""One message at a time through the pipeline, on a real store file, without servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

from delist_bot.core.models import CaseStatus
from delist_bot.core.settings import Sender, Settings
from delist_bot.runtime.pipeline import process
from delist_bot.store import Store, raw_of
from tests.conftest import DATA_SAMPLES

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SETTINGS = Settings(
    sender=Sender.from_address("delist@d.example"), reviewers=("rev@d.example",), secret="s"
)


def run(store: Store, raw: bytes, at: datetime):
    with store.transaction() as tx:
        return process(tx, "1", raw, at, SETTINGS)


def sent(store: Store, kind: str):
    with store.transaction() as tx:
        return [message_from_bytes(raw_of(store, m)) for m in tx.outbox.all() if m.kind == kind]


def test_a_need_info_follow_up_with_the_ndr_becomes_a_review_case(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    first = run(store, (DATA_SAMPLES / "07-need-info-placeholder.eml").read_bytes(), T0)
    assert first.action == "need_info"
    [question] = sent(store, "need_info")
    complete = (
        (DATA_SAMPLES / "01-review-attached-en.eml")
        .read_bytes()
        .replace(
            b"Message-ID: <sample-001@example.org>",
            b"Message-ID: <complete@example.org>\nIn-Reply-To: " + question["Message-ID"].encode(),
        )
    )
    second = run(store, complete, T0 + timedelta(hours=1))
    assert (second.action, second.outcome, second.case_id) == ("review", "replied", "DL-000001")


def test_the_sender_writing_on_an_open_case_adds_to_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    run(store, (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes(), T0)
    note = (
        b"From: mario@mail.example.org\nSubject: Re: Undeliverable [DL-000001]\n"
        b"Message-ID: <more@example.org>\n\nWe also fixed our SPF record.\n"
    )
    result = run(store, note, T0 + timedelta(hours=2))
    assert (result.action, result.outcome, result.case_id) == (
        "follow_up",
        "added_to_case",
        "DL-000001",
    )
    with store.transaction() as tx:
        case = tx.cases.get("DL-000001")
    assert case.status is CaseStatus.OPEN and case.events[-1].kind == "follow_up"
    assert "SPF" in case.events[-1].text
    assert len(sent(store, "reviewer_followup")) == 1
    assert len(sent(store, "review")) == 1  # no second acknowledgement


def test_a_request_with_no_address_to_answer_is_quarantined(tmp_path: Path) -> None:
    """Found by the fuzz run: no From, no Reply-To, and not automatic."""
    result = run(Store(tmp_path / "s.json"), b"Subject: help\n\nplease unblock 81.2.69.142\n", T0)
    assert (result.outcome, result.reason) == ("quarantined", "no sender address to reply to")
