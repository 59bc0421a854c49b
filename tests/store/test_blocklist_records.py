"""Block list entries as records: every document shape the store has held (entries from before
exceptions, exceptions, relisted and delisted ones) reads into a BlocklistEntry and back unchanged,
key order included, so the file and `blocklist list --json` stay byte for byte what they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tinydb import TinyDB

from delist_bot.cli import cli
from delist_bot.core.blocklist import BlocklistEntry, Delisting
from delist_bot.store import Store

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
AT = T0.isoformat()
LATER = (T0 + timedelta(days=1, microseconds=250)).isoformat()

# Each shape as some version wrote it. The oldest have no "exception"; an entry of that age that
# was relisted or excepted since has it last (TinyDB's update appends a new key).
SHAPES: dict[str, dict[str, Any]] = {
    "listed": {
        "network": "81.2.0.0/16",
        "reason": "trap hits",
        "added_at": AT,
        "active": True,
        "exception": False,
        "removed_at": None,
        "delistings": [],
        "relistings": 0,
    },
    "delisted by a case": {
        "network": "81.2.69.142/32",
        "reason": "",
        "added_at": AT,
        "active": False,
        "exception": False,
        "removed_at": LATER,
        "delistings": [f"{LATER} DL-000001"],
        "relistings": 0,
    },
    "exception": {
        "network": "81.2.69.142/32",
        "active": True,
        "exception": True,
        "reason": "approved in DL-000002, within 81.2.0.0/16",
        "added_at": LATER,
        "removed_at": None,
        "delistings": [f"{AT} DL-000001", f"{LATER} DL-000002"],
        "relistings": 1,
    },
    "before exceptions": {
        "network": "2001:db8::/48",
        "reason": "old",
        "added_at": "2025-01-02T03:04:05+00:00",
        "active": True,
        "removed_at": None,
        "delistings": [],
        "relistings": 0,
    },
    "before exceptions, relisted since": {
        "network": "192.0.2.0/24",
        "reason": "old",
        "added_at": LATER,
        "active": True,
        "removed_at": None,
        "delistings": ["2025-01-02T03:04:05.123456+00:00 DL-000007"],
        "relistings": 1,
        "exception": False,
    },
}


def _as_listed(doc: dict[str, Any]) -> dict[str, Any]:
    """What the table handed out before it had records: the document, "exception" made a bool."""
    return {**doc, "exception": bool(doc.get("exception"))}


@pytest.mark.parametrize("doc", SHAPES.values(), ids=SHAPES.keys())
def test_a_stored_shape_reads_into_a_record_and_back_unchanged(doc: dict[str, Any]) -> None:
    entry = BlocklistEntry.from_doc(doc)
    assert json.dumps(entry.to_doc()) == json.dumps(_as_listed(doc))  # keys in the same order
    assert BlocklistEntry.from_doc(entry.to_doc()) == entry
    assert [d.to_doc() for d in entry.delistings] == doc["delistings"]


def test_a_record_has_the_fields_of_its_document() -> None:
    entry = BlocklistEntry.from_doc(SHAPES["exception"])
    assert (entry.network, entry.active, entry.exception, entry.relistings) == (
        "81.2.69.142/32",
        True,
        True,
        1,
    )
    assert entry.added_at == T0 + timedelta(days=1, microseconds=250) and entry.removed_at is None
    assert entry.delistings == (
        Delisting(T0, "DL-000001"),
        Delisting(T0 + timedelta(days=1, microseconds=250), "DL-000002"),
    )
    assert [d.label for d in entry.delistings] == ["2026-11-27 DL-000001", "2026-11-28 DL-000002"]
    assert not BlocklistEntry.from_doc(SHAPES["before exceptions"]).exception


def test_a_new_record_writes_the_keys_add_writes(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.json")
    with store.transaction() as tx:
        tx.blocklist.add("81.2.0.0/16", "trap hits", T0)
    with store.transaction() as tx:
        [stored] = tx.blocklist.listings()
    assert json.dumps(BlocklistEntry("81.2.0.0/16", "trap hits", T0).to_doc()) == json.dumps(
        stored.to_doc()
    )
    assert stored.to_doc() == SHAPES["listed"]


def _old_store(path: Path) -> None:
    with TinyDB(path) as db:
        db.table("blocklist").insert_multiple(
            [SHAPES["before exceptions"], SHAPES["before exceptions, relisted since"]]
        )


def test_an_old_file_lists_as_json_and_is_written_back_as_it_was(tmp_path: Path) -> None:
    """`blocklist list --json` over a file from before exceptions, then a write: the entries
    print as the old documents (with "exception" last) and the untouched ones stay as they were."""
    path = tmp_path / "store.json"
    _old_store(path)
    config = tmp_path / "delist-bot.toml"
    config.write_text(
        f'[mailbox]\nkind = "maildir"\npath = "{tmp_path / "maildir"}"\n'
        f'[smtp]\nkind = "files"\npath = "{tmp_path / "outbox"}"\n'
        'from_address = "delist@d.example"\n'
        f'[store]\npath = "{path}"\n[review]\nreviewers = ["rev@d.example"]\n',
        encoding="utf-8",
    )
    args = ["blocklist", "list", "--json", "--all", "--config", str(config)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    expected = sorted(
        (_as_listed(d) for d in json.loads(path.read_text())["blocklist"].values()),
        key=lambda d: d["network"],
    )
    assert result.output == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
    with Store(path).transaction() as tx:
        assert (
            tx.blocklist.record_delisting("192.0.2.9", T0, "DL-000009")
            == "192.0.2.9 from 192.0.2.0/24"
        )
    with Store(path).transaction() as tx:
        [old] = [e for e in tx.blocklist.listings() if e.network == "2001:db8::/48"]
    assert old.to_doc() == _as_listed(SHAPES["before exceptions"])


@pytest.mark.parametrize("doc", SHAPES.values(), ids=SHAPES.keys())
def test_the_table_reads_each_shape_from_a_file(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "store.json"
    with TinyDB(path) as db:
        db.table("blocklist").insert(doc)
    with Store(path).transaction() as tx:
        [entry] = tx.blocklist.listings(active_only=False)
    assert json.dumps(entry.to_doc()) == json.dumps(_as_listed(doc))
