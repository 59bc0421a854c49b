"""The health verdict for `delist-bot status`: pure, over facts the shell gathered.

Unhealthy means someone should look now; the first reason is the one line monitoring shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from delist_bot.core.quarantine import attention_line

STALE_POLLS = 3  # a poll older than three intervals means the worker is stuck or gone


@dataclass(frozen=True)
class Facts:
    now: datetime
    poll_interval: timedelta
    last_poll: datetime | None
    mailbox_error: str | None
    smtp_error: str | None  # the server's answer to a login and MAIL FROM / RCPT TO as sending
    worker_running: bool
    pending: int
    failed: int
    oldest_open_hours: float | None
    overdue: int
    internal_errors: int = 0  # quarantined by a bug and not yet retried or dismissed


def verdict(facts: Facts) -> tuple[list[str], list[str]]:
    """(report lines, reasons it is unhealthy); no reasons means healthy."""
    since_poll = facts.now - facts.last_poll if facts.last_poll else None
    lines = [
        f"last poll:        {facts.last_poll.isoformat()[:19] + ' UTC' if facts.last_poll else 'never'}"
        + (f" ({since_poll.total_seconds() / 60:.0f} min ago)" if since_poll else ""),
        f"mailbox:          {facts.mailbox_error or 'reachable'}",
        f"smtp:             {facts.smtp_error or 'mail can go out'}",
        f"worker:           {'running (lock held)' if facts.worker_running else 'no worker holds the lock'}",
        f"outbox:           {facts.pending} pending, {facts.failed} failed",
        "oldest open case: "
        + (f"{facts.oldest_open_hours:.1f} h" if facts.oldest_open_hours is not None else "none"),
        f"overdue cases:    {facts.overdue}",
        f"quarantine:       {facts.internal_errors} internal error(s) to look at",
    ]
    reasons = []
    if since_poll is None:
        reasons.append("the mailbox has never been polled")
    elif since_poll > STALE_POLLS * facts.poll_interval:
        reasons.append(
            f"last successful poll {since_poll.total_seconds() / 60:.0f} min ago "
            f"(more than {STALE_POLLS} intervals)"
        )
    if facts.mailbox_error:
        reasons.append(f"mailbox unreachable: {facts.mailbox_error}")
    if facts.smtp_error:  # unreachable, or a login, sender or relay refusal: nothing goes out
        reasons.append(f"SMTP cannot send: {facts.smtp_error}")
    # No lock is not itself a fault: `run --once` from cron holds it only while it runs.
    if facts.overdue:
        reasons.append(f"{facts.overdue} case(s) past the 48-hour deadline without contact")
    if facts.internal_errors:
        reasons.append(attention_line(facts.internal_errors))
    return lines, reasons
