"""Deadline arithmetic for the 48-hour promise: pure functions over times passed in.

No clock is read here; callers pass `now`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

PROMISE = timedelta(hours=48)


def due_at(received_at: datetime) -> datetime:
    """When the sender must have heard the next steps at the latest."""
    return received_at + PROMISE


def window_start(now: datetime, hours: int) -> datetime:
    """The start of a rolling window of HOURS ending now (for reply rate limits)."""
    return now - timedelta(hours=hours)
