"""The outbox for the terminal: the mail waiting, failed and sent, and queueing failed mail
again (by id, a unique prefix of one, or all that failed).
"""

from __future__ import annotations

from datetime import datetime

from delist_bot.config import Config
from delist_bot.core.models import WAITING_MAIL, MailRecord, MailStatus
from delist_bot.runtime.wiring import open_store
from delist_bot.services.errors import UserError
from delist_bot.store import Store

SHOWN = {
    "pending": WAITING_MAIL,
    "failed": frozenset({MailStatus.FAILED}),
    "sent": frozenset({MailStatus.SENT}),
}
MIN_PREFIX = 6


def mail(config: Config, status: str | None) -> list[MailRecord]:
    """The mail in STATUS (default: pending and failed), oldest first, the archive's too."""
    store = open_store(config)
    wanted = SHOWN[status] if status else WAITING_MAIL | {MailStatus.FAILED}
    with store.transaction() as tx:
        mails = [m for m in tx.outbox.all() if m.status in wanted]
    # Sent mail, and mail failed long ago, is archived.
    if status in (MailStatus.SENT, MailStatus.FAILED):
        mails += [m for m in _archived(store) if m.status in wanted]
    return sorted(mails, key=lambda m: m.created_at)


def retry(
    config: Config, given: tuple[str, ...], all_failed: bool, now: datetime
) -> list[MailRecord]:
    """Queue again the mail GIVEN names (and every failed one with ALL_FAILED); the records
    as queued again."""
    store = open_store(config)
    with store.transaction() as tx:
        queued = tx.outbox.all()
        chosen = [m.id for m in queued if m.status is MailStatus.FAILED] if all_failed else []
        chosen += [_resolve(store, queued, name) for name in given]
        done = []
        for mail_id in dict.fromkeys(chosen):
            try:
                done.append(tx.outbox.retry(mail_id, now))
            except ValueError as exc:
                raise UserError(f"{exc}: wait for its attempt to finish") from None
    return done


def _resolve(store: Store, queued: list[MailRecord], given: str) -> str:
    """The id of the one queued mail GIVEN names (its id, or a unique prefix)."""
    if len(given) < MIN_PREFIX:
        raise UserError(f"mail id {given!r} is too short (at least {MIN_PREFIX} characters)")
    found = [m.id for m in queued if m.id == given] or [
        m.id for m in queued if m.id.startswith(given)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f"mail id {given!r} names {len(found)} mails: give more of it")
    archived = [m for m in _archived(store) if m.id.startswith(given)]
    if any(m.status is MailStatus.SENT for m in archived):
        raise UserError(f"mail {given} was sent already")
    if archived:
        raise UserError(f"mail {given} failed over 30 days ago; its bytes are no longer kept")
    raise UserError(f"no mail {given}")


def _archived(store: Store) -> list[MailRecord]:
    return [MailRecord.from_doc(doc) for doc in store.archive.records("outbox")]
