"""Reviewers decide by replying to the notification: end to end through Dovecot and SMTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest

from delist_bot.config import Config, from_dict
from delist_bot.core.models import CaseStatus
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES, delist_bot, imap_settings
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_worker_imap import _write_toml

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
    top: tuple[str, ...] = (),
    from_lines: tuple[str, ...] | None = None,
    below: tuple[str, ...] = (),
    quote: bool = True,
) -> bytes:
    """What a mail client makes of 'Reply' to the notification (quoting it as Gmail does, with
    QUOTE); TOP is what the receiving server put above it, BELOW what the client put under From."""
    headers = [
        *top,
        *(from_lines if from_lines is not None else (f"From: Rita Reviewer <{sender}>",)),
        *below,
        "To: delist@delist.example.net",
        f"Subject: {subject or 'Re: ' + notification['Subject']}",
        f"Message-ID: <reply-{abs(hash((body, sender, subject, top, from_lines)))}@d.example>",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        target = notification["Message-ID"] if in_reply_to == "same" else in_reply_to
        headers += [f"In-Reply-To: {target}", f"References: {target}"]
    quoted = "\n".join(
        "> " + line
        for line in notification.get_payload(0).get_payload(decode=True).decode().splitlines()[:5]
    )
    text = (
        f"{body}\n\nOn Fri, 27 Nov 2026 at 09:00, delist-bot wrote:\n{quoted}\n" if quote else body
    )
    return ("\n".join(headers) + "\n\n" + text).encode()


def sender_reply(to: Message, message_id: str, body: str) -> bytes:
    return (
        f"From: mario@mail.example.org\nTo: delist@delist.example.net\n"
        f"Subject: {to['Subject']}\nMessage-ID: {message_id}\n"
        f"In-Reply-To: {to['Message-ID']}\n\n{body}\n"
    ).encode()


def open_a_case(dovecot: Dovecot, user: str, smtp: SmtpServer, config: Config) -> Message:
    with Store(Path(config.store.path)).transaction() as tx:
        tx.blocklist.add(f"{IP}/32", "spam trap hits", T0 - timedelta(days=3))
    deliver(dovecot, user, [REQUEST.read_bytes()])
    Worker(config).run_once(T0)
    [notification] = mails(smtp, "reviewer_notification")
    return notification


def case_of(config: Config):
    with Store(Path(config.store.path)).transaction() as tx:
        return tx.cases.get("DL-000001"), tx.blocklist.listing_for(IP)


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
        new = tx.cases.get("DL-000002")
    assert new is not None and new.linked_case == "DL-000001" and new.ip == IP
    assert len(mails(smtp_server, "reviewer_notification")) == 2


def test_require_listed_answers_not_listed(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, settings: dict
) -> None:
    settings["review"]["require_listed"] = True
    config = from_dict(settings, {})
    with Store(Path(config.store.path)).transaction() as tx:
        tx.blocklist.add("198.51.100.0/24", "", T0)
    deliver(dovecot, imap_user, [REQUEST.read_bytes()])
    Worker(config).run_once(T0)
    assert len(mails(smtp_server, "not_listed")) == 1
    assert mails(smtp_server, "reviewer_notification") == []


AUTHSERV = "mx.delist.example.net"
OUR_TRACE = (
    "Return-Path: <rev@delist.example.net>",
    "Delivered-To: delist@delist.example.net",
    f"Received: from mail.delist.example.net by {AUTHSERV} (Postfix) with ESMTPS",
)
PASS = f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=delist.example.net header.s=s1"
NONE = f"Authentication-Results: {AUTHSERV}; dkim=none; spf=none smtp.mailfrom=x@evil.example"
NO_PASS = "no dkim=pass or spf=pass aligned with delist.example.net"
# Each forgery: why it is refused, and the headers it comes with (the case token is valid).
FORGERIES: dict[str, tuple[str, dict]] = {
    "an address in an encoded word": (
        "attacker@evil.example is not a reviewer",
        {
            "top": (
                *OUR_TRACE,
                f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=evil.example",
            ),
            "from_lines": (
                "From: =?utf-8?q?rev=40delist=2Eexample=2Enet=2C?= <attacker@evil.example>",
            ),
        },
    ),
    "two From headers, the first unparsable": (
        "not a reviewer: 2 From headers, not one",
        {
            "top": (*OUR_TRACE, PASS),
            "from_lines": ("From: rev@delist.example.net <", f"From: Rita <{REVIEWER}>"),
        },
    ),
    "a group": (
        "not a reviewer: From: a group",
        {"top": (*OUR_TRACE, PASS), "from_lines": (f"From: team: {REVIEWER};",)},
    ),
    "our id below the message's own headers": (
        NO_PASS,
        {"top": (*OUR_TRACE, NONE), "below": ("DKIM-Signature: v=1; d=evil.example", PASS)},
    ),
    "a MAIL FROM with a quoted local part": (
        NO_PASS,
        {
            "top": (
                *OUR_TRACE,
                f"Authentication-Results: {AUTHSERV}; "
                'spf=pass smtp.mailfrom="@delist.example.net x"@evil.example',
            )
        },
    ),
    "no Authentication-Results at all": (NO_PASS, {"top": OUR_TRACE}),
}


@pytest.fixture
def auth_config(settings: dict) -> Config:
    settings["review"]["authserv_id"] = AUTHSERV
    return from_dict(settings, {})


@pytest.mark.parametrize("forgery", FORGERIES.keys())
def test_a_forgery_with_a_valid_token_is_refused(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, auth_config: Config, forgery: str
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, auth_config)
    reason, headers = FORGERIES[forgery]
    forged = reviewer_reply(notification, "approve\nclean", **headers)
    deliver(dovecot, imap_user, [forged])
    Worker(auth_config).run_once(T0 + timedelta(hours=1))
    case, listing = case_of(auth_config)
    assert case.status is CaseStatus.OPEN and listing is not None
    assert case.events[-1].kind == "rejected_command"
    assert case.events[-1].text.startswith(reason)
    assert mails(smtp_server, "delisted") == []

    genuine = reviewer_reply(notification, "approve\nclean", top=(*OUR_TRACE, PASS))
    deliver(dovecot, imap_user, [genuine])
    Worker(auth_config).run_once(T0 + timedelta(hours=2))
    case, listing = case_of(auth_config)
    assert case.status is CaseStatus.DELISTED and listing is None
    assert len(mails(smtp_server, "delisted")) == 1


SWEDISH_OUTLOOK = """info
Vilken sorts post skickar servern?

Rita

Från: delist-bot <delist@delist.example.net>
Skickat: den 27 november 2026 10:00
Till: Rita Reviewer <rev@delist.example.net>
Ämne: {subject}

{body}
"""


def test_an_info_reply_quoting_the_notification_carries_no_token(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    token = notification["Subject"].split("/")[1].split("]")[0]
    text = notification.get_payload(0).get_payload(decode=True).decode()
    body = SWEDISH_OUTLOOK.format(subject=notification["Subject"], body=text)
    deliver(dovecot, imap_user, [reviewer_reply(notification, body, quote=False)])
    Worker(config).run_once(T0 + timedelta(hours=1))
    [question] = mails(smtp_server, "info_request")
    sent = question.as_string()
    assert "Vilken sorts post skickar servern?" in question.get_payload(decode=True).decode()
    assert token not in sent and "DL-000001/" not in sent
    assert "A delisting request needs a review" not in sent and "Skickat" not in sent


def test_a_command_after_the_decision_and_its_grace_is_refused(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    deliver(dovecot, imap_user, [reviewer_reply(notification, "deny\nstill spamming")])
    Worker(config).run_once(T0 + timedelta(hours=2))
    deliver(dovecot, imap_user, [reviewer_reply(notification, "note\nsaw it too")])
    Worker(config).run_once(T0 + timedelta(hours=2, minutes=30))  # within the grace
    case, _ = case_of(config)
    assert case.events[-1].kind == "note"

    deliver(dovecot, imap_user, [reviewer_reply(notification, "approve\nchanged my mind")])
    Worker(config).run_once(T0 + timedelta(hours=4))
    case, listing = case_of(config)
    assert case.status is CaseStatus.DENIED and listing is not None
    assert case.events[-1].kind == "rejected_command"
    assert case.events[-1].text.startswith("the token expired: DL-000001 is denied")
    assert mails(smtp_server, "delisted") == []


def test_approve_inside_a_listed_range_delists_the_ip_only(
    dovecot: Dovecot, imap_user: str, smtp_server: SmtpServer, config: Config
) -> None:
    with Store(Path(config.store.path)).transaction() as tx:
        tx.blocklist.add("81.2.0.0/16", "trap hits", T0 - timedelta(days=3))
    deliver(dovecot, imap_user, [REQUEST.read_bytes()])
    Worker(config).run_once(T0)
    [notification] = mails(smtp_server, "reviewer_notification")
    assert "listed as 81.2.0.0/16" in notification.get_payload(0).get_payload(decode=True).decode()
    deliver(dovecot, imap_user, [reviewer_reply(notification, "approve\nclean now")])
    Worker(config).run_once(T0 + timedelta(hours=1))
    with Store(Path(config.store.path)).transaction() as tx:
        listed = {
            ip: tx.blocklist.listing_for(ip) is not None for ip in (IP, "81.2.1.1", "81.2.255.7")
        }
        case = tx.cases.get("DL-000001")
    assert listed == {IP: False, "81.2.1.1": True, "81.2.255.7": True}
    assert case.status is CaseStatus.DELISTED
    assert [e.text for e in case.events if e.kind == "blocklist"] == [
        f"removed {IP} from 81.2.0.0/16"
    ]
