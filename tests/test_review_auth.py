"""Who may decide a case: reviewers only, with the case's token, and authenticated if asked."""

from __future__ import annotations

import pytest

from delist_bot.models import Extraction
from delist_bot.review import (
    authenticated,
    case_token,
    notification_id,
    parse_command,
    rejection,
    token_reference,
)

SECRET = "test-secret"
TOKEN = case_token(SECRET, "DL-000001")
REVIEWERS = ["rev@delist.example.net"]


def test_the_token_is_an_hmac_of_the_case_id() -> None:
    assert case_token(SECRET, "DL-000001") == TOKEN and len(TOKEN) == 16
    assert TOKEN != case_token(SECRET, "DL-000002") != case_token("other", "DL-000001")


@pytest.mark.parametrize(
    ("extraction", "found"),
    [
        (Extraction(in_reply_to=notification_id("DL-000001", TOKEN, "d.example")), True),
        (Extraction(references=("<a@b>", notification_id("DL-000001", TOKEN, "d.example"))), True),
        (Extraction(subject=f"Re: [DL-000001/{TOKEN}] Review 81.2.69.142"), True),
        (Extraction(subject="Re: [DL-000001] your request"), False),
        (Extraction(in_reply_to="<other@example.org>"), False),
    ],
)
def test_token_reference(extraction: Extraction, found: bool) -> None:
    assert (token_reference(extraction) == ("DL-000001", TOKEN)) is found


@pytest.mark.parametrize(
    ("text", "word", "message"),
    [
        ("approve\nAll clean now.", "approve", "All clean now."),
        (
            "\n\n  Deny: the IP still sends spam\nsee the logs",
            "deny",
            "the IP still sends spam\nsee the logs",
        ),
        ("INFO\nWhat do you send?", "info", "What do you send?"),
        ("take", "take", ""),
        ("please approve this", "please", "approve this"),
        ("", "", ""),
    ],
)
def test_parse_command(text: str, word: str, message: str) -> None:
    command = parse_command(text)
    assert (command.word, command.message) == (word, message)


def reply(sender: str, results: tuple[str, ...] = ()) -> Extraction:
    return Extraction(from_address=sender, auth_results=results)


@pytest.mark.parametrize(
    ("extraction", "token", "authserv", "reason"),
    [
        (reply("rev@delist.example.net"), TOKEN, "", None),
        (reply("REV@delist.example.net"), TOKEN, "", None),
        (reply("eve@example.org"), TOKEN, "", "eve@example.org is not a reviewer"),
        (reply("rev@delist.example.net"), "0" * 16, "", "the case token is missing or wrong"),
        (reply("rev@delist.example.net"), "", "", "the case token is missing or wrong"),
        (reply("rev@delist.example.net"), TOKEN, "mx.delist.example.net", "no dkim=pass"),
        (
            reply(
                "rev@delist.example.net",
                ("mx.delist.example.net; dkim=pass header.d=delist.example.net",),
            ),
            TOKEN,
            "mx.delist.example.net",
            None,
        ),
        (
            reply(
                "rev@delist.example.net",
                ("mx.delist.example.net; spf=pass smtp.mailfrom=rev@delist.example.net",),
            ),
            TOKEN,
            "mx.delist.example.net",
            None,
        ),
        (
            reply(
                "rev@delist.example.net", ("evil.example; dkim=pass header.d=delist.example.net",)
            ),
            TOKEN,
            "mx.delist.example.net",
            "no dkim=pass",
        ),
        (
            reply(
                "rev@delist.example.net",
                ("mx.delist.example.net; dkim=pass header.d=evil.example",),
            ),
            TOKEN,
            "mx.delist.example.net",
            "no dkim=pass",
        ),
        (
            reply(
                "rev@delist.example.net",
                ("mx.delist.example.net; dkim=fail header.d=delist.example.net",),
            ),
            TOKEN,
            "mx.delist.example.net",
            "no dkim=pass",
        ),
    ],
)
def test_rejection(extraction: Extraction, token: str, authserv: str, reason: str | None) -> None:
    found = rejection(extraction, "DL-000001", token, SECRET, REVIEWERS, authserv)
    assert found == reason if reason is None else found.startswith(reason)


def test_authentication_results_from_another_server_are_ignored() -> None:
    forged = ("mx.delist.example.net.evil; dkim=pass header.d=delist.example.net",)
    assert not authenticated(forged, "mx.delist.example.net", "rev@delist.example.net")
