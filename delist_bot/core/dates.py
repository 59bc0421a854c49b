"""How a moment is written for people: one form in replies, team mail and on the terminal.

Pure: a datetime in (already in UTC), text out.
"""

from __future__ import annotations

from datetime import datetime


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
