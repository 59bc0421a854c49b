"""A local Maildir as the request mailbox: the embedded default for the demo and for tests.

Folders are Maildir++ subfolders (.Processed, .Quarantine) of the configured path.
"""

from __future__ import annotations

import mailbox
from collections.abc import Collection, Iterator
from datetime import UTC, datetime

from delist_bot.config import Config, resolve
from delist_bot.mailbox.base import Fetched, MailboxRefused


class MaildirMailbox:
    def __init__(self, config: Config) -> None:
        self.settings = config.mailbox
        self.root = mailbox.Maildir(resolve(config, config.mailbox.path), factory=None, create=True)

    def _folder(self, name: str) -> mailbox.Maildir:
        if name.upper() == "INBOX":
            return self.root
        if name not in self.root.list_folders():
            return self.root.add_folder(name)
        return self.root.get_folder(name)

    def batches(self, skip: Collection[str] = ()) -> Iterator[list[Fetched]]:
        inbox = self._folder(self.settings.folder)
        keys = sorted((k for k in inbox.keys() if k not in skip), key=_arrival)  # noqa: SIM118
        size = self.settings.batch_size
        for start in range(0, len(keys), size):
            batch = []
            for key in keys[start : start + size]:
                raw = inbox.get_bytes(key)
                too_big = len(raw) > self.settings.max_message_bytes
                arrived = _delivered_at(key)
                batch.append(Fetched(key, len(raw), None if too_big else raw, arrived))
            yield batch

    def move(self, uids: list[str], folder: str) -> None:
        try:
            inbox, target = self._folder(self.settings.folder), self._folder(folder)
            for uid in uids:
                try:
                    raw = inbox.get_bytes(uid)
                except KeyError:
                    continue  # gone meanwhile (moved by hand)
                target.add(raw)
                inbox.remove(uid)
        except OSError as exc:
            raise MailboxRefused(f"Maildir move to {folder}: {exc}") from exc

    def identity(self) -> str:
        return f"maildir:{self.settings.folder}"  # a Maildir key is unique for good

    def position(self) -> dict[str, int | str]:
        return {"kind": "maildir", "waiting": len(self._folder(self.settings.folder))}

    def close(self) -> None:
        pass


def _delivered_at(key: str) -> datetime | None:
    """The delivery time a Maildir key carries (its first field, in seconds since the epoch)."""
    seconds, micro, _ = _arrival(key)
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds + micro / 1e6, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _arrival(key: str) -> tuple[int, int, str]:
    """Delivery order from a Maildir key "seconds.M<micro>P<pid>Q<count>.host"."""
    seconds, _, rest = key.partition(".")
    micro = rest[1 : rest.find("P")] if rest.startswith("M") and "P" in rest else "0"
    try:
        return int(seconds), int(micro), key
    except ValueError:
        return 0, 0, key
