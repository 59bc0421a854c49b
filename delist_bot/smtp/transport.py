"""Outgoing mail: the only module that sends, over SMTP (smtplib) or into a folder of .eml files.

A delivery attempt answers sent, temporary failure (retry later) or permanent failure; only a
recipient's own 5xx is permanent, everything about the server, the login or the line is not.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from delist_bot import failpoints
from delist_bot.config import Config, SmtpConfig, resolve
from delist_bot.core.addresses import Address, AddressError, wire
from delist_bot.store.files import open_private, private_folder

# Answers about the login, whatever the stage they come at: fixed by fixing the configuration,
# so the mail waits for that (RFC 4954: 530 auth required, 534 mechanism too weak, 535 bad
# credentials, 538 encryption required).
AUTH_CODES = frozenset({530, 534, 535, 538})
TOO_BIG = 552  # at MAIL FROM with SIZE=: this message, not the server (RFC 1870)
Fit = Callable[[bytes, int], bytes | None]  # a mail and the server's SIZE: a smaller mail, or None


class DeliveryOutcome(StrEnum):
    """What one delivery attempt means for the mail (not a message's Outcome in models.py)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


class Stage(StrEnum):
    """Where in the SMTP conversation an answer came."""

    CONNECT = "connect"
    AUTH = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    detail: str = ""


def judge(stage: Stage, code: int) -> DeliveryOutcome:
    """What an SMTP refusal means for the mail. Pure."""
    if code in AUTH_CODES:
        return DeliveryOutcome.RETRY
    if stage in (Stage.RCPT, Stage.DATA) and 500 <= code < 600:
        return DeliveryOutcome.FAILED
    if stage is Stage.MAIL and code == TOO_BIG:
        return DeliveryOutcome.FAILED
    return DeliveryOutcome.RETRY


def stops_the_batch(stage: Stage, code: int) -> bool:
    """A refusal that every next mail would meet too: the server's, not this mail's."""
    return code == 421 or code in AUTH_CODES or stage in (Stage.CONNECT, Stage.AUTH, Stage.MAIL)


def answer(code: int, reply: bytes | str, stage: Stage) -> str:
    """The server's answer as one line, for the outbox record, the log and `status`."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())} (at {stage})"


class Transport:
    """Sends one message at a time over one connection opened on first use."""

    def __init__(self, config: Config) -> None:
        self.settings: SmtpConfig = config.smtp
        self.folder = resolve(config, config.smtp.path) if config.smtp.kind == "files" else None
        self._smtp: smtplib.SMTP | None = None

    def send(
        self, sender: str, recipient: str, raw: bytes, name: str, fit: Fit | None = None
    ) -> Delivery:
        """One mail to one recipient. Both addresses go through `addresses.wire`: an address
        that cannot be sent to fails this mail, with its reason, before the server is asked.
        A mail over the server's SIZE is made to fit by FIT, if given and able, or fails."""
        try:
            mail_from, rcpt_to = wire(sender), wire(recipient)
        except AddressError as exc:
            return Delivery(DeliveryOutcome.FAILED, str(exc))
        if self.folder is not None:
            return self._write(raw, name)
        try:
            smtp = self._connection()
            limit = self._size(smtp)
            if fit is not None and limit is not None and len(raw) > limit:
                raw = fit(raw, limit) or raw
            refused = self._refusal(smtp, mail_from, rcpt_to, raw, limit)
            if refused is not None:
                return refused
            failpoints.reach("smtp_before_send")
            return self._conversation(smtp, mail_from, rcpt_to, raw)
        except smtplib.SMTPResponseException as exc:  # at the greeting, EHLO, STARTTLS, AUTH
            self.close()
            stage = _stage_of(exc)
            return Delivery(
                judge(stage, exc.smtp_code), answer(exc.smtp_code, exc.smtp_error, stage)
            )
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, TLS, no AUTH
            self.close()
            return Delivery(DeliveryOutcome.RETRY, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _size(smtp: smtplib.SMTP) -> int | None:
        """The server's SIZE (EHLO), in bytes; None when it states none."""
        size = smtp.esmtp_features.get("size", "").strip()
        return int(size) if size.isdigit() and int(size) > 0 else None

    @property
    def connected(self) -> bool:
        """False after a failure that closed the connection (or before the first mail)."""
        return self.folder is not None or self._smtp is not None

    @staticmethod
    def _refusal(
        smtp: smtplib.SMTP, mail_from: Address, rcpt_to: Address, raw: bytes, limit: int | None
    ) -> Delivery | None:
        """What this server cannot take, known before asking it."""
        unicode = [a.smtp for a in (mail_from, rcpt_to) if a.needs_smtputf8]
        if unicode and not smtp.has_extn("smtputf8"):
            return Delivery(
                DeliveryOutcome.FAILED,
                f"{unicode[0]} has a Unicode local part and the server does not offer SMTPUTF8",
            )
        if limit is not None and len(raw) > limit:
            return Delivery(
                DeliveryOutcome.FAILED,
                f"the mail is {len(raw)} bytes, the server takes at most {limit}",
            )
        return None

    def _conversation(
        self, smtp: smtplib.SMTP, mail_from: Address, rcpt_to: Address, raw: bytes
    ) -> Delivery:
        """MAIL FROM, RCPT TO, DATA: each refusal judged by where it came."""
        options = []
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(raw)}")
        if mail_from.needs_smtputf8 or rcpt_to.needs_smtputf8:
            options.append("SMTPUTF8")  # smtplib then writes the commands in UTF-8
        if not raw.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        for stage, step in (
            (Stage.MAIL, lambda: smtp.mail(mail_from.smtp, options)),
            (Stage.RCPT, lambda: smtp.rcpt(rcpt_to.smtp)),
            (Stage.DATA, lambda: _data(smtp, raw)),
        ):
            code, reply = step()
            if code not in (250, 251):
                return self._refused(smtp, stage, code, reply)
        failpoints.reach("smtp_accepted")
        return Delivery(DeliveryOutcome.SENT)

    def _refused(self, smtp: smtplib.SMTP, stage: Stage, code: int, reply: bytes) -> Delivery:
        if stops_the_batch(stage, code):
            self.close()
        else:
            try:
                smtp.rset()  # the next mail starts a transaction of its own
            except (OSError, smtplib.SMTPException):
                self.close()
        return Delivery(judge(stage, code), answer(code, reply, stage))

    def _write(self, raw: bytes, name: str) -> Delivery:
        assert self.folder is not None
        private_folder(self.folder)  # mail: 0600 files in a 0700 folder whatever the umask
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(".tmp")
        with open(open_private(temporary, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
            handle.write(raw)
        temporary.replace(target)
        return Delivery(DeliveryOutcome.SENT, str(target))

    def _connection(self) -> smtplib.SMTP:
        """Connected, greeted (EHLO), encrypted and logged in, as the configuration says."""
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
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo_or_helo_if_needed()
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def check(self, sender: str, probe: str | None = None) -> str | None:
        """None when mail can go out, else the server's answer (for `status`). Logs in as
        sending does, then MAIL FROM SENDER and RCPT TO PROBE (a team address), then RSET:
        nothing is sent, but a login, relay or sender refusal shows."""
        if self.folder is not None:
            return None
        try:
            mail_from = wire(sender)
            rcpt_to = wire(probe) if probe else None
        except AddressError as exc:
            return str(exc)
        try:
            smtp = self._connection()
            utf8 = mail_from.needs_smtputf8 or (rcpt_to is not None and rcpt_to.needs_smtputf8)
            steps = [(Stage.MAIL, lambda: smtp.mail(mail_from.smtp, ["SMTPUTF8"] if utf8 else []))]
            if rcpt_to is not None:
                steps.append((Stage.RCPT, lambda: smtp.rcpt(rcpt_to.smtp)))
            for stage, step in steps:
                code, reply = step()
                if code not in (250, 251):
                    return answer(code, reply, stage)
            smtp.rset()
        except smtplib.SMTPResponseException as exc:
            return answer(exc.smtp_code, exc.smtp_error, _stage_of(exc))
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.close()
        return None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None


def _stage_of(exc: smtplib.SMTPResponseException) -> Stage:
    return Stage.AUTH if isinstance(exc, smtplib.SMTPAuthenticationError) else Stage.CONNECT


def _data(smtp: smtplib.SMTP, raw: bytes) -> tuple[int, bytes]:
    """DATA and the message: a refusal of the command itself is an answer like any other."""
    try:
        return smtp.data(raw)
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code, exc.smtp_error


def can_send(config: Config) -> str | None:
    """None when the configured server takes mail from us to the team, else its answer: what
    `status` and `config check` both ask, the way sending would."""
    team = [*config.review.reviewers, *config.review.operators]
    transport = Transport(config)
    try:
        return transport.check(config.smtp.from_address, team[0] if team else None)
    finally:
        transport.close()
