"""The store: the only package that imports TinyDB (hot state, archive, spool of queued mail)."""

from delist_bot.store.codec import case_to_doc
from delist_bot.store.database import Store, raw_of
from delist_bot.store.files import StoreCorrupt, StoreError, StoreWriteError, backup_path
from delist_bot.store.transaction import Transaction

__all__ = [
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreWriteError",
    "Transaction",
    "backup_path",
    "case_to_doc",
    "raw_of",
]
