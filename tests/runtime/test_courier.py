"""The courier's retry policy, without a server: what each SMTP answer at each stage does to the
mail (sent, retried when, given up) and to the rest of the batch; then the courier itself, on
real files and against a port that refuses connections.

`judge` and `stops_the_batch` (smtp/transport.py) read the answer; `after_attempt`
(runtime/courier.py) turns the verdict into the outbox record's next state.
"""

from __future__ import annotations

import itertools
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.core.models import MailRecord
from delist_bot.runtime.courier import (
    GIVE_UP_AFTER,
    RETRY_DELAYS,
    Courier,
    after_attempt,
    attempt,
)
from delist_bot.runtime.journal import Journal
from delist_bot.smtp.transport import DeliveryOutcome, Stage, Transport, judge, stops_the_batch

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE, HOUR = 60, 3600
SENDER = "delist@d.example"
RAW = b"From: delist@d.example\r\nTo: a@b.example\r\nSubject: x\r\n\r\nhi\r\n"


def queued(mail_id: str = "m1", **fields: Any) -> MailRecord:
    """An outbox record as the store hands it to the courier (read from its stored form)."""
    doc = {
        "id": mail_id,
        "spool": mail_id,
        "kind": "review",
        "to": "a@b.example",
        "status": "sending",
        "attempts": 0,
        "created_at": NOW.isoformat(),
        **fields,
    }
    return MailRecord.from_doc(doc)


def seconds_to_next(changes: dict[str, Any]) -> float:
    return (datetime.fromisoformat(changes["next_attempt_at"]) - NOW).total_seconds()


# 1. Each answer: the mail's fate and the connection's ------------------------------------------
# (stage, code, the mail after its first attempt, the connection dropped so the next mail of the
# batch waits). Only a recipient's own 5xx fails a mail; a login answer (RFC 4954: 530, 534,
# 535, 538) waits for the configuration to be fixed, wherever it comes.
RETRY, FAILED = "pending", "failed"
ANSWERS = [
    (Stage.CONNECT, 421, RETRY, True),  # service not available
    (Stage.CONNECT, 554, RETRY, True),  # a greeting that refuses us: the server's, not the mail's
    (Stage.AUTH, 454, RETRY, True),  # temporary authentication failure
    (Stage.AUTH, 535, RETRY, True),  # bad credentials
    (Stage.MAIL, 421, RETRY, True),
    (Stage.MAIL, 451, RETRY, True),
    (Stage.MAIL, 530, RETRY, True),
    (Stage.MAIL, 550, RETRY, True),  # our sender refused: the server's configuration
    (Stage.MAIL, 552, FAILED, True),  # SIZE= too big: this mail (RFC 1870)
    (Stage.MAIL, 555, RETRY, True),  # a MAIL parameter refused: the server's
    (Stage.RCPT, 421, RETRY, True),  # closing: every next mail would meet it
    (Stage.RCPT, 450, RETRY, False),  # mailbox busy: this recipient, for now
    (Stage.RCPT, 452, RETRY, False),
    (Stage.RCPT, 454, RETRY, False),
    (Stage.RCPT, 530, RETRY, True),
    (Stage.RCPT, 538, RETRY, True),
    (Stage.RCPT, 550, FAILED, False),  # no such user: this recipient, for good
    (Stage.RCPT, 551, FAILED, False),
    (Stage.RCPT, 553, FAILED, False),
    (Stage.DATA, 421, RETRY, True),
    (Stage.DATA, 451, RETRY, False),
    (Stage.DATA, 452, RETRY, False),
    (Stage.DATA, 534, RETRY, True),
    (Stage.DATA, 552, FAILED, False),  # over the recipient's quota
    (Stage.DATA, 554, FAILED, False),  # the content refused
]


@pytest.mark.parametrize(("stage", "code", "status", "drops"), ANSWERS)
def test_each_answer_decides_the_mail_and_the_connection(
    stage: Stage, code: int, status: str, drops: bool
) -> None:
    outcome = judge(stage, code)
    assert outcome is (DeliveryOutcome.RETRY if status == RETRY else DeliveryOutcome.FAILED)
    assert stops_the_batch(stage, code) is drops
    detail = f"{code} refused (at {stage})"
    changes = after_attempt(queued(), outcome, detail, NOW)
    assert changes["status"] == status
    assert changes["attempts"] == 1
    assert changes["last_error"] == detail
    if status == RETRY:
        assert seconds_to_next(changes) == MINUTE
        assert "failed_at" not in changes
    else:
        assert changes["failed_at"] == NOW.isoformat()
        assert "next_attempt_at" not in changes


def test_a_sent_mail_keeps_no_error() -> None:
    mail = queued(attempts=2, last_error="451 try later (at DATA)")
    assert after_attempt(mail, DeliveryOutcome.SENT, "", NOW) == {
        "status": "sent",
        "attempts": 3,
        "sent_at": NOW.isoformat(),
        "last_error": None,
    }


# 2. When the next attempt comes ----------------------------------------------------------------
SCHEDULE = [  # attempts made before this one -> seconds until the next
    (0, 1 * MINUTE),
    (1, 5 * MINUTE),
    (2, 15 * MINUTE),
    (3, 1 * HOUR),
    (4, 3 * HOUR),
    (5, 6 * HOUR),
    (6, 6 * HOUR),  # then every 6 hours
    (40, 6 * HOUR),
]


@pytest.mark.parametrize(("before", "wait"), SCHEDULE)
def test_retries_back_off_to_every_six_hours(before: int, wait: int) -> None:
    changes = after_attempt(queued(attempts=before), DeliveryOutcome.RETRY, "451", NOW)
    assert (changes["status"], changes["attempts"]) == ("pending", before + 1)
    assert seconds_to_next(changes) == wait


def test_the_schedule_in_full_a_mail_refused_for_ever() -> None:
    """Attempted when due, refused every time: 18 attempts, the last one past three days."""
    mail, at, times = queued(), NOW, []
    while True:
        changes = after_attempt(mail, DeliveryOutcome.RETRY, "451 later", at)
        times.append(at)
        if changes["status"] == "failed":
            break
        mail = MailRecord.from_doc({**mail.to_doc(), **changes})  # as the store settles it
        at = datetime.fromisoformat(changes["next_attempt_at"])
    assert len(times) == 18
    assert times[-2] - NOW <= GIVE_UP_AFTER < times[-1] - NOW
    assert times[-1] - NOW == timedelta(hours=76, minutes=21)
    assert changes["last_error"] == "451 later"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps[: len(RETRY_DELAYS)] == list(RETRY_DELAYS)


AGES = [  # (the record's times, the attempt's verdict when refused for now)
    ({"created_at": (NOW - timedelta(days=3)).isoformat()}, "pending"),  # exactly three days
    ({"created_at": (NOW - timedelta(days=3, seconds=1)).isoformat()}, "failed"),
    # `outbox retry` gives a mail three days from the retry
    (
        {
            "created_at": (NOW - timedelta(days=10)).isoformat(),
            "retried_at": (NOW - timedelta(hours=1)).isoformat(),
        },
        "pending",
    ),
    (
        {
            "created_at": (NOW - timedelta(days=10)).isoformat(),
            "retried_at": (NOW - timedelta(days=4)).isoformat(),
        },
        "failed",
    ),
    # A time without a zone counts as now: the mail is retried, the courier does not stop. (A
    # time that is no time fails that mail alone at the store's claim: tests/store/test_tables.py.)
    ({"created_at": "2020-01-01T00:00:00"}, "pending"),
]


@pytest.mark.parametrize(("times", "status"), AGES)
def test_three_days_then_it_is_given_up(times: dict[str, Any], status: str) -> None:
    changes = after_attempt(queued(**times), DeliveryOutcome.RETRY, "421 busy", NOW)
    assert changes["status"] == status
    assert changes["last_error"] == "421 busy"


def test_a_permanent_refusal_fails_at_once_whatever_the_age() -> None:
    changes = after_attempt(queued(attempts=None), DeliveryOutcome.FAILED, "550 no such user", NOW)
    assert changes == {
        "status": "failed",
        "attempts": 1,
        "last_error": "550 no such user",
        "failed_at": NOW.isoformat(),
    }


# 3. One attempt, whatever the record holds ---------------------------------------------------


def files_config(folder: Path) -> Config:
    settings = {
        "mailbox": {"kind": "maildir", "path": str(folder / "mail")},
        "smtp": {"kind": "files", "path": str(folder / "outbox"), "from_address": SENDER},
        "store": {"path": str(folder / "store.json")},
    }
    return from_dict(settings, {})


def test_an_exception_fails_that_mail_only(tmp_path: Path) -> None:
    transport = Transport(files_config(tmp_path))
    # A damaged record fails at the store's claim (tests/store/test_tables.py); bytes that are
    # no bytes get this far.
    failed = attempt(transport, SENDER, queued("1"), None)  # type: ignore[arg-type]
    sent = attempt(transport, SENDER, queued("2"), RAW)
    assert failed.outcome is DeliveryOutcome.FAILED
    assert failed.detail.startswith("TypeError: ")
    assert sent.outcome is DeliveryOutcome.SENT
    assert (tmp_path / "outbox" / "2.eml").read_bytes() == RAW


def test_an_address_that_cannot_be_sent_to_fails_before_any_server(tmp_path: Path) -> None:
    transport = Transport(refusing_config(tmp_path, port=9))  # nothing is connected to
    delivery = attempt(transport, SENDER, queued(to="no-at-sign\r\nBcc: v@x"), RAW)
    assert delivery.outcome is DeliveryOutcome.FAILED
    assert "control, space or unassigned character" in delivery.detail
    assert "\n" not in delivery.detail


# 4. The courier: a batch on one connection, each answer journaled -----------------------------


@pytest.fixture(autouse=True)
def switch_interval() -> Iterator[None]:
    """The courier shortens the interpreter's switch interval for its thread; give it back."""
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that is bound and never listens: a connection is refused at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def refusing_config(folder: Path, port: int) -> Config:
    settings = {
        "mailbox": {"kind": "maildir", "path": str(folder / "mail")},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "from_address": SENDER},
        "store": {"path": str(folder / "store.json")},
    }
    return from_dict(settings, {})


def run_courier(config: Config, journal: Journal, batches: list[list[MailRecord]]) -> list:
    courier = Courier(config, journal, SENDER, NOW)
    try:
        for batch in batches:
            courier.submit([(mail, RAW) for mail in batch])
        courier.wait()
        return courier.finished()
    finally:
        courier.close()


def test_a_batch_goes_out_in_order_and_each_result_is_journaled(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "store.json.journal")
    mails = [queued(f"m{i}") for i in range(3)]
    done = run_courier(files_config(tmp_path), journal, [mails[:2], mails[2:]])
    assert [(a.mail.id, a.changes["status"]) for a in done] == [
        ("m0", "sent"),
        ("m1", "sent"),
        ("m2", "sent"),
    ]
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["m0.eml", "m1.eml", "m2.eml"]
    lines = Journal.entries(journal.seal())
    assert lines == [{"id": a.mail.id, **a.changes} for a in done]


def test_a_server_that_is_down_is_tried_once_per_batch(tmp_path: Path, refused_port: int) -> None:
    """The first mail meets the refusal; the rest of the batch waits for its next attempt
    instead of costing a connection (or a timeout) each. A mail failed for itself does not
    stop the batch."""
    journal = Journal(tmp_path / "store.json.journal")
    mails = [queued("bad", to="not an address"), queued("m1"), queued("m2"), queued("m3")]
    done = run_courier(refusing_config(tmp_path, refused_port), journal, [mails])
    by_id = {a.mail.id: a for a in done}
    assert by_id["bad"].changes["status"] == "failed"
    assert by_id["m1"].detail.startswith("ConnectionRefusedError")
    for later in ("m2", "m3"):
        assert by_id[later].detail == f"not tried, the server failed: {by_id['m1'].detail}"
    for waiting in ("m1", "m2", "m3"):
        assert by_id[waiting].changes["status"] == "pending"
        assert seconds_to_next(by_id[waiting].changes) == MINUTE
    assert [e["id"] for e in Journal.entries(journal.seal())] == ["bad", "m1", "m2", "m3"]


def test_finished_hands_each_attempt_over_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "store.json.journal")
    courier = Courier(files_config(tmp_path), journal, SENDER, NOW)
    try:
        courier.submit([(queued("m1"), RAW)])
        courier.wait()
        assert [a.mail.id for a in courier.finished()] == ["m1"]
        assert courier.finished() == []
        courier.submit([])  # nothing to send: no thread, no journal line
        courier.wait()
        assert courier.finished() == []
    finally:
        courier.close()
    assert [e["id"] for e in Journal.entries(journal.seal())] == ["m1"]
