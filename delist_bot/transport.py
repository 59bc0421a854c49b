"""Outgoing mail: the only module that sends, over SMTP (smtplib) or into a folder of .eml files.

A delivery attempt answers sent, temporary failure (retry later) or permanent failure.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

from delist_bot import failpoints
from delist_bot.config import Config, SmtpConfig, resolve
from delist_bot.store.files import open_private, private_folder


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str = ""


class Transport:
    """Sends one message at a time over one connection opened on first use."""

    def __init__(self, config: Config) -> None:
        self.settings: SmtpConfig = config.smtp
        self.folder = resolve(config, config.smtp.path) if config.smtp.kind == "files" else None
        self._smtp: smtplib.SMTP | None = None

    def send(self, sender: str, recipient: str, raw: bytes, name: str) -> Delivery:
        if self.folder is not None:
            return self._write(raw, name)
        try:
            smtp = self._connection()
            failpoints.reach("smtp_before_send")
            refused = smtp.sendmail(sender, [recipient], raw)
            failpoints.reach("smtp_accepted")
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return self._failure(code, reply)
        except smtplib.SMTPResponseException as exc:
            self.close()
            return self._failure(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, TLS
            self.close()
            return Delivery(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        if refused:
            code, reply = next(iter(refused.values()))
            return self._failure(code, reply)
        return Delivery(Outcome.SENT)

    @property
    def connected(self) -> bool:
        """False after a failure that closed the connection (or before the first mail)."""
        return self.folder is not None or self._smtp is not None

    @staticmethod
    def _failure(code: int, reply: bytes | str) -> Delivery:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        outcome = Outcome.FAILED if 500 <= code < 600 else Outcome.RETRY
        return Delivery(outcome, f"{code} {text}".strip())

    def _write(self, raw: bytes, name: str) -> Delivery:
        assert self.folder is not None
        private_folder(self.folder)  # mail: 0600 files in a 0700 folder whatever the umask
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(".tmp")
        with open(open_private(temporary, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
            handle.write(raw)
        temporary.replace(target)
        return Delivery(Outcome.SENT, str(target))

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        context = ssl.create_default_context() if s.security != "none" else None
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout, local_hostname=socket.getfqdn())
            if s.security == "starttls":
                smtp.starttls(context=context)
        if s.username:
            smtp.login(s.username, s.password)
        self._smtp = smtp
        return smtp

    def check(self) -> str | None:
        """None when the server answers, else why not (for status checks)."""
        if self.folder is not None:
            return None
        try:
            self._connection().noop()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            return f"{type(exc).__name__}: {exc}"
        return None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
