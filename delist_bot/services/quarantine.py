"""The quarantine as operators see it: the entries, the ones nobody has looked at yet, and
retrying (moving a message back to the request folder) or dismissing one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from delist_bot.config import Config
from delist_bot.core import quarantine
from delist_bot.core.quarantine import Entry, Handling
from delist_bot.mailbox import open_mailbox
from delist_bot.runtime.wiring import open_store
from delist_bot.services.errors import UserError
from delist_bot.store import Store


def load_entries(store: Store) -> list[Entry]:
    with store.transaction() as tx:
        return quarantine.entries(tx.quarantine.all(), tx.state.get(quarantine.HANDLED_STATE, {}))


def unattended(store: Store) -> int:
    """How many messages an internal error set aside that nobody has looked at yet."""
    return len(quarantine.needing_attention(load_entries(store)))


def listed(config: Config) -> list[Entry]:
    return load_entries(open_store(config))


def find(config: Config, ident: str) -> Entry:
    return _find(open_store(config), ident)


def retry(config: Config, ident: str, now: datetime) -> Entry:
    """Move the message back to the request folder, and record that it was retried."""
    store = open_store(config)
    entry = _find(store, ident)
    _move_back(config, entry)
    _mark(store, entry, Handling.RETRIED, now)
    return entry


def dismiss(config: Config, ident: str, now: datetime) -> Entry:
    """Record that someone looked; the message stays in the quarantine folder."""
    store = open_store(config)
    entry = _find(store, ident)
    _mark(store, entry, Handling.DISMISSED, now)
    return entry


def _find(store: Store, ident: str) -> Entry:
    try:
        return quarantine.find(load_entries(store), ident)
    except LookupError as exc:
        raise UserError(str(exc)) from exc


def _mark(store: Store, entry: Entry, how: Handling, now: datetime) -> None:
    with store.transaction() as tx:
        live = {e.id for e in quarantine.entries(tx.quarantine.all(), {})}
        handled = tx.state.get(quarantine.HANDLED_STATE, {})
        tx.state.set(quarantine.HANDLED_STATE, quarantine.mark(handled, [entry.id], how, now, live))


def _move_back(config: Config, entry: Entry) -> None:
    """Find the message in the quarantine folder by its digest and move it to the request
    folder (the mailbox opened on the quarantine folder as its request folder)."""
    if entry.sha256 is None:
        raise UserError(f"{entry.id}: the message was never read (too big?); nothing to retry")
    settings = dataclasses.replace(config.mailbox, folder=config.mailbox.quarantine_folder)
    mailbox = open_mailbox(dataclasses.replace(config, mailbox=settings))
    try:
        for batch in mailbox.batches():
            for fetched in batch:
                if fetched.raw and hashlib.sha256(fetched.raw).hexdigest() == entry.sha256:
                    mailbox.move([fetched.uid], config.mailbox.folder)
                    return
    finally:
        mailbox.close()
    raise UserError(f"{entry.id}: not in the folder {config.mailbox.quarantine_folder} any more")
