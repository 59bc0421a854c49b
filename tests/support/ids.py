"""Ids for the tests' mail: numbered, not random, so the same test builds the same bytes.

An IdMaker (compose.ids) like runtime/ids.py's fresh_ids, shaped alike, each call the next number.
"""

from __future__ import annotations

import itertools

from delist_bot.compose.ids import IdMaker, MailIds


def counting_ids() -> IdMaker:
    """A maker whose Nth mail gets number N in its outbox id, Message-ID and boundary."""
    numbers = itertools.count(1)

    def make(idstring: str, domain: str) -> MailIds:
        n = next(numbers)
        return MailIds(f"{n:032x}", f"<{n}.{idstring}@{domain}>", f"=_delist_{n:032x}")

    return make
