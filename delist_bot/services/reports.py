"""Reports and the digest from the store: load the queue, build the operators' digest and
send it, and gather the facts of the health check (`delist-bot report` and `status`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from delist_bot.config import Config
from delist_bot.core import sla
from delist_bot.core.models import OPEN_STATUSES, WAITING_MAIL, MailStatus
from delist_bot.mailbox import MailboxError, open_mailbox
from delist_bot.reports import views
from delist_bot.reports.digest import DIGEST_PERIOD, digest_mail
from delist_bot.reports.figures import (
    CSV_COLUMNS,
    QueueData,
    build_report,
    case_rows,
    first_contact_points,
)
from delist_bot.reports.health import Facts
from delist_bot.runtime.ids import fresh_ids
from delist_bot.runtime.outbox import Outbox
from delist_bot.runtime.passes import PassReport
from delist_bot.runtime.pipeline import Settings
from delist_bot.services.app import journal_for, open_store, store_settings
from delist_bot.services.quarantine import unattended
from delist_bot.smtp.transport import can_send
from delist_bot.store import Store

log = logging.getLogger("delist_bot")


def queue_data(store: Store, since: datetime | None = None) -> QueueData:
    """The queue and its history (the archive from SINCE's month on) for a report."""
    return QueueData(*store.history(since))


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


def send_digest(store: Store, outbox: Outbox, settings: Settings, now: datetime) -> PassReport:
    """The operators' daily digest: queued like any mail, then delivered at once."""
    mail = digest_mail(queue_data(store, now - DIGEST_PERIOD), settings, now, fresh_ids)
    if mail is None:
        log.warning("no [review] operators configured: no digest sent")
        return PassReport()
    with store.transaction() as tx:
        tx.outbox.enqueue(mail)
        tx.state.set("last_digest", now.isoformat())
    return outbox.deliver(now)


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
