"""The operators' daily digest: the queue's figures (QueueData in) as a mail (out).

Pure: the figures are figures.py's, the queue is loaded by runtime/digest.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from delist_bot.compose.ids import IdMaker
from delist_bot.compose.replies import build_digest
from delist_bot.core.models import OutgoingMail
from delist_bot.core.settings import Settings
from delist_bot.reports import views
from delist_bot.reports.figures import QueueData, build_report, first_contact_points

DIGEST_PERIOD = timedelta(days=1)


def digest_mail(
    data: QueueData, settings: Settings, now: datetime, new_ids: IdMaker
) -> OutgoingMail | None:
    """Yesterday's figures for the operators; None when no operator is configured."""
    if not settings.operators:
        return None
    since = now - DIGEST_PERIOD
    figures = build_report(data, now, since)
    html = views.as_html(figures, first_contact_points(data.cases, since))
    open_, overdue = figures["open"]["total"], len(figures["breaches"]["overdue_now"])
    subject = (
        f"delist-bot daily digest: {open_} open, {overdue} overdue, "
        f"{figures['requests']['total']} requests"
    )
    return build_digest(
        list(settings.operators),
        subject,
        views.plain(figures),
        html,
        settings.sender,
        now,
        new_ids=new_ids,
    )
