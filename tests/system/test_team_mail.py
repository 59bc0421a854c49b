"""Team mail reaches every member: each reviewer and operator is an envelope recipient of a mail
of their own, retried alone (a real Dovecot, an aiosmtpd server that records RCPT TO)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from delist_bot.config import Config, from_dict
from delist_bot.core.models import MailStatus
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, imap_settings
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REVIEWERS = ["r1@team.example", "r2@team.example"]
OPERATORS = ["o1@ops.example", "o2@ops.example"]
REQUEST = DATA_SAMPLES / "01-review-attached-en.eml"


def team_config(dovecot: Dovecot, user: str, smtp: SmtpServer, tmp_path) -> Config:
    settings = imap_settings(
        dovecot,
        user,
        smtp,
        tmp_path / "store.json",
        review={"reviewers": REVIEWERS, "operators": OPERATORS},
    )
    return from_dict(settings, {})


def recipients_by_kind(smtp: SmtpServer) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for envelope, msg in smtp.recorder.messages:
        assert len(envelope.rcpt_tos) == 1  # one mail each
        found[str(msg["X-Delist-Bot-Action"])] += envelope.rcpt_tos
    return {kind: sorted(rcpts) for kind, rcpts in found.items()}


def test_every_reviewer_and_operator_gets_the_teams_mail(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path
) -> None:
    config = team_config(dovecot, imap_user, smtp_server, tmp_path)
    deliver(dovecot, imap_user, [REQUEST.read_bytes()])
    worker = Worker(config)
    worker.run_once(NOW)
    worker.run_once(NOW + timedelta(hours=25))  # the reminder
    worker.run_once(NOW + timedelta(hours=41))  # the escalation
    worker.send_digest(NOW + timedelta(hours=42))

    got = recipients_by_kind(smtp_server)
    assert got["reviewer_notification"] == REVIEWERS
    assert got["reviewer_reminder"] == REVIEWERS
    assert got["operator_escalation"] == OPERATORS
    assert got["digest"] == OPERATORS
    assert got["review"] == ["mario@mail.example.org"]
    notifications = [
        m
        for _, m in smtp_server.recorder.messages
        if m["X-Delist-Bot-Action"] == "reviewer_notification"
    ]
    # The same message to each: one Message-ID (a reviewer's reply names it), the team in To.
    assert len({m["Message-ID"] for m in notifications}) == 1
    assert all(m["To"] == ", ".join(REVIEWERS) for m in notifications)


def test_a_failure_for_one_recipient_is_retried_for_that_one_only(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path
) -> None:
    config = team_config(dovecot, imap_user, smtp_server, tmp_path)
    smtp_server.recorder.refuse["r2@team.example"] = "450 4.2.1 mailbox busy, try later"
    deliver(dovecot, imap_user, [REQUEST.read_bytes()])
    first = Worker(config).run_once(NOW)

    assert recipients_by_kind(smtp_server)["reviewer_notification"] == ["r1@team.example"]
    [waiting] = first.retrying
    assert waiting.to == "r2@team.example" and (waiting.last_error or "").startswith("450 4.2.1")

    del smtp_server.recorder.refuse["r2@team.example"]
    again = Worker(config).deliver(NOW + timedelta(minutes=2))
    assert [m.to for m in again.sent] == ["r2@team.example"]
    assert recipients_by_kind(smtp_server)["reviewer_notification"] == REVIEWERS

    smtp_server.recorder.refuse["o2@ops.example"] = "550 5.1.1 no such user"
    digest = Worker(config).send_digest(NOW + timedelta(hours=1))
    assert [m.to for m in digest.sent] == ["o1@ops.example"]
    assert [m.to for m in digest.failed] == ["o2@ops.example"]
    with Store(tmp_path / "store.json").transaction() as tx:
        assert [m.to for m in tx.outbox.all(MailStatus.FAILED)] == ["o2@ops.example"]
