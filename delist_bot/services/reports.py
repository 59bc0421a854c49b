"""Reports from the store: the figures in each format, the digest sent now (runtime/digest.py
sends it), and the health check (`delist-bot report` and `status`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from delist_bot.config import Config
from delist_bot.core import sla
from delist_bot.core.models import OPEN_STATUSES, WAITING_MAIL, MailStatus
from delist_bot.mailbox import MailboxError, open_mailbox
from delist_bot.reports import views
from delist_bot.reports.figures import (
    CSV_COLUMNS,
    QueueData,
    build_report,
    case_rows,
    first_contact_points,
)
from delist_bot.reports.health import Facts, verdict
from delist_bot.runtime.digest import queue_data, send_digest
from delist_bot.runtime.outbox import Outbox
from delist_bot.runtime.passes import PassReport
from delist_bot.runtime.wiring import journal_for, open_store, store_settings
from delist_bot.services.quarantine import unattended
from delist_bot.smtp.transport import can_send


@dataclass(frozen=True)
class Report:
    """The queue since START, and its figures at NOW."""

    data: QueueData
    figures: dict[str, Any]
    now: datetime
    start: datetime


def report(config: Config, start: datetime, now: datetime) -> Report:
    data = queue_data(open_store(config), start)
    return Report(data, build_report(data, now, start), now, start)


def render(report: Report, fmt: str) -> str:
    """The report in FMT: text, json, csv (a row per case), html or prometheus."""
    figures, cases = report.figures, report.data.cases
    return {
        "text": lambda: views.plain(figures),
        "json": lambda: views.as_json(figures),
        "csv": lambda: views.as_csv(case_rows(cases, report.now), CSV_COLUMNS),
        "html": lambda: views.as_html(figures, first_contact_points(cases, report.start)),
        "prometheus": lambda: views.as_prometheus(figures),
    }[fmt]()


def print_rich(report: Report) -> None:
    """The report as tables on a terminal (rich)."""
    views.print_rich(report.figures)


def email_digest(config: Config, now: datetime) -> PassReport:
    """`report --email`: the digest sent now, outside the worker."""
    store = open_store(config)
    settings = store_settings(config, store)
    outbox = Outbox(config, store, journal_for(store), settings.sender.address, threading.Event())
    return send_digest(store, outbox, settings, now)


def health_facts(config: Config, now: datetime) -> Facts:
    """What `delist-bot status` judges: the store's state, and the mailbox and SMTP tried."""
    store = open_store(config)
    with store.transaction() as tx:
        last_poll = tx.state.get("last_poll")
        outbox = tx.outbox.all()
        open_cases = [c for c in tx.cases.all() if c.status in OPEN_STATUSES]
    try:
        open_mailbox(config).close()
        mailbox_error = None
    except MailboxError as exc:
        mailbox_error = str(exc)
    smtp_error = can_send(config)
    return Facts(
        now=now,
        poll_interval=timedelta(seconds=config.schedule.poll_seconds),
        last_poll=datetime.fromisoformat(last_poll) if last_poll else None,
        mailbox_error=mailbox_error,
        smtp_error=smtp_error,
        worker_running=store.worker_running(),
        pending=sum(1 for m in outbox if m.status in WAITING_MAIL),
        failed=sum(1 for m in outbox if m.status is MailStatus.FAILED),
        oldest_open_hours=max(
            ((now - c.received_at).total_seconds() / 3600 for c in open_cases), default=None
        ),
        overdue=sum(1 for c in open_cases if sla.is_overdue(c, now)),
        internal_errors=unattended(store),
    )


@dataclass(frozen=True)
class Health:
    """What `delist-bot status` prints: a line per fact, and the reasons it is unhealthy."""

    lines: tuple[str, ...]
    reasons: tuple[str, ...]  # none: healthy


def health(config: Config, now: datetime) -> Health:
    """The health check: the facts gathered, then judged (reports/health.py)."""
    lines, reasons = verdict(health_facts(config, now))
    return Health(tuple(lines), tuple(reasons))
