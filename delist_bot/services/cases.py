"""Review cases for the terminal: list them, find one, read its request, and decide it as a
reviewer's email would (the same core transition; the worker sends its mail).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from delist_bot.config import Config
from delist_bot.core import cases as transitions
from delist_bot.core.models import Case, OutgoingMail
from delist_bot.core.review import Command
from delist_bot.runtime.pipeline import apply_decision
from delist_bot.runtime.wiring import open_store, store_settings
from delist_bot.services.errors import UserError
from delist_bot.store import case_to_doc


def list_cases(config: Config, status: str | None = None) -> list[Case]:
    """The cases (the archive's too), newest first; only those in STATUS when given."""
    everything = open_store(config).history()[0]
    return sorted(
        (c for c in everything if not status or c.status.value == status),
        key=lambda c: c.id,
        reverse=True,
    )


def find(config: Config, case_id: str) -> Case:
    with open_store(config).transaction() as tx:
        case = tx.cases.get(case_id.upper())
    if case is None:
        raise UserError(f"no case {case_id}")
    return case


def request_bytes(config: Config, case: Case) -> bytes:
    """The request's bytes as they came."""
    request = open_store(config).request(case.id)
    if request is None:
        raise UserError(
            f"the request of {case.id} is not kept (cases opened by an older version keep none)"
        )
    return request


def decide(
    config: Config, case_id: str, word: str, message: str, actor: str, now: datetime
) -> tuple[Case, tuple[OutgoingMail, ...]]:
    """WORD on the case as ACTOR: the case as decided, and the mail queued for the worker."""
    store = open_store(config)
    settings = store_settings(config, store)
    with store.transaction() as tx:
        case = tx.cases.get(case_id.upper())
        if case is None:
            raise UserError(f"no case {case_id}")
        late = transitions.too_late(case, word)
        if late is not None:
            raise UserError(late)
        decision = transitions.apply_command(case, Command(word, message), actor, now)
        return apply_decision(tx, decision, actor, now, settings)


def case_doc(case: Case, decided_by: str | None) -> dict[str, Any]:
    """The case as JSON for the terminal: `evidence` is what the lookups found (null when none
    were made), `suggestion` the policy's, `ndr_line` the bounce's line, `decided_by` who."""
    doc = case_to_doc(case)
    doc["ndr_line"] = doc.pop("evidence")
    doc["evidence"] = doc.pop("findings")
    doc["decided_by"] = decided_by
    return doc
