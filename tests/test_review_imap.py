"""Reviewers decide by replying to the notification: end to end through Dovecot and SMTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.models import CaseStatus
from delist_bot.store import Store
from delist_bot.worker import Worker
from tests.conftest import DATA_SAMPLES, delist_bot, imap_settings
from tests.imap_helpers import deliver
from tests.servers import Dovecot, SmtpServer
from tests.test_worker_imap import _write_toml

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REVIEWER = "rev@delist.example.net"
OPERATOR = "ops@delist.example.net"
REQUEST = DATA_SAMPLES / "01-review-attached-en.eml"
IP = "81.2.69.142"


@pytest.fixture
def settings(dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, tmp_path: Path) -> dict:
    return imap_settings(
        dovecot,
        imap_user,
        smtp_server,
        tmp_path / "store.json",
        review={"reviewers": [REVIEWER], "operators": [OPERATOR], "secret": "test-secret"},
    )


@pytest.fixture
def config(settings: dict) -> Config:
    return from_dict(settings, {})


def mails(smtp: SmtpServer, kind: str) -> list[Message]:
    return [m for _, m in smtp.recorder.messages if m["X-Delist-Bot-Action"] == kind]


def reviewer_reply(
    notification: Message,
    body: str,
    sender: str = REVIEWER,
    subject: str | None = None,
    in_reply_to: str | None = "same",
) -> bytes:
    """What a mail client makes of 'Reply' to the notification."""
    headers = [
        f"From: Rita Reviewer <{sender}>",
        "To: delist@delist.example.net",
        f"Subject: {subject or 'Re: ' + notification['Subject']}",
        f"Message-ID: <reply-{abs(hash((body, sender, subject)))}@delist.example.net>",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        target = notification["Message-ID"] if in_reply_to == "same" else in_reply_to
        headers += [f"In-Reply-To: {target}", f"References: {target}"]
    quoted = "\n".join(
        "> " + line
        for line in notification.get_payload(0).get_payload(decode=True).decode().splitlines()[:5]
    )
    text = f"{body}\n\nOn Fri, 27 Nov 2026 at 09:00, delist-bot wrote:\n{quoted}\n"
    return ("\n".join(headers) + "\n\n" + text).encode()


def sender_reply(to: Message, message_id: str, body: str) -> bytes:
    return (
        f"From: mario@mail.example.org\nTo: delist@delist.example.net\n"
        f"Subject: {to['Subject']}\nMessage-ID: {message_id}\n"
        f"In-Reply-To: {to['Message-ID']}\n\n{body}\n"
    ).encode()


def open_a_case(dovecot: Dovecot, user: str, smtp: SmtpServer, config: Config) -> Message:
    with Store(Path(config.store.path)).transaction() as tx:
        tx.add_listing(f"{IP}/32", "spam trap hits", T0 - timedelta(days=3))
    deliver(dovecot, user, [REQUEST.read_bytes()])
    Worker(config).run_once(T0)
    [notification] = mails(smtp, "reviewer_notification")
    return notification


def case_of(config: Config):
    with Store(Path(config.store.path)).transaction() as tx:
        return tx.case("DL-000001"), tx.listing_for(IP)


def test_the_notification_carries_the_dossier_and_the_request(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    assert notification["To"] == REVIEWER
    assert notification["Subject"].startswith("[DL-000001/")
    assert notification["Message-ID"].startswith("<review.DL-000001.")
    text = notification.get_payload(0).get_payload(decode=True).decode()
    text = " ".join(text.split())  # lines are wrapped for mail
    for expected in (
        IP,
        "5.7.511",
        "mario@mail.example.org",
        "listed as 81.2.69.142/32",
        "spam trap hits",
        "Earlier cases for this IP: none",
        "81.2.69.0/24",
        "our mail server has been blocked",
    ):
        assert expected in text
    attached = notification.get_payload(1)
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_payload(0)["Message-ID"] == "<sample-001@example.org>"


@pytest.mark.parametrize(
    ("body", "kind", "status", "listed"),
    [
        ("approve\nThe IP is clean now.", "delisted", CaseStatus.DELISTED, False),
        ("deny\nThe IP still hits our spam traps.", "denied", CaseStatus.DENIED, True),
        (
            "info\nWhat kind of mail does this server send?",
            "info_request",
            CaseStatus.WAITING,
            True,
        ),
    ],
)
def test_a_reviewer_decides_by_replying(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    config: Config,
    body: str,
    kind: str,
    status: CaseStatus,
    listed: bool,
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    deliver(dovecot, imap_user, [reviewer_reply(notification, body)])
    Worker(config).run_once(T0 + timedelta(hours=2))

    [decision] = mails(smtp_server, kind)
    assert decision["To"] == "mario@mail.example.org"
    assert decision["In-Reply-To"] == "<sample-001@example.org>"
    assert "[DL-000001]" in decision["Subject"] and decision["X-Delist-Bot-Case"] == "DL-000001"
    assert body.splitlines()[1] in decision.get_payload(decode=True).decode()
    case, listing = case_of(config)
    assert case.status is status and case.first_contact_at == T0 + timedelta(hours=2)
    assert (listing is not None) is listed


@pytest.mark.parametrize("forgery", ["not a reviewer", "token removed", "token altered"])
def test_a_forged_command_changes_nothing(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config, forgery: str
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    tag = notification["Subject"].split("]")[0] + "]"
    forged = {
        "not a reviewer": reviewer_reply(notification, "approve", sender="mario@mail.example.org"),
        "token removed": reviewer_reply(
            notification,
            "approve",
            in_reply_to=None,
            subject="Re: " + notification["Subject"].replace(tag, "[DL-000001]"),
        ),
        "token altered": reviewer_reply(
            notification,
            "approve",
            in_reply_to=None,
            subject="Re: " + notification["Subject"].replace(tag, tag[:-5] + "0000]"),
        ),
    }[forgery]
    before = len(smtp_server.recorder.messages)
    deliver(dovecot, imap_user, [forged])
    Worker(config).run_once(T0 + timedelta(hours=2))
    sent_after = [m for _, m in smtp_server.recorder.messages[before:]]
    assert not [m for m in sent_after if m["To"] == "mario@mail.example.org"]
    case, listing = case_of(config)
    assert case.status is CaseStatus.OPEN and listing is not None
    assert case.events[-1].kind in ("rejected_command", "follow_up")


def test_the_sender_answering_a_question_reopens_the_case(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    deliver(dovecot, imap_user, [reviewer_reply(notification, "info\nWhat do you send?")])
    Worker(config).run_once(T0 + timedelta(hours=1))
    [question] = mails(smtp_server, "info_request")
    answer = sender_reply(
        question, "<answer@example.org>", "approve\nOnly invoices, twice a month."
    )
    deliver(dovecot, imap_user, [answer])
    Worker(config).run_once(T0 + timedelta(hours=3))
    case, listing = case_of(config)
    assert case.status is CaseStatus.OPEN and listing is not None  # "approve" from the sender
    [followup] = mails(smtp_server, "reviewer_followup")
    assert "Only invoices" in followup.get_payload(decode=True).decode()


def test_holding_reply_at_45_hours_once(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, settings: dict, tmp_path: Path
) -> None:
    config_file = _write_toml(tmp_path, settings)
    deliver(dovecot, imap_user, [REQUEST.read_bytes()])

    def run_at(hours: int) -> None:
        moment = (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
        result = delist_bot("run", "--once", "--config", str(config_file), "--now", moment)
        assert result.returncode == 0, result.stderr

    run_at(0)
    run_at(45)
    assert len(mails(smtp_server, "holding")) == 1
    assert len(mails(smtp_server, "reviewer_reminder")) == 1
    assert [m["To"] for m in mails(smtp_server, "operator_escalation")] == [OPERATOR]
    run_at(46)
    assert len(mails(smtp_server, "holding")) == 1
    [holding] = mails(smtp_server, "holding")
    assert holding["To"] == "mario@mail.example.org" and "[DL-000001]" in holding["Subject"]


def test_a_reply_to_a_closed_case_opens_a_linked_one(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    deliver(dovecot, imap_user, [reviewer_reply(notification, "close")])
    Worker(config).run_once(T0 + timedelta(hours=1))
    [ack] = mails(smtp_server, "review")
    again = sender_reply(ack, "<again@example.org>", "We are still blocked, please look again.")
    deliver(dovecot, imap_user, [again])
    Worker(config).run_once(T0 + timedelta(days=3))
    with Store(Path(config.store.path)).transaction() as tx:
        new = tx.case("DL-000002")
    assert new is not None and new.linked_case == "DL-000001" and new.ip == IP
    assert len(mails(smtp_server, "reviewer_notification")) == 2


def test_require_listed_answers_not_listed(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, settings: dict
) -> None:
    settings["review"]["require_listed"] = True
    config = from_dict(settings, {})
    with Store(Path(config.store.path)).transaction() as tx:
        tx.add_listing("198.51.100.0/24", "", T0)
    deliver(dovecot, imap_user, [REQUEST.read_bytes()])
    Worker(config).run_once(T0)
    assert len(mails(smtp_server, "not_listed")) == 1
    assert mails(smtp_server, "reviewer_notification") == []
