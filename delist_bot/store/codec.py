"""Cases as the store keeps them: plain JSON documents, and back; text as it goes to a file.

A str that came from undecodable bytes may hold a lone surrogate, which UTF-8 cannot carry.
"""

from __future__ import annotations

import codecs
import dataclasses
from datetime import datetime
from typing import Any

from delist_bot.core.blocklist import neighbourhood
from delist_bot.core.models import Case, CaseStatus, Event

TIME_FIELDS = (
    "received_at",
    "due_at",
    "first_contact_at",
    "decided_at",
    "reminded_at",
    "escalated_at",
    "holding_sent_at",
    "breached_at",
)


def case_to_doc(case: Case) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies, which costs more than the whole write.
    doc = {f.name: getattr(case, f.name) for f in dataclasses.fields(case)}
    doc["network"] = neighbourhood(case.ip)  # stored for the dossier's neighbourhood query
    doc["status"] = case.status.value
    doc["message_ids"] = list(case.message_ids)
    doc["events"] = [
        {"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "text": e.text}
        for e in case.events
    ]
    for key in TIME_FIELDS:
        doc[key] = doc[key].isoformat() if doc[key] else None
    return doc


def case_from_doc(doc: dict[str, Any]) -> Case:
    values = dict(doc)
    values.pop("network", None)
    values["status"] = CaseStatus(doc["status"])
    values["message_ids"] = tuple(doc["message_ids"])
    values["events"] = tuple(
        Event(datetime.fromisoformat(e["at"]), e["actor"], e["kind"], e.get("text", ""))
        for e in doc["events"]
    )
    for key in TIME_FIELDS:
        values[key] = datetime.fromisoformat(doc[key]) if doc.get(key) else None
    return Case(**values)


SURROGATES_AS_REPLACEMENT = "delist-bot-surrogates-as-replacement"


def _replace_surrogates(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    # Bytes: the UTF-8 encoder takes a str replacement only if it is ASCII.
    return "\ufffd".encode() * (error.end - error.start), error.end


codecs.register_error(SURROGATES_AS_REPLACEMENT, _replace_surrogates)


def utf8(text: str) -> bytes:
    """TEXT as UTF-8, a lone surrogate as U+FFFD: one bad character written by an older version
    or a careless decoder must never make a write fail (every later pass would fail with it)."""
    return text.encode("utf-8", SURROGATES_AS_REPLACEMENT)
