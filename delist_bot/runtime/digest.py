"""The operators' daily digest sent from the store: the queue loaded, the mail queued like any
other, then delivered at once (for the worker's schedule and `report --email` alike).
"""

from __future__ import annotations

import logging
from datetime import datetime

from delist_bot.core.settings import Settings
from delist_bot.reports.digest import DIGEST_PERIOD, digest_mail
from delist_bot.reports.figures import QueueData
from delist_bot.runtime.ids import fresh_ids
from delist_bot.runtime.outbox import Outbox
from delist_bot.runtime.passes import PassReport
from delist_bot.store import Store

log = logging.getLogger("delist_bot")


def queue_data(store: Store, since: datetime | None = None) -> QueueData:
    """The queue and its history (the archive from SINCE's month on) for a report."""
    return QueueData(*store.history(since))


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
