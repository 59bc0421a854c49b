"""The embedded default: a local Maildir seeded with sample requests, replies written as files.

Needs no server and no configuration; every run starts from a clean folder.
"""

from __future__ import annotations

import mailbox
import shutil
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path

from delist_bot.config import Config, MailboxConfig, ReviewConfig, SmtpConfig, StoreConfig
from delist_bot.runtime.passes import PassReport
from delist_bot.runtime.worker import Worker

# Inside the installed package (a link to the top-level data/ in a checkout).
SAMPLES = Path(str(files("delist_bot") / "data" / "samples"))
DEMO_ADDRESS = "delist@delist-bot.example"


@dataclass(frozen=True)
class DemoRun:
    folder: Path
    seeded: dict[str, str]  # maildir key -> sample file name
    report: PassReport
    config: Config


def demo_config(folder: Path) -> Config:
    return Config(
        mailbox=MailboxConfig(kind="maildir", path=str(folder / "maildir")),
        smtp=SmtpConfig(kind="files", path=str(folder / "outbox"), from_address=DEMO_ADDRESS),
        store=StoreConfig(path=str(folder / "store.json")),
        review=ReviewConfig(reviewers=["reviewer@delist-bot.example"]),
        base_dir=folder,
    )


def run_demo(folder: Path, now: datetime | None = None, samples: Path = SAMPLES) -> DemoRun:
    folder = folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    inbox = mailbox.Maildir(folder / "maildir", create=True)
    seeded = {}
    for sample in sorted(samples.glob("*.eml")):
        seeded[inbox.add(sample.read_bytes())] = sample.name
    config = demo_config(folder)
    report = Worker(config).run_once(now)
    return DemoRun(folder, seeded, report, config)
