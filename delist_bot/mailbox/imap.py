"""The request mailbox over IMAP: the only module that imports imapclient.

Messages are read with BODY.PEEK[] (never marked seen) and moved out only after the store commit.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import ssl
import subprocess
import time
from collections.abc import Collection, Iterator
from datetime import UTC, datetime

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from delist_bot.config import Config, MailboxConfig
from delist_bot.mailbox.base import Fetched, MailboxError, MailboxRefused

log = logging.getLogger(__name__)
IDLE_RENEW_SECONDS = 25 * 60  # servers may drop an IDLE after 30 minutes (RFC 2177)
_DEAD_IDLE_CHECKS = 3


def oauth_token(settings: MailboxConfig) -> str:
    """The XOAUTH2 token from the config or environment, else the configured command's output."""
    if settings.oauth_token:
        return settings.oauth_token
    try:
        result = subprocess.run(
            shlex.split(settings.oauth_token_command),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise MailboxError(f"mailbox.oauth_token_command failed: {exc}") from exc
    return result.stdout.strip()


def connect(settings: MailboxConfig) -> imapclient.IMAPClient:
    """A logged-in client with timeouts on every socket operation."""
    context = ssl.create_default_context()
    try:
        client = imapclient.IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security == "ssl",
            ssl_context=context,
            timeout=settings.timeout,
        )
        if settings.security == "starttls":
            client.starttls(context)
        if settings.auth == "xoauth2":
            client.oauth2_login(settings.username, oauth_token(settings))
        else:
            client.login(settings.username, settings.password)
    except (OSError, IMAPClientError) as exc:
        raise MailboxError(f"IMAP {settings.host}:{settings.port}: {_reason(exc)}") from exc
    return client


def _aware(stamp: object) -> datetime | None:
    """INTERNALDATE as an aware time in UTC; None if the server sent none we can read."""
    if not isinstance(stamp, datetime):
        return None
    if stamp.tzinfo is None:  # imapclient gives local time when it cannot keep the offset
        stamp = stamp.astimezone()
    return stamp.astimezone(UTC)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


class ImapMailbox:
    def __init__(self, config: Config) -> None:
        self.settings = config.mailbox
        self.client = connect(self.settings)
        try:
            for folder in (self.settings.processed_folder, self.settings.quarantine_folder):
                self._create(folder)
            selected = self.client.select_folder(self.settings.folder)
        except (OSError, IMAPClientError) as exc:
            self.close()
            raise MailboxError(f"IMAP folder {self.settings.folder}: {_reason(exc)}") from exc
        self.client.normalise_times = False  # INTERNALDATE with the server's own offset
        self.uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        self.last_uid = 0

    def _create(self, folder: str) -> None:
        """A folder that cannot be created is no reason to stop reading requests: the move
        into it fails later, and the worker logs that and leaves the message in place."""
        if self.client.folder_exists(folder):
            return
        try:
            self.client.create_folder(folder)
        except IMAPClientError as exc:
            log.debug("IMAP create %s: %s", folder, _reason(exc))

    def batches(self, skip: Collection[str] = ()) -> Iterator[list[Fetched]]:
        try:
            uids = sorted(uid for uid in self.client.search("ALL") if str(uid) not in skip)
            size = self.settings.batch_size
            for start in range(0, len(uids), size):
                yield self._fetch(uids[start : start + size])
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"IMAP fetch: {_reason(exc)}") from exc

    def _fetch(self, uids: list[int]) -> list[Fetched]:
        heads = self.client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
        sizes = {uid: int(d[b"RFC822.SIZE"]) for uid, d in heads.items()}
        wanted = [uid for uid in uids if sizes.get(uid, 0) <= self.settings.max_message_bytes]
        bodies = self.client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
        batch = []
        for uid in uids:
            if uid not in sizes:
                continue  # expunged by someone else meanwhile
            raw = bodies.get(uid, {}).get(b"BODY[]")
            arrived = _aware(heads[uid].get(b"INTERNALDATE"))
            batch.append(Fetched(str(uid), sizes[uid], raw if uid in wanted else None, arrived))
            self.last_uid = max(self.last_uid, uid)
        return batch

    def move(self, uids: list[str], folder: str) -> None:
        """One command for a whole batch: a round trip per message costs more than its parse."""
        numbers = [int(uid) for uid in uids]
        if not numbers:
            return
        try:
            if self.client.has_capability("MOVE"):
                self.client.move(numbers, folder)
                return
            self.client.copy(numbers, folder)
            self.client.add_flags(numbers, [imapclient.DELETED])
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(numbers)
            else:
                self.client.expunge()
        except (OSError, IMAPClientAbortError) as exc:
            raise MailboxError(f"IMAP move to {folder}: {_reason(exc)}") from exc
        except IMAPClientError as exc:  # NO or BAD: this command failed; is the server there?
            try:
                self.client.noop()
            except (OSError, IMAPClientError) as lost:
                raise MailboxError(f"IMAP move to {folder}: {_reason(exc)}") from lost
            raise MailboxRefused(f"IMAP move to {folder}: {_reason(exc)}") from exc

    def identity(self) -> str:
        return f"imap:{self.settings.folder}:{self.uidvalidity}"

    def position(self) -> dict[str, int | str]:
        return {"kind": "imap", "uidvalidity": self.uidvalidity, "last_uid": self.last_uid}

    def close(self) -> None:
        with contextlib.suppress(OSError, IMAPClientError):
            self.client.logout()


class IdleWatcher:
    """Waits for new mail with IMAP IDLE on its own connection, and notices a dead one."""

    def __init__(self, config: Config) -> None:
        self.settings = config.mailbox
        self.client: imapclient.IMAPClient | None = None

    def supported(self) -> bool:
        client = self._client()
        return client.has_capability("IDLE")

    def _client(self) -> imapclient.IMAPClient:
        if self.client is None:
            self.client = connect(self.settings)
            self.client.select_folder(self.settings.folder, readonly=True)
        return self.client

    def wait(self, seconds: float) -> bool:
        """True when the server announced new mail within SECONDS; raises on a dead connection.

        Mail that arrives between two IDLE commands is announced outside them: NOOP before
        and the answer to DONE after are read too, or such a message would wait for the poll.
        """
        client = self._client()
        try:
            if _announces_mail(client.noop()[1]):
                return True
            client.idle()
            try:
                arrived = self._idle_until(
                    client, time.monotonic() + min(seconds, IDLE_RENEW_SECONDS)
                )
            finally:
                done: list = []
                with contextlib.suppress(OSError, IMAPClientError):
                    done = client.idle_done()[1]
            return arrived or _announces_mail(done)
        except (OSError, IMAPClientError, MailboxError) as exc:
            self.close()
            raise MailboxError(f"IMAP IDLE: {_reason(exc)}") from exc

    @staticmethod
    def _idle_until(client: imapclient.IMAPClient, deadline: float) -> bool:
        empty_at_once = 0
        while (left := deadline - time.monotonic()) > 0:
            started = time.monotonic()
            responses = client.idle_check(timeout=min(left, 30))
            if _announces_mail(responses):
                return True
            if any(r[0] == b"BYE" for r in responses if r):
                raise MailboxError("IMAP server closed the IDLE connection")
            # imapclient issue 565: a dropped socket makes idle_check return [] at once.
            quick = not responses and time.monotonic() - started < 0.05
            empty_at_once = empty_at_once + 1 if quick else 0
            if empty_at_once >= _DEAD_IDLE_CHECKS:
                raise MailboxError("IMAP IDLE connection is dead")
        return False

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError, IMAPClientError):
                self.client.logout()
            self.client = None


def _announces_mail(responses: list) -> bool:
    return any(
        len(r) > 1 and r[1] == b"EXISTS" and r[0] > 0 for r in responses if isinstance(r, tuple)
    )
