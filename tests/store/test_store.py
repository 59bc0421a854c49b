"""The store: one atomic write per transaction, a lock between processes, clear errors."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from delist_bot.core import cases
from delist_bot.core.models import CaseStatus
from delist_bot.ndr import extract
from delist_bot.store import Store, StoreError
from tests.conftest import DATA_SAMPLES

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_a_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.json")
    with store.transaction() as tx:
        tx.state.set("a", 1)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.state.set("a", 2)
        tx.state.set("b", 3)
        raise RuntimeError("crash in the middle")
    with store.transaction() as tx:
        assert (tx.state.get("a"), tx.state.get("b")) == (1, None)


def _open_case():
    request = extract((DATA_SAMPLES / "01-review-attached-en.eml").read_bytes())
    return cases.open_case(1, request, NOW)


def test_what_this_process_keeps_between_transactions_never_outlives_the_file(
    tmp_path: Path,
) -> None:
    # The worker keeps the data it wrote and its case index between commits; neither may hide
    # another process's write (the CLI deciding a case) or a transaction that failed.
    case = _open_case()
    worker, cli = Store(tmp_path / "store.json"), Store(tmp_path / "store.json")
    with worker.transaction() as tx:
        tx.cases.save(case)
    with worker.transaction() as tx:
        assert tx.cases.open_for_ip(case.ip) == case

    with pytest.raises(RuntimeError), worker.transaction() as tx:
        tx.cases.save(dataclasses.replace(case, status=CaseStatus.CLOSED))
        raise RuntimeError("crash in the middle")
    with worker.transaction() as tx:
        assert tx.cases.open_for_ip(case.ip) == case

    with cli.transaction() as tx:
        tx.cases.save(dataclasses.replace(case, status=CaseStatus.DELISTED))
    with worker.transaction() as tx:
        assert tx.cases.open_for_ip(case.ip) is None
        assert tx.cases.get(case.id).status is CaseStatus.DELISTED


def test_cases_round_trip(tmp_path: Path) -> None:
    request = extract((DATA_SAMPLES / "01-review-attached-en.eml").read_bytes())
    case = cases.open_case(7, request, NOW)
    store = Store(tmp_path / "store.json")
    with store.transaction() as tx:
        tx.cases.save(case)
    with store.transaction() as tx:
        assert tx.cases.get("DL-000007") == case
        assert tx.cases.open_for_ip("81.2.69.142") == case
        assert tx.cases.all(CaseStatus.OPEN.value) == [case]
        assert tx.cases.get("DL-999999") is None


def _add_many(path: str, prefix: str) -> None:
    store = Store(Path(path))
    for i in range(40):
        with store.transaction() as tx:
            tx.state.set(f"{prefix}{i}", i)


def test_two_processes_never_lose_a_write(tmp_path: Path) -> None:
    path = str(tmp_path / "store.json")
    workers = [multiprocessing.Process(target=_add_many, args=(path, p)) for p in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    with Store(Path(path)).transaction() as tx:
        assert all(tx.state.get(f"{p}{i}") == i for p in "ab" for i in range(40))


def test_a_corrupt_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_text('{"cases": {"1": {"id": "DL-0')
    with pytest.raises(StoreError, match="is unreadable"), Store(path).transaction():
        pass
    assert path.read_text().startswith('{"cases"')  # left as it was, for a person to look at


def test_the_file_is_replaced_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    store = Store(path)
    with store.transaction() as tx:
        tx.state.set("x", 1)
    inode = path.stat().st_ino
    with store.transaction() as tx:
        tx.state.set("x", 2)
    assert path.stat().st_ino != inode
    assert json.loads(path.read_text())["state"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_second_worker_lock_is_refused(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "s.json"), Store(tmp_path / "s.json")
    first.hold_worker_lock()
    try:
        with pytest.raises(StoreError, match="another delist-bot worker"):
            second.hold_worker_lock()
    finally:
        first.release_worker_lock()
    second.hold_worker_lock()
    second.release_worker_lock()
