"""`delist-bot run`: the worker for one pass or until stopped, from a configuration.

One pass also says how many messages a bug set aside that nobody has looked at yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from delist_bot.config import Config
from delist_bot.runtime import scheduler
from delist_bot.runtime.passes import PassReport
from delist_bot.runtime.worker import Worker
from delist_bot.services.quarantine import unattended


@dataclass(frozen=True)
class OnePass:
    report: PassReport
    unattended: int  # messages an internal error set aside, not looked at yet


def run_once(config: Config, now: datetime | None = None) -> OnePass:
    worker = Worker(config)
    report = scheduler.run_once(worker, now)
    return OnePass(report, unattended(worker.store))


def serve(config: Config) -> None:
    scheduler.serve(Worker(config))
