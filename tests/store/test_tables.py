"""The store's tables one by one: the outbox's claims and retries, processed messages, the
quarantine log, and typed records that read and write the documents of earlier versions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.core.models import (
    MailRecord,
    MailStatus,
    MessageRecord,
    OutgoingMail,
    QuarantineRecord,
)
from delist_bot.core.quarantine import entries, record_id
from delist_bot.store import Store
from delist_bot.store.tables.messages import SEEN_WINDOW
from delist_bot.store.tables.outbox import CLAIM_TIMEOUT, LOST_BYTES
from delist_bot.store.tables.quarantine import QUARANTINE_HOT

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

# An outbox document as versions before the typed records wrote it, and one from before team
# mail was split (no "body": the spool keeps the bytes under the mail's id).
STORED_MAIL = {
    "spool": "abc.spool",
    "body": "m1",
    "id": "m1-2",
    "kind": "reviewer_notification",
    "to": "r2@team.example",
    "case_id": "DL-000001",
    "message_id": "<m1@d.example>",
    "created_at": NOW.isoformat(),
    "status": "pending",
    "attempts": 0,
    "next_attempt_at": NOW.isoformat(),
    "last_error": None,
    "sent_at": None,
    "claimed_at": None,
}
OLDER_MAIL = {k: v for k, v in STORED_MAIL.items() if k != "body"} | {"id": "m0"}
FAILED_MAIL = STORED_MAIL | {
    "status": "failed",
    "attempts": 6,
    "last_error": "550 5.1.1 no such user (at RCPT TO)",
    "failed_at": (NOW + timedelta(days=3)).isoformat(),
    "retried_at": (NOW + timedelta(days=1)).isoformat(),
}


def outgoing(n: int, at: datetime = NOW, *recipients: str) -> OutgoingMail:
    return OutgoingMail(
        id=f"m{n}",
        kind="review",
        to="a@x.example",
        raw=f"mail {n}\r\n".encode(),
        message_id=f"<m{n}@x>",
        created_at=at,
        recipients=recipients,
    )


@pytest.mark.parametrize("doc", [STORED_MAIL, FAILED_MAIL], ids=["pending", "failed"])
def test_a_mail_record_writes_back_the_document_it_was_read_from(doc: dict) -> None:
    assert MailRecord.from_doc(doc).to_doc() == doc


def test_a_mail_record_from_before_team_mail_keeps_its_bytes_under_its_id() -> None:
    record = MailRecord.from_doc(OLDER_MAIL)
    assert (record.body, record.status) == ("m0", MailStatus.PENDING)


def test_the_statuses_are_the_strings_stored_before() -> None:
    assert [s.value for s in MailStatus] == ["pending", "sending", "sent", "failed"]


def test_a_queued_mail_is_stored_as_before(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(outgoing(1, NOW, "r1@team.example", "r2@team.example"))
        spool = tx.outbox.spool_name
    with store.transaction() as tx:
        docs = {doc["id"]: doc for doc in tx.db.table("outbox").all()}
    # Both recipients' records share the bytes of one spool entry.
    expected = STORED_MAIL | {"spool": spool, "kind": "review", "case_id": None}
    assert docs["m1-2"] == expected | {"to": "r2@team.example", "message_id": "<m1@x>"}
    assert docs["m1-1"]["body"] == "m1"


def test_a_message_record_round_trips() -> None:
    record = MessageRecord("mid:<1@x>", "7", NOW, "review", "opened", case_id="DL-000001")
    doc = record.to_doc()
    assert doc["received_at"] == NOW.isoformat() and doc["action"] == "review"
    assert MessageRecord.from_doc(doc) == record


def test_claims_take_the_oldest_due_mail_up_to_the_limit(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        for n, minutes in ((1, 2), (2, 0), (3, 1), (4, 60)):  # m4 is due only in an hour
            mail = outgoing(n, NOW + timedelta(minutes=minutes))
            tx.outbox.enqueue(mail)
    later = NOW + timedelta(minutes=5)
    with store.transaction() as tx:
        claimed = tx.outbox.claim(later, limit=2)
        assert [m.id for m in claimed] == ["m2", "m3"]
        assert [tx.outbox.mail_bytes(m) for m in claimed] == [b"mail 2\r\n", b"mail 3\r\n"]
        assert [m.id for m in tx.outbox.claim(later, limit=5)] == ["m1"]  # not the claimed
    with store.transaction() as tx:
        statuses = {m.id: m.status for m in tx.outbox.all()}
    assert statuses == {"m1": "sending", "m2": "sending", "m3": "sending", "m4": "pending"}


def test_a_claim_whose_sender_died_is_due_again_after_the_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(outgoing(1))
        assert [m.id for m in tx.outbox.claim(NOW)] == ["m1"]
    with store.transaction() as tx:
        assert tx.outbox.claim(NOW + CLAIM_TIMEOUT - timedelta(seconds=1)) == []
        assert [m.id for m in tx.outbox.claim(NOW + CLAIM_TIMEOUT + timedelta(seconds=1))] == ["m1"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ({"attempts": "many"}, "its record is damaged (ValueError"),
        ({"created_at": "yesterday"}, "its record is damaged (ValueError"),
        ({"spool": "gone.spool"}, LOST_BYTES),
    ],
)
def test_a_damaged_or_lost_mail_fails_alone(tmp_path: Path, damage: dict, reason: str) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(outgoing(1))
        tx.outbox.enqueue(outgoing(2, NOW + timedelta(seconds=1)))
    with store.transaction() as tx:
        [doc_id] = [d.doc_id for d in tx.db.table("outbox").all() if d["id"] == "m1"]
        tx.db.table("outbox").update(damage, doc_ids=[doc_id])
    with store.transaction() as tx:
        claimed = tx.outbox.claim(NOW + timedelta(minutes=1), limit=5)
        failed = tx.db.table("outbox").get(doc_id=doc_id)
    assert [m.id for m in claimed] == ["m2"]
    assert failed["status"] == "failed" and failed["last_error"].startswith(reason)


def test_retry_queues_a_failed_mail_again_and_refuses_one_being_sent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(outgoing(1))
        tx.outbox.enqueue(outgoing(2))
    later = NOW + timedelta(days=4)
    with store.transaction() as tx:
        tx.outbox.update("m1", status="failed", last_error="550", failed_at=NOW.isoformat())
        tx.outbox.claim(NOW, limit=5)  # m2 is being sent
    with store.transaction() as tx:
        again = tx.outbox.retry("m1", later)
        with pytest.raises(ValueError, match="mail m2 is sending"):
            tx.outbox.retry("m2", later)
        with pytest.raises(KeyError):
            tx.outbox.retry("m9", later)
    assert (again.status, again.next_attempt_at, again.retried_at) == ("pending", later, later)
    assert again.claimed_at is None


def test_a_sent_mail_leaves_for_the_archive_with_the_commit(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(outgoing(1))
        tx.outbox.enqueue(outgoing(2))
    with store.transaction() as tx:
        tx.outbox.update("m1", status=MailStatus.SENT, sent_at=NOW.isoformat(), attempts=1)
        assert [m.id for m in tx.outbox.all()] == ["m2"]
    [archived] = [MailRecord.from_doc(d) for d in store.archive.records("outbox")]
    assert (archived.id, archived.status, archived.sent_at) == ("m1", MailStatus.SENT, NOW)


def test_a_message_is_seen_until_the_window_passes(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.messages.record(MessageRecord("k1", "1", NOW, "review", "opened"))
        tx.messages.record(MessageRecord("k2", "2", NOW + timedelta(days=1), None, "ignored"))
    assert store.compact(NOW + SEEN_WINDOW + timedelta(hours=1)) == {}
    with store.transaction() as tx:
        assert (tx.messages.seen("k1"), tx.messages.seen("k2")) == (False, True)
    assert [r["key"] for r in store.archive.records("messages")] == ["k1", "k2"]


def test_quarantine_records_stay_hot_for_a_month(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    record = QuarantineRecord("7", "k", "too big", NOW, "q1", "input", "ab12")
    with store.transaction() as tx:
        tx.quarantine.record(record)
    assert store.compact(NOW + QUARANTINE_HOT - timedelta(hours=1)) == {}
    assert store.compact(NOW + QUARANTINE_HOT + timedelta(hours=1)) == {"quarantine": 1}
    with store.transaction() as tx:
        assert tx.quarantine.all() == []
    assert store.archive.records("quarantine") == [record.to_doc()]
    assert record.to_doc() == {
        "id": "q1",
        "uid": "7",
        "key": "k",
        "reason": "too big",
        "at": NOW.isoformat(),
        "kind": "input",
        "sha256": "ab12",
    }


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        ({"uid": "1", "key": "k", "reason": "internal error: KeyError", "at": "T"}, "internal"),
        ({"uid": "2", "key": "k", "reason": "message is 20000000 bytes", "at": "T"}, "input"),
        ({"uid": "3", "key": "k", "reason": "x", "at": "T", "kind": "internal"}, "internal"),
    ],
)
def test_quarantine_records_of_earlier_versions_read_as_written(doc: dict, kind: str) -> None:
    doc = doc | {"at": NOW.isoformat()}
    record = QuarantineRecord.from_doc(doc)
    assert record.to_doc() == doc
    [entry] = entries([record], {})
    assert entry.kind == kind and entry.id == (record.id or record_id(doc["uid"], "k", doc["at"]))


def test_state_is_read_once_and_written_back_key_by_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.state.set("a", 1)
        tx.state.set("b", [1])
    with store.transaction() as tx:
        assert tx.cases.next_number() == 1
    with store.transaction() as tx:
        values = {doc["key"]: doc["value"] for doc in tx.db.table("state").all()}
    assert values == {"a": 1, "b": [1], "case_counter": 1}


def test_a_typed_record_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        MailRecord.from_doc(STORED_MAIL).status = MailStatus.SENT  # type: ignore[misc]
