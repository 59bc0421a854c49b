"""The outgoing budget: mail to each outside address and each domain, within its window.

Each keeps its times sorted (ISO text in UTC sorts as time): counting is a bisection and a flood
at one domain costs no scan of its list per mail.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta

from delist_bot.core.budget import Counts, Limits, Recipient
from delist_bot.store.tables.state import State

PRUNE_EVERY = timedelta(hours=1)  # how long a reply count may outlive its window


class Replies:
    def __init__(self, state: State) -> None:
        self._state = state

    def counts(self, recipient: Recipient, now: datetime, limits: Limits) -> Counts:
        found = [
            _since(self._state.get(name, {}).get(key, ()), (now - window).isoformat())
            for name, key, window in _budgets(recipient, limits)
        ]
        return Counts(*found)

    def count(self, recipient: Recipient, at: datetime, limits: Limits) -> None:
        """One dict per budget in the state, not a table: a lookup must not scan every sender.
        Every PRUNE_EVERY all of them lose their times past the window, so the state holds
        only the addresses written to lately, however many wrote over the weeks."""
        for name, key, window in _budgets(recipient, limits):
            counted = self._state.get(name, {})
            times = counted.setdefault(key, [])
            bisect.insort(times, at.isoformat())
            del times[: bisect.bisect_left(times, (at - window).isoformat())]
            self._state.set(name, counted)
        if self._state.get("replies_pruned_at", "") <= (at - PRUNE_EVERY).isoformat():
            self._prune(at, limits)

    def _prune(self, now: datetime, limits: Limits) -> None:
        for name, _, window in _budgets(Recipient("", ""), limits):
            since = (now - window).isoformat()
            counted = self._state.get(name, {})
            kept = {
                key: times[bisect.bisect_left(times, since) :]
                for key, times in counted.items()
                if times and times[-1] >= since
            }
            self._state.set(name, kept)
        self._state.set("replies_pruned_at", now.isoformat())


def _budgets(recipient: Recipient, limits: Limits) -> tuple[tuple[str, str, timedelta], ...]:
    """(state name, key, window) of each budget a mail to RECIPIENT counts on."""
    return (
        ("replies", recipient.key, limits.window),
        ("domain_replies", recipient.domain, limits.domain_window),
    )


def _since(times: Sequence[str], since: str) -> int:
    return len(times) - bisect.bisect_left(times, since)
