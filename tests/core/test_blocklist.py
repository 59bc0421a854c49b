"""Approve means the IP: a listed range stays listed except that IP, and relisting it is counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from delist_bot.store import Store

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
IP = "81.2.69.142"


# What is listed, which IP a case approves, what the approval reports, and then which IPs are
# listed (True) or not (False).
@pytest.mark.parametrize(
    ("listed", "approved", "removed", "after"),
    [
        (
            ["81.2.0.0/16"],
            IP,
            f"{IP} from 81.2.0.0/16",
            {IP: False, "81.2.1.1": True, "81.2.255.7": True, "81.2.69.143": True},
        ),
        ([f"{IP}/32"], IP, f"{IP}/32", {IP: False, "81.2.69.143": False}),
        (
            [f"{IP}/32", "81.2.69.0/24", "81.2.0.0/16"],
            IP,
            f"{IP} from 81.2.69.0/24",
            {IP: False, "81.2.69.1": True, "81.2.1.1": True},
        ),
        (
            ["2001:db8::/48"],
            "2001:db8::25",
            "2001:db8::25 from 2001:db8::/48",
            {"2001:db8::25": False, "2001:db8::26": True},
        ),
        (["198.51.100.0/24"], IP, None, {IP: False, "198.51.100.1": True}),
    ],
)
def test_approval_delists_only_the_ip(
    tmp_path: Path, listed: list[str], approved: str, removed: str | None, after: dict
) -> None:
    store = Store(tmp_path / "store.json")
    with store.transaction() as tx:
        for network in listed:
            tx.blocklist.add(network, "trap hits", T0)
        assert (
            tx.blocklist.record_delisting(approved, T0 + timedelta(hours=1), "DL-000001") == removed
        )
    with store.transaction() as tx:
        assert {ip: tx.blocklist.listing_for(ip) is not None for ip in after} == after
        delistings = [d for e in tx.blocklist.history_for(approved) for d in e.delistings]
        assert len(delistings) == (1 if removed else 0)
        for neighbour in (ip for ip, is_listed in after.items() if is_listed):
            assert not [d for e in tx.blocklist.history_for(neighbour) for d in e.delistings]


def test_an_excepted_ip_relisted_then_approved_again_is_counted(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.json")
    with store.transaction() as tx:
        tx.blocklist.add("81.2.0.0/16", "", T0)
        tx.blocklist.record_delisting(IP, T0, "DL-000001")
        assert tx.blocklist.exception_for(IP).reason == "approved in DL-000001, within 81.2.0.0/16"
        assert tx.blocklist.remove(f"{IP}/32", T0) is False  # an exception is not a listing
        assert tx.blocklist.add("81.2.0.0/16", "", T0) == "already listed"
        assert tx.blocklist.add(f"{IP}/32", "back again", T0 + timedelta(days=2)) == "relisted"
        assert (
            tx.blocklist.listing_for(IP).network == f"{IP}/32"
            and tx.blocklist.exception_for(IP) is None
        )
        tx.blocklist.record_delisting(IP, T0 + timedelta(days=3), "DL-000002")
    with store.transaction() as tx:
        [entry] = [e for e in tx.blocklist.history_for(IP) if e.network == f"{IP}/32"]
        assert entry.exception and entry.relistings == 1
        assert [d.case_id for d in entry.delistings] == ["DL-000001", "DL-000002"]
        assert {e.network for e in tx.blocklist.listings()} == {"81.2.0.0/16", f"{IP}/32"}
