"""A big request reaches the reviewers: a notification over the SMTP server's SIZE goes out cut,
says so, and points at `cases show ID --raw`, which gives the request as it came.

A real Dovecot and an aiosmtpd server with Postfix's default limit (10,240,000 bytes).
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

from click.testing import CliRunner

from delist_bot.cli import cli
from delist_bot.compose.notice_mail import Dossier, review_request
from delist_bot.compose.oversize import cut_notification
from delist_bot.core.cases import open_case
from delist_bot.core.settings import Sender, Settings
from tests.compose.test_replies import REQUEST
from tests.conftest import DATA_SAMPLES, imap_settings
from tests.support.ids import counting_ids
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.support.smtp_helpers import run_cli, write_toml

POSTFIX_LIMIT = 10_240_000
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WORDS = "Please delist us, the logs of the last week are attached."


def big_request(size: int) -> bytes:
    """A 5.7.511 request with the sender's logs attached, SIZE bytes in all."""
    head = (
        "From: Mario Admin <mario@mail.example.org>\r\n"
        "To: delist@delist.example.net\r\n"
        "Subject: blocked, logs attached\r\n"
        "Message-ID: <big-request@mail.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{WORDS}\r\n\r\n"
        "550 5.7.511 Access denied, banned sender[81.2.69.142]. To request removal from this\r\n"
        "list, forward this message to delist@microsoft.com.\r\n"
        "--b\r\nContent-Type: application/octet-stream; name=logs.bin\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    tail = b"\r\n--b--\r\n"
    lines = (size - len(head) - len(tail)) // 78
    data = base64.encodebytes(os.urandom(lines * 57)).replace(b"\n", b"\r\n")
    body = head + data
    return body + b"x" * (size - len(body) - len(tail)) + tail


def test_a_request_too_big_for_the_server_reaches_the_reviewers_cut(
    dovecot: Dovecot, imap_user: str, tmp_path: Path
) -> None:
    smtp = SmtpServer.start(data_size_limit=POSTFIX_LIMIT)
    try:
        settings = imap_settings(
            dovecot,
            imap_user,
            smtp,
            tmp_path / "store.json",
            mailbox={"max_message_bytes": 20_000_000},
        )
        config = str(write_toml(tmp_path / "c.toml", settings))
        request = big_request(10_300_000)
        deliver(dovecot, imap_user, [request])
        ran = run_cli("run", "--once", "--config", config, "--now", NOW.isoformat())
        assert ran.exit_code == 0 and "sent 2, retrying 0, failed 0" in ran.output, ran.output

        by_kind = {str(m["X-Delist-Bot-Action"]): (e, m) for e, m in smtp.recorder.messages}
        envelope, notification = by_kind["reviewer_notification"]
        assert envelope.rcpt_tos == ["reviewer@delist.example.net"]
        assert len(envelope.content) <= POSTFIX_LIMIT
        text, first_part = notification.get_payload()
        said = text.get_payload(decode=True).decode()
        assert said.startswith("THE REQUEST WAS CUT. With the request attached")
        assert f"the mail server takes at most {POSTFIX_LIMIT:,} bytes" in " ".join(said.split())
        assert "delist-bot cases show DL-000001 --raw" in said
        assert WORDS in said and "banned sender[81.2.69.142]" in said
        shown = first_part.get_payload(decode=True)
        assert first_part.get_filename() == "request-DL-000001-first-part.txt"
        assert shown.startswith(request[:200]) and 100_000 < len(shown) < len(request)
        assert by_kind["review"][0].rcpt_tos == ["mario@mail.example.org"]

        whole = CliRunner().invoke(cli, ["cases", "show", "DL-000001", "--raw", "--config", config])
        assert whole.exit_code == 0 and whole.stdout_bytes == request
    finally:
        smtp.stop()


def test_a_notification_that_fits_is_not_cut_and_other_mail_is_left_alone() -> None:
    request = (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes()
    assert cut_notification(request, 100, "DL-000001") is None  # not our notification
    notification = _notification(request)
    cut = cut_notification(notification, 4_000, "DL-000009")
    assert cut is not None and len(cut) <= 4_000
    parsed = message_from_bytes(cut)
    assert parsed["Message-ID"] == message_from_bytes(notification)["Message-ID"]
    assert "cases show DL-000009 --raw" in parsed.get_payload()[0].get_payload(decode=True).decode()
    assert cut_notification(notification, 300, "DL-000009") is None  # not even the text fits


def _notification(request: bytes) -> bytes:
    settings = Settings(sender=Sender.from_address("delist@d.example"), reviewers=("r@d.example",))
    dossier = Dossier(network="81.2.69.0/24", listing="not listed")
    case = open_case(9, REQUEST, NOW)
    mail = review_request(case, "words", dossier, request, settings, NOW, new_ids=counting_ids())
    assert mail is not None
    return mail.raw
