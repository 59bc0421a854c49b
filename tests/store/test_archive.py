"""History leaves the hot store for the archive, and is still there when asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from delist_bot.compose.notice_mail import build_dossier
from delist_bot.compose.templates import render
from delist_bot.core import cases
from delist_bot.core.models import Extraction, MessageRecord
from delist_bot.core.review import Command
from delist_bot.store import Store

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def request(n: int, ip: str) -> Extraction:
    return Extraction(message_id=f"<r{n}@x>", sender="a@example.org", ndr_code="5.7.511", ip=ip)


def test_old_history_moves_to_the_archive_and_stays_findable(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    closed = cases.apply_command(
        cases.open_case(1, request(1, "81.2.69.142"), T0),
        Command("approve", ""),
        "r@x",
        T0 + timedelta(hours=3),
    ).case
    still_open = cases.open_case(2, request(2, "81.2.69.150"), T0)
    with store.transaction() as tx:
        tx.cases.save(closed)
        tx.cases.save(still_open)
        tx.messages.record(MessageRecord("mid:<r1@x>", "1", T0, "review", "opened"))

    assert store.compact(T0 + timedelta(days=1)) == {}  # nothing is old enough yet
    with store.transaction() as tx:
        assert tx.messages.seen("mid:<r1@x>")

    moved = store.compact(T0 + timedelta(days=9))
    assert moved == {"cases": 1}  # message records went to the archive when recorded
    with store.transaction() as tx:
        assert [c.id for c in tx.cases.all()] == ["DL-000002"]  # the hot store holds the present
        assert not tx.messages.seen("mid:<r1@x>")  # past the window against second deliveries
        assert tx.cases.get("DL-000001") == closed  # a reply to an old case still finds it
        nearby = tx.cases.near("81.2.69.142")
        assert [c.id for c in nearby.same_ip] == ["DL-000001"]
        assert [c.id for c in nearby.same_network] == ["DL-000002"]
    all_cases, messages, _, _ = store.history()
    assert sorted(c.id for c in all_cases) == ["DL-000001", "DL-000002"]
    assert [m["key"] for m in messages] == ["mid:<r1@x>"]


def test_a_torn_line_and_a_repeated_record_are_read_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    record = {"key": "mid:<a@x>", "received_at": T0.isoformat()}
    store.archive.append("messages", [record, record])
    path = next((tmp_path / "s.json.archive" / "messages").glob("*.jsonl"))
    with open(path, "a") as handle:
        handle.write('{"key": "mid:<b@x>", "recei')  # a crash in the middle of an append
    assert store.archive.records("messages") == [record]


def test_the_dossier_counts_every_neighbour_and_names_the_latest(tmp_path: Path) -> None:
    # A hoster's /24 can hold hundreds of cases: the reviewer gets a count, not a wall of ids.
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        for n in range(1, 13):
            tx.cases.save(cases.open_case(n, request(n, f"81.2.69.{n}"), T0))
        tx.cases.save(cases.open_case(13, request(13, "81.2.69.1"), T0))
    with store.transaction() as tx:
        nearby = tx.cases.near("81.2.69.1", excluding="DL-000013")
    assert (nearby.same_ip_total, [c.id for c in nearby.same_ip]) == (1, ["DL-000001"])
    assert nearby.same_network_total == 11
    assert [c.id for c in nearby.same_network] == [f"DL-0000{n:02d}" for n in range(8, 13)]
    case = cases.open_case(13, request(13, "81.2.69.1"), T0)
    text = render(
        "internal/reviewer_notification.en.txt",
        {"case": case, "words": "", "dossier": build_dossier(case, nearby, [], None)},
    )
    assert "Earlier cases for this IP: DL-000001 (open, 2026-11-01)\n" in text
    assert "Earlier cases in 81.2.69.0/24: 11, the latest 5: DL-000008 (open" in text
