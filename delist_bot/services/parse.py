"""The `parse` command's record for one file: the JSON contract that outside checks read.

Pure: a file name, bytes or an error in, a plain dict out.
"""

from __future__ import annotations

from typing import Any

from delist_bot.core.models import Extraction
from delist_bot.core.rules import request_action
from delist_bot.ndr import extract

CONTRACT_FIELDS = (
    "file",
    "message_id",
    "sender",
    "ndr_code",
    "smtp_code",
    "ip",
    "action",
    "language",
    "evidence",
)


def parse_record(name: str, raw: bytes) -> dict[str, Any]:
    extraction = extract(raw)
    record = extraction_record(name, extraction)
    if extraction.error:
        record["error"] = extraction.error
    return record


def extraction_record(name: str, extraction: Extraction) -> dict[str, Any]:
    action = request_action(extraction)
    return {
        "file": name,
        "message_id": extraction.message_id,
        "sender": extraction.sender,
        "ndr_code": extraction.ndr_code,
        "smtp_code": extraction.smtp_code,
        "ip": extraction.ip,
        "action": action.value if action else None,
        "language": extraction.language,
        "evidence": extraction.evidence,
        "subject": extraction.subject,
        "provider_code": extraction.provider_code,
        "ip_placeholder": extraction.ip_placeholder,
        "redirected": extraction.redirected,
        "source": extraction.source.value if extraction.source else None,
        "notes": list(extraction.notes),
    }


def error_record(name: str, error: str) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(CONTRACT_FIELDS)
    record.update(file=name, error=error)
    return record
