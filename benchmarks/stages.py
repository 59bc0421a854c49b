"""Wall time per pipeline stage, from timers around each stage's entry points.

Unlike a profiler it adds next to nothing per call, and it sees the courier thread: its sending
runs beside the worker's main thread, so it is reported apart, not as a share of the pass.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from delist_bot.compose import notice_mail
from delist_bot.mailbox import imap
from delist_bot.runtime import courier, intake
from delist_bot.store import archive, database, files, hot_cases

# (stage, object that holds the entry point, its name); a name is looked up where it is called.
ENTRY_POINTS: tuple[tuple[str, Any, str], ...] = (
    ("fetch", imap.ImapMailbox, "_fetch"),
    ("fetch", imap.ImapMailbox, "move"),
    ("parse and extract", intake, "extract"),  # before the store transaction, since issue 11
    ("render", notice_mail, "build_reply"),
    ("render", notice_mail, "build_internal"),
    ("store", files.AtomicJSONStorage, "read"),
    ("store", files.AtomicJSONStorage, "write"),
    ("store", database, "write_spool"),
    ("store", archive.Archive, "append"),
    ("store", hot_cases.HotCases, "flush"),
    ("decide and record", intake, "process"),
    ("send", courier.Courier, "_send"),
)
MAIN_STAGES = ("fetch", "parse and extract", "decide", "store", "render")


class StageClock:
    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    @contextlib.contextmanager
    def installed(self) -> Iterator[StageClock]:
        originals = [(owner, name, getattr(owner, name)) for _, owner, name in ENTRY_POINTS]
        try:
            for stage, owner, name in ENTRY_POINTS:
                setattr(owner, name, self._timed(stage, getattr(owner, name)))
            yield self
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)

    def _timed(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        return timed

    def main_thread(self, whole_pass: float) -> dict[str, float]:
        """Seconds per stage of the worker's main thread; decide is what processing a message
        took beyond parsing, rendering and the store, and other is the rest of the pass."""
        stages = {stage: self.seconds[stage] for stage in MAIN_STAGES}
        # A message is read (parsed and extracted) before the transaction, outside `process`.
        stages["decide"] = max(0.0, self.seconds["decide and record"] - stages["render"])
        stages["other"] = max(0.0, whole_pass - sum(stages.values()))
        return stages
