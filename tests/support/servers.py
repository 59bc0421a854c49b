"""Real servers for the tests: a private Dovecot (IMAP) and an aiosmtpd SMTP server on loopback.

Both bind 127.0.0.1 on a free port and live in a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

PASSWORD = "s3cret-pass"
USERS = 500


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Dovecot:
    """A private Dovecot; each test gets its own user (and so its own mailbox)."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    users: list[str] = field(default_factory=list)

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> None:
        owner = pwd.getpwnam("nobody")
        self.root.chmod(0o755)  # Dovecot's auth process runs as the dovecot user
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(self.root / "mail", owner.pw_uid, owner.pw_gid)
        self.config_file.write_text(
            DOVECOT_CONF.format(root=self.root, port=self.port, uid=owner.pw_uid, gid=owner.pw_gid)
        )
        self._write_users()
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            # The whole process group: imap processes outlive a master that is only terminated.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.port = self.port  # same port, so clients configured before reconnect to it
        self.start()

    def add_user(self) -> str:
        """A fresh user; all are written before start, as Dovecot caches its passwd-file."""
        name = f"delist{len(self.users) + 1}@test.example"
        self.users.append(name)
        return name

    def _write_users(self) -> None:
        lines = [f"delist{n}@test.example:{{PLAIN}}{PASSWORD}::::::" for n in range(1, USERS + 1)]
        (self.root / "passwd").write_text("\n".join(lines) + "\n")

    def kick(self, user: str) -> None:
        """Drop USER's connections, and return once Dovecot no longer lists them: `doveadm kick`
        only signals the session's process, and a client that sends its next command before
        that process is gone is still answered."""
        subprocess.run(
            ["doveadm", "-c", str(self.config_file), "kick", user],
            check=False,
            capture_output=True,
            timeout=10,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and user in self._sessions(user):
            time.sleep(0.01)

    def _sessions(self, user: str) -> str:
        listed = subprocess.run(
            ["doveadm", "-c", str(self.config_file), "who", "-1", user],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return listed.stdout


def dovecot_available() -> bool:
    return shutil.which("dovecot") is not None and os.geteuid() == 0


class Recorder:
    """aiosmtpd handler that keeps every message, or answers with a chosen error."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []
        self.reply: str | None = None  # e.g. "451 4.3.0 try later"
        self.refuse: dict[str, str] = {}  # RCPT TO address: the answer it gets instead of 250
        self.accepted_at: list[float] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reply:
            return self.reply
        with self.lock:
            self.messages.append((envelope, message_from_bytes(envelope.content)))
            self.accepted_at.append(time.monotonic())
        return "250 2.0.0 queued"

    def by_header(self, name: str) -> dict[str, list[Message]]:
        found: dict[str, list[Message]] = {}
        for _, msg in self.messages:
            found.setdefault(str(msg.get(name)), []).append(msg)
        return found


@dataclass
class SmtpServer:
    recorder: Recorder
    controller: Controller
    port: int

    @classmethod
    def start(cls, **options: object) -> SmtpServer:
        """OPTIONS go to aiosmtpd's SMTP: enable_SMTPUTF8, data_size_limit, authenticator..."""
        recorder, port = Recorder(), free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
        controller.start()
        return cls(recorder, controller, port)

    running: bool = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False
