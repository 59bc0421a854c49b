"""The quarantine log: why each message was set aside, and whether someone has looked at it.

Bad input is quarantined quietly; a message set aside by an internal error (a bug) keeps
`run --once` and `status` failing until an operator retries or dismisses it. Pure functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from delist_bot.core.models import QuarantineRecord

HANDLED_STATE = "quarantine_handled"  # the store state key: record id -> how and when handled
INTERNAL_PREFIX = "internal error:"


class QuarantineKind(StrEnum):
    INPUT = "input"  # the message itself is bad: too big, unreadable, no sender
    INTERNAL = "internal"  # the program failed on it: a bug to look at


class Handling(StrEnum):
    RETRIED = "retried"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Entry:
    id: str
    uid: str
    key: str
    reason: str
    at: str
    kind: QuarantineKind
    sha256: str | None
    handled: Handling | None = None
    handled_at: str | None = None

    @property
    def needs_attention(self) -> bool:
        return self.kind is QuarantineKind.INTERNAL and self.handled is None


def record_id(uid: str, key: str, at: str) -> str:
    return hashlib.sha256(f"{uid}\0{key}\0{at}".encode()).hexdigest()[:10]


def quarantine_record(
    uid: str,
    key: str,
    reason: str,
    now: datetime,
    kind: QuarantineKind,
    raw: bytes | None,
) -> QuarantineRecord:
    """The store's record of one quarantined message (its bytes stay in the mailbox)."""
    ident = record_id(uid, key, now.isoformat())
    sha256 = hashlib.sha256(raw).hexdigest() if raw is not None else None
    return QuarantineRecord(uid, key, reason, now, ident, kind.value, sha256)


def entries(records: Iterable[QuarantineRecord], handled: Mapping[str, Any]) -> list[Entry]:
    """The records, oldest first, with what was done about each (records written before the
    kind was kept are told apart by their reason)."""
    found = []
    for r in records:
        at = r.at.isoformat()
        ident = r.id or record_id(r.uid, r.key, at)
        internal = r.kind == "internal" or (r.kind is None and r.reason.startswith(INTERNAL_PREFIX))
        done = handled.get(ident) or {}
        found.append(
            Entry(
                id=ident,
                uid=r.uid,
                key=r.key,
                reason=r.reason,
                at=at,
                kind=QuarantineKind.INTERNAL if internal else QuarantineKind.INPUT,
                sha256=r.sha256,
                handled=Handling(done["how"]) if done else None,
                handled_at=done.get("at"),
            )
        )
    return sorted(found, key=lambda e: e.at)


def needing_attention(found: Iterable[Entry]) -> list[Entry]:
    return [e for e in found if e.needs_attention]


def find(found: Iterable[Entry], ident: str) -> Entry:
    """The entry whose id starts with IDENT; LookupError (worded for the user) otherwise."""
    matches = [e for e in found if e.id.startswith(ident.strip())] if ident.strip() else []
    if len(matches) != 1:
        problem = "no quarantined message" if not matches else f"{len(matches)} messages match"
        raise LookupError(f"{problem} with id {ident!r} (see `delist-bot quarantine list`)")
    return matches[0]


def mark(
    handled: Mapping[str, Any], ids: Iterable[str], how: Handling, now: datetime, live: set[str]
) -> dict[str, Any]:
    """The new handled-state: IDS marked HOW, entries for records no longer kept dropped."""
    updated = {i: v for i, v in handled.items() if i in live}
    for ident in ids:
        updated[ident] = {"how": how.value, "at": now.isoformat()}
    return updated


def attention_line(count: int) -> str:
    return (
        f"{count} message(s) quarantined by an internal error: "
        "see `delist-bot quarantine list`, then retry or dismiss them"
    )
