"""The store's files: mail kept as bytes, text always valid UTF-8, private files, old formats read,
and archived cases found by id through the index."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.core import cases
from delist_bot.core.models import Event, Extraction, MessageRecord, OutgoingMail
from delist_bot.core.review import Command
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store, StoreWriteError, raw_of
from delist_bot.store.archive import Archive
from delist_bot.store.files import replace_file
from tests.conftest import DATA_SAMPLES, delist_bot
from tests.runtime.test_faults import maildir_config, seed

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LATIN1 = "Grüße aus Köln: àéèùç ÀÉÈÙ ñ ø å æ ß, voilà, déjà vu.\n".encode("latin-1")


def mail(raw: bytes, n: int = 1) -> OutgoingMail:
    return OutgoingMail(
        id=f"m{n}",
        kind="review",
        to="a@x.example",
        case_id=None,
        message_id=f"<m{n}@x>",
        created_at=NOW,
        raw=raw,
    )


def decided_case(n: int, ip: str, at: datetime, text: str = "") -> cases.Case:
    request = Extraction(message_id=f"<r{n}@x>", sender="a@x.example", ndr_code="5.7.511", ip=ip)
    case = cases.apply_command(
        cases.open_case(n, request, at), Command("approve", ""), "r@x.example", at
    ).case
    if text:
        note = Event(at, "r@x.example", "note", text)
        case = dataclasses.replace(case, events=(*case.events, note))
    return case


# Bytes are bytes.
def test_a_mail_costs_its_own_size_in_the_spool_and_comes_back_byte_for_byte(
    tmp_path: Path,
) -> None:
    raw = b"Subject: x\r\n\r\n" + LATIN1 * 20_000 + bytes(range(256))  # every byte value
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(mail(raw))
        tx.outbox.enqueue(mail(b"short\n", 2))
    (spooled,) = (tmp_path / "s.json.spool").iterdir()
    assert spooled.stat().st_size <= 1.4 * (len(raw) + 6)  # was about 5x: \u00e9 for each é
    with store.transaction() as tx:
        docs = {mail.id: mail for mail in tx.outbox.all()}
        assert (
            tx.outbox.mail_bytes(docs["m1"]) == raw
            and tx.outbox.mail_bytes(docs["m2"]) == b"short\n"
        )
    assert raw_of(store, docs["m1"]) == raw


def test_a_spool_file_of_the_old_format_is_still_read(tmp_path: Path) -> None:
    # Before: JSON lines with the bytes as latin-1 text, named *.jsonl.
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(mail(b"new"))
    old = {"id": "old1", "raw": (b"old " + LATIN1).decode("latin-1")}
    (tmp_path / "s.json.spool" / "0ld.jsonl").write_text(json.dumps(old) + "\n")
    with store.transaction() as tx:
        old_doc = {
            **tx.outbox.all()[0].to_doc(),
            "id": "old1",
            "body": "old1",
            "spool": "0ld.jsonl",
        }
        tx.db.table("outbox").insert(old_doc)
    with store.transaction() as tx:
        docs = {mail.id: mail for mail in tx.outbox.all()}
        assert tx.outbox.mail_bytes(docs["old1"]) == b"old " + LATIN1
        assert tx.outbox.mail_bytes(docs["m1"]) == b"new"
    store.compact(NOW)  # both are still wanted
    assert len(list((tmp_path / "s.json.spool").iterdir())) == 2


def test_sent_mail_leaves_the_spool_and_so_do_leftovers(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.outbox.enqueue(mail(b"x"))
    (tmp_path / "s.json.spool" / ".dead.mail.123.tmp").write_bytes(b"half")  # a crash
    with store.transaction() as tx:
        tx.outbox.update("m1", status="sent", sent_at=NOW.isoformat())
    store.compact(NOW)
    assert list((tmp_path / "s.json.spool").iterdir()) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()  # os.replace(file, directory) fails for real
    with pytest.raises(StoreWriteError, match=f"cannot write {target}: Is a directory"):
        replace_file(target, [b"data"])
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


# Text is text at rest.
def _old_store_with_a_lone_surrogate(path: Path, case: cases.Case) -> None:
    """What an older version wrote: JSON with ensure_ascii, the surrogate as an escape."""
    store = Store(path)
    with store.transaction() as tx:
        tx.cases.save(dataclasses.replace(case, events=case.events[:-1]))
    data = json.loads(path.read_text())
    (doc,) = data["cases"].values()
    doc["events"].append({"at": NOW.isoformat(), "actor": "r", "kind": "note", "text": "\udc80"})
    path.write_text(json.dumps(data))
    assert "\\udc80" in path.read_text()


def test_a_lone_surrogate_in_old_data_is_archived_as_a_replacement_character(
    tmp_path: Path,
) -> None:
    case = decided_case(1, "81.2.69.142", NOW - timedelta(days=8), text="x")
    _old_store_with_a_lone_surrogate(tmp_path / "s.json", case)
    store = Store(tmp_path / "s.json")
    assert store.compact(NOW) == {"cases": 1}  # raised UnicodeEncodeError, every pass, for good
    with store.transaction() as tx:
        assert tx.cases.all() == []
        assert tx.cases.get(case.id).events[-1].text == "\ufffd"
    assert store.archive.case(case.id)["events"][-1]["text"] == "\ufffd"


def test_a_lone_surrogate_never_fails_a_store_write_and_is_stored_as_valid_text(
    tmp_path: Path,
) -> None:
    case = decided_case(1, "81.2.69.142", NOW, text="note +3IA- \udc80 and \ud83d alone")
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.cases.save(case)
    text = (tmp_path / "s.json").read_bytes().decode("utf-8")  # strict: valid UTF-8
    assert "note +3IA- \ufffd and \ufffd alone" in text


def test_a_pass_archives_a_case_with_a_lone_surrogate_and_exits_0(tmp_path: Path) -> None:
    config = maildir_config(tmp_path)
    seed(config, [(DATA_SAMPLES / "07-need-info-placeholder.eml").read_bytes()])
    store_file = Path(config.store.path)
    case = decided_case(1, "81.2.69.142", NOW - timedelta(days=8), text="x")
    _old_store_with_a_lone_surrogate(store_file, case)
    config_file = tmp_path / "delist-bot.toml"
    config_file.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{config.mailbox.path}"\n'
        f'[smtp]\nkind = "files"\npath = "{config.smtp.path}"\nfrom_address = "d@x.example"\n'
        f'[store]\npath = "{store_file}"\n'
    )
    for days in (0, 1, 7):  # and the passes after it
        at = (NOW + timedelta(days=days)).isoformat()
        result = delist_bot("run", "--once", "--now", at, "--config", str(config_file))
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    with Store(store_file).transaction() as tx:
        assert tx.cases.all() == []  # archived, and the need-info request opened none
        assert tx.cases.get(case.id).events[-1].text == "\ufffd"


# Private files.
@pytest.fixture(params=[0o000, 0o022])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_every_file_and_folder_the_bot_makes_is_private_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    (tmp_path / "bot").mkdir()
    config = maildir_config(tmp_path / "bot")
    config = dataclasses.replace(
        config, store=dataclasses.replace(config.store, path=str(tmp_path / "bot/data/s.json"))
    )
    seed(config, [p.read_bytes() for p in sorted(DATA_SAMPLES.glob("*.eml"))])
    worker = Worker(config)
    worker.run_once(NOW - timedelta(days=9))
    with worker.store.transaction() as tx:  # a decision, so that compaction archives a case
        (case, *_) = tx.cases.open()
        tx.cases.save(decided_case(int(case.id[3:]), case.ip, NOW - timedelta(days=8)))
    worker.journal.record("m0", {"status": "sent"})  # as the courier writes it
    [live] = worker.journal.path.parent.glob(worker.journal.path.name + ".live.*")
    assert stat.S_IMODE(live.stat().st_mode) == 0o600
    worker.run_once(NOW)
    worker.store.hold_worker_lock()
    worker.store.release_worker_lock()

    made = [p for p in (tmp_path / "bot").rglob("*") if "maildir" not in p.parts]
    names = {p.relative_to(tmp_path / "bot").as_posix() for p in made}
    expected = ["data/s.json", "data/s.json.bak", "data/s.json.lock", "data/s.json.worker"]
    expected += ["data/s.json.archive/case-ids.txt", "outbox"]
    assert set(expected) <= names, names
    assert any(n.startswith("data/s.json.archive/cases/") for n in names)
    assert any(n.startswith("data/s.json.archive/messages/") for n in names)
    assert any(n.startswith("data/s.json.spool") for n in names)
    assert any(n.startswith("outbox/") for n in names)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in made}
    assert {
        n: m for n, m in modes.items() if m != (0o700 if Path(tmp_path, n).is_dir() else 0o600)
    } == {}


def test_files_an_older_version_made_world_readable_become_private(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.state.set("review_secret", "s")
        tx.messages.record(MessageRecord("k", "1", NOW, None, "done"))
    for path in tmp_path.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    with store.transaction() as tx:
        tx.messages.record(MessageRecord("k2", "2", NOW, None, "done"))
    leaky = [p for p in tmp_path.rglob("*") if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert leaky == []


# Finding an archived case by id.
def test_an_archived_case_is_found_by_id_in_one_shard_and_an_unknown_id_in_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s.json")
    old = [decided_case(n, f"81.2.{n}.1", NOW - timedelta(days=9)) for n in range(1, 40)]
    with store.transaction() as tx:
        for case in old:
            tx.cases.save(case)
    assert store.compact(NOW) == {"cases": 39}
    index = (tmp_path / "s.json.archive" / "case-ids.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in index) == [c.id for c in old]

    opened: list[str] = []  # a spy on the shard reader, to count what a lookup opens
    read = Archive._read
    spy = staticmethod(lambda path, **kw: opened.append(path.name) or read(path, **kw))
    monkeypatch.setattr(Archive, "_read", spy)
    with store.transaction() as tx:
        assert tx.cases.get("DL-000017") == old[16]
        assert len(opened) == 1
        assert tx.cases.get("DL-999999") is None
        assert tx.cases.get("DL-000040") is None
        assert len(opened) == 1


def test_an_archive_from_before_the_index_gets_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    old = [decided_case(n, f"81.2.{n}.1", NOW - timedelta(days=9)) for n in range(1, 6)]
    with store.transaction() as tx:
        for case in old:
            tx.cases.save(case)
    store.compact(NOW)
    (tmp_path / "s.json.archive" / "case-ids.txt").unlink()
    with store.transaction() as tx:
        assert tx.cases.get("DL-000003") == old[2]
    assert len((tmp_path / "s.json.archive" / "case-ids.txt").read_text().splitlines()) == 5
    newer = decided_case(6, "81.2.6.1", NOW - timedelta(days=9))
    with Store(tmp_path / "s.json").transaction() as tx:  # another process adds one
        tx.cases.save(newer)
    Store(tmp_path / "s.json").compact(NOW)
    with store.transaction() as tx:  # this process's index catches up
        assert tx.cases.get("DL-000006") == newer


def test_a_lone_surrogate_this_process_saved_is_archived_by_this_process(tmp_path: Path) -> None:
    # A worker keeps what it wrote in memory: the surrogate is still there when, a week later,
    # the same process archives the case.
    store = Store(tmp_path / "s.json")
    case = decided_case(1, "81.2.69.142", NOW - timedelta(days=8), text="+3IA- \udc80")
    with store.transaction() as tx:
        tx.cases.save(case)
    assert store.compact(NOW) == {"cases": 1}
    assert store.archive.case(case.id)["events"][-1]["text"] == "+3IA- \ufffd"


def test_a_request_is_kept_while_its_case_is_hot_and_leaves_with_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        tx.cases.save(decided_case(1, "81.2.69.142", NOW - timedelta(days=8)))
        tx.cases.keep_request("DL-000001", b"the request")
    assert store.request("DL-000001") == b"the request"
    store.compact(NOW)  # decided 8 days ago: the case goes to the archive
    assert store.request("DL-000001") is None
    assert list((tmp_path / "s.json.requests").iterdir()) == []
