"""The mailbox's interface: what a message in the request folder is, what a mailbox does, and
what it raises. imap.py and maildir.py implement it; the package's open_mailbox picks one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Fetched:
    """One message in the request folder; raw is None when it was over the size limit.
    arrived_at is the server's delivery time (IMAP INTERNALDATE, a Maildir file's name), when
    it tells one: the case's clock starts there, not at the pass that read it."""

    uid: str
    size: int
    raw: bytes | None
    arrived_at: datetime | None = None


class Mailbox(Protocol):
    def batches(self, skip: Collection[str] = ()) -> Iterator[list[Fetched]]:
        """The messages now in the request folder, oldest first, a batch at a time; those in
        SKIP (recorded already, their move refused) are not read again."""
        ...

    def move(self, uids: list[str], folder: str) -> None:
        """Move UIDS (those still there) to FOLDER; MailboxRefused when the server says no."""
        ...

    def identity(self) -> str:
        """What UIDs are valid for (an IMAP folder's UIDVALIDITY): a stored UID means the
        same message only while this is unchanged."""
        ...

    def position(self) -> dict[str, int | str]: ...

    def close(self) -> None: ...


class MailboxError(Exception):
    """The mailbox cannot be reached or used; worded for the log and the status command."""


class MailboxRefused(MailboxError):
    """The server refused one operation (a move over quota, a read-only folder) and is still
    there: the pass goes on with the next messages."""
