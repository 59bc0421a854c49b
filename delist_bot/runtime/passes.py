"""What one worker pass did, and the sizes a pass works in.

Shared by intake, the outbox and the worker, so none of them imports another for a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from delist_bot.core.models import MailRecord
from delist_bot.runtime.pipeline import Processed

GROUP_SECONDS = 1.0  # a backlog is committed about once a second ...
GROUP_BATCHES = 10  # ... and holds at most this many fetched batches in memory


@dataclass
class PassReport:
    processed: list[Processed] = field(default_factory=list)
    sent: list[MailRecord] = field(default_factory=list)
    retrying: list[MailRecord] = field(default_factory=list)
    failed: list[MailRecord] = field(default_factory=list)
    deadlines: list[tuple[str, str]] = field(default_factory=list)
