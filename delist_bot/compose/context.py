"""What a reply template sees about a request: the code's meaning, the links, the problem.

All of it plain data, none of it template source.
"""

from __future__ import annotations

from typing import Any

from delist_bot.core import sla
from delist_bot.core.dates import when
from delist_bot.core.ip import is_public
from delist_bot.core.models import Case, Extraction
from delist_bot.ndr import codes


def reply_context(extraction: Extraction, case: Case | None) -> dict[str, Any]:
    """The template variables of a reply to EXTRACTION (and its CASE, where there is one)."""
    info = codes.lookup(extraction.ndr_code)
    context: dict[str, Any] = {
        "ip": extraction.ip,
        "ndr_code": extraction.ndr_code or "",
        "provider_code": extraction.provider_code,
        "hours": sla.PROMISE_HOURS,
        "portal_url": codes.PORTAL_URL,
        "consumer_url": codes.CONSUMER_FORM_URL,
        "code_meaning": info.meaning if info else "",
        "code_advice": info.advice if info else "",
        "problem": need_info_problem(extraction),
        "text": "",
    }
    if case is not None:
        context.update(due_at=when(case.due_at), opened_at=when(case.received_at))
    return context


def need_info_problem(extraction: Extraction) -> str:
    """Which need_info template branch fits: what the request lacks."""
    if not extraction.ndr_code:
        return "no_code"
    if extraction.ip_placeholder:
        return "placeholder"
    if extraction.ip and not is_public(extraction.ip):
        return "not_public"
    return "no_ip"
