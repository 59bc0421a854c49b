"""Transient means transient: a login the SMTP server refuses keeps mail queued, `status` says
why, and fixing the configuration sends it; failed mail can be listed and retried.

A real Dovecot and a real aiosmtpd server that requires AUTH; the CLI as a user runs it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from delist_bot.config import from_dict
from delist_bot.core.models import MailRecord
from delist_bot.runtime.courier import attempt
from delist_bot.smtp.transport import DeliveryOutcome, Transport
from delist_bot.store.files import SPOOL_SUFFIX
from tests.conftest import imap_settings
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.support.smtp_helpers import ordinary, run_cli, write_toml

USER, RIGHT = "delist", "right-password"
# AUTH without TLS, on loopback, on purpose: aiosmtpd warns for each connection.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def authenticator(_server, _session, _envelope, _mechanism, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        RIGHT.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_server():
    server = SmtpServer.start(
        authenticator=authenticator, auth_required=True, auth_require_tls=False
    )
    yield server
    server.stop()


def now() -> datetime:
    return datetime.now(UTC)


def configure(path: Path, settings: dict, **smtp: str) -> str:
    settings = {**settings, "smtp": {**settings["smtp"], **smtp}}
    return str(write_toml(path, settings))


@pytest.mark.parametrize(
    ("login", "answer"),
    [({}, "530 5.7.0 Authentication required"), ({"username": USER, "password": "wrong"}, "535")],
    ids=["no-credentials", "wrong-password"],
)
def test_a_refused_login_keeps_mail_queued_until_the_configuration_is_fixed(
    dovecot: Dovecot,
    imap_user: str,
    auth_server: SmtpServer,
    tmp_path: Path,
    login: dict[str, str],
    answer: str,
) -> None:
    settings = imap_settings(dovecot, imap_user, auth_server, tmp_path / "store.json")
    broken = configure(tmp_path / "broken.toml", settings, **login)
    sender, raw = ordinary(1)
    deliver(dovecot, imap_user, [raw])

    first = run_cli("run", "--once", "--config", broken)
    assert first.exit_code == 0 and not first.traceback, first.output
    assert "retrying 1, failed 0" in first.output
    queued = json.loads(run_cli("outbox", "list", "--json", "--config", broken).output)
    assert [(m["status"], m["to"]) for m in queued] == [("pending", sender)]
    assert queued[0]["last_error"].startswith(answer)

    status = run_cli("status", "--config", broken)
    assert status.exit_code == 1
    assert f"unhealthy: SMTP cannot send: {answer}" in status.output

    fixed = configure(tmp_path / "fixed.toml", settings, username=USER, password=RIGHT)
    healthy = run_cli("status", "--config", fixed)
    assert healthy.exit_code == 0 and "mail can go out" in healthy.output, healthy.output
    later = (now() + timedelta(minutes=2)).isoformat()
    second = run_cli("run", "--once", "--config", fixed, "--now", later)
    assert "sent 1" in second.output, second.output
    assert [e.rcpt_tos for e, _ in auth_server.recorder.messages] == [[sender]]


def test_failed_mail_is_listed_and_retried(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = str(
        write_toml(
            tmp_path / "c.toml",
            imap_settings(dovecot, imap_user, smtp_server, tmp_path / "store.json"),
        )
    )
    sender, raw = ordinary(1)
    smtp_server.recorder.refuse[sender] = "550 5.1.1 mailbox unavailable"
    deliver(dovecot, imap_user, [raw])
    assert "failed 1" in run_cli("run", "--once", "--config", config).output

    listed = run_cli("outbox", "list", "--status", "failed", "--config", config)
    assert sender in listed.output and "550 5.1.1 mailbox unavailable (at RCPT TO)" in listed.output
    [failed] = json.loads(run_cli("outbox", "list", "--json", "--config", config).output)
    assert failed["status"] == "failed"

    unknown = run_cli("outbox", "retry", "0123456789", "--config", config)
    assert unknown.exit_code == 1 and "no mail 0123456789" in unknown.output
    del smtp_server.recorder.refuse[sender]
    retried = run_cli("outbox", "retry", failed["id"][:8], "--config", config)
    assert retried.exit_code == 0 and f"queued again: {failed['id']}" in retried.output
    assert "sent 1" in run_cli("run", "--once", "--config", config).output
    sent = json.loads(
        run_cli("outbox", "list", "--status", "sent", "--json", "--config", config).output
    )
    assert [m["to"] for m in sent] == [sender]
    assert run_cli("outbox", "retry", "--all-failed", "--config", config).output.strip() == (
        "no failed mail"
    )


def test_an_exception_fails_that_mail_only(smtp_server: SmtpServer, tmp_path: Path) -> None:
    settings = {
        "mailbox": {"kind": "maildir", "path": str(tmp_path / "mail")},
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "security": "none",
            "from_address": "delist@d.example",
        },
    }
    transport = Transport(from_dict(settings, {}))
    at = datetime(2026, 11, 27, tzinfo=UTC)
    good = MailRecord("2", "2", "s", "review", "a@b.example", "<m@d.example>", at, at)
    broken = dataclasses.replace(good, id="1")
    raw = b"From: delist@d.example\r\nTo: a@b.example\r\nSubject: x\r\n\r\nhi\r\n"
    try:
        # A damaged record fails at the store's claim; bytes that are no bytes get this far.
        failed = attempt(transport, "delist@d.example", broken, None)  # type: ignore[arg-type]
        sent = attempt(transport, "delist@d.example", good, raw)
    finally:
        transport.close()
    assert failed.outcome is DeliveryOutcome.FAILED and failed.detail.startswith("TypeError: ")
    assert sent.outcome is DeliveryOutcome.SENT


def test_a_lost_spool_file_fails_its_mail_and_nothing_else(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    store = tmp_path / "store.json"
    config = str(
        write_toml(tmp_path / "c.toml", imap_settings(dovecot, imap_user, smtp_server, store))
    )
    smtp_server.recorder.reply = "451 4.3.0 try later"
    start = now()
    for n in (1, 2):  # one commit, and so one spool file, each
        deliver(dovecot, imap_user, [ordinary(n)[1]])
        run_cli("run", "--once", "--config", config, "--now", start.isoformat())
        if n == 1:
            [lost] = list((tmp_path / "store.json.spool").glob("*" + SPOOL_SUFFIX))
    lost.unlink()  # by hand, say
    smtp_server.recorder.reply = None

    ran = run_cli(
        "run", "--once", "--config", config, "--now", (start + timedelta(hours=1)).isoformat()
    )
    assert ran.exit_code == 0 and not ran.traceback, ran.output
    assert [e.rcpt_tos for e, _ in smtp_server.recorder.messages] == [[ordinary(2)[0]]]
    [failed] = json.loads(
        run_cli("outbox", "list", "--status", "failed", "--json", "--config", config).output
    )
    assert failed["to"] == ordinary(1)[0] and "bytes are lost" in failed["last_error"]


def test_status_says_when_the_server_will_not_relay_to_the_team(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = imap_settings(dovecot, imap_user, smtp_server, tmp_path / "store.json")
    config = str(write_toml(tmp_path / "c.toml", settings))
    run_cli("run", "--once", "--config", config)  # a fresh poll: only the SMTP verdict is left
    assert run_cli("status", "--config", config).exit_code == 0
    smtp_server.recorder.refuse["reviewer@delist.example.net"] = "554 5.7.1 Relay access denied"
    status = run_cli("status", "--config", config)
    assert status.exit_code == 1
    assert "SMTP cannot send: 554 5.7.1 Relay access denied (at RCPT TO)" in status.output
    assert smtp_server.recorder.messages == []  # the check sends nothing
