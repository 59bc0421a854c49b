"""Who may decide a case: one strict From address that is a reviewer, the case's live token, and
our own server's aligned DKIM or SPF pass when an authserv_id is set."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from delist_bot.core.authentication import aligned, top_results, vouches
from delist_bot.core.identity import mailbox
from delist_bot.core.models import Case, CaseStatus, Extraction
from delist_bot.core.review import (
    GRACE,
    case_token,
    live_tokens,
    notification_id,
    parse_command,
    rejection,
    token_reference,
)
from delist_bot.ndr import extract

SECRET = "test-secret"
TOKEN = case_token(SECRET, "DL-000001")
REVIEWERS = ("rev@delist.example.net",)
AUTHSERV = "mx.delist.example.net"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CASE = Case(
    id="DL-000001",
    ip="81.2.69.142",
    ndr_code="5.7.511",
    evidence="",
    requester="mario@mail.example.org",
    language="en",
    subject="blocked",
    received_at=T0,
    due_at=T0 + timedelta(hours=48),
)
DECIDED = dataclasses.replace(CASE, status=CaseStatus.DELISTED, decided_at=T0 + timedelta(hours=1))


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
        (
            f"info\nWhat do you send? (ref {TOKEN.upper()}, review.DL-000001.{TOKEN})",
            "info",
            "What do you send? (ref [removed], review.DL-000001)",
        ),
        (f"info\nWhat do you send?\nRe: [DL-000001/{TOKEN}] Review", "info", "What do you send?"),
    ],
)
def test_parse_command(text: str, word: str, message: str) -> None:
    command = parse_command(text, {TOKEN})
    assert (command.word, command.message) == (word, message)


# The From header as it comes, and the one address a strict reader takes from it (or None).
@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("Rita Reviewer <rev@delist.example.net>", "rev@delist.example.net"),
        ("rev@Delist.Example.NET (Rita)", "rev@delist.example.net"),
        ("=?utf-8?q?Rita?= <rev@delist.example.net>", "rev@delist.example.net"),
        ("R. Reviewer <rev@delist.example.net>", "rev@delist.example.net"),  # obs-phrase
        ("rev . iewer@delist.example.net", None),  # obsolete syntax in the address itself
        # An encoded word is a display name, never an address (RFC 2047 section 5).
        (
            "=?utf-8?q?reviewer1=40example=2Enet=2C?= <attacker@evil.example>",
            "attacker@evil.example",
        ),
        ('"rev@delist.example.net" <attacker@evil.example>', "attacker@evil.example"),
        ("=?utf-8?q?j=C3=BCrgen=40b=C3=BCcher=2Eexample?=", None),
        ("=?utf-8?q?rev=40delist.example.net?=@evil.example", None),
        # A raw UTF-8 address (RFC 6532) is an address.
        ("jürgen@bücher.example", "jürgen@bücher.example"),
        ("Jürgen <jürgen@bücher.example>", "jürgen@bücher.example"),
        ("rev@delist.example.net, attacker@evil.example", None),
        ("team: rev@delist.example.net;", None),
        ("undisclosed-recipients:;", None),
        ("rev@delist.example.net <attacker@evil.example>", None),
        ("Rev <rev@delist.example.net", None),
        ('"rev@delist.example.net"@evil.example', None),
        ("rev@[192.0.2.1]", None),
        ("admin@[xample.org", None),  # an unclosed literal: the stdlib parser raised AttributeError
        ("<@relay.example:rev@delist.example.net>", None),
        ("rev@localhost", None),
        ("", None),
        ("a," * 1000, None),
        ("x" * 100_000 + "@evil.example", None),
    ],
)
def test_strict_address(value: str, address: str | None) -> None:
    assert mailbox(value).address == address


def message(from_lines: list[str], top: list[str] = (), below: list[str] = ()) -> bytes:
    headers = [*top, *from_lines, "To: delist@delist.example.net", *below, "Subject: Re: x"]
    return ("\r\n".join(headers) + "\r\n\r\napprove\r\n").encode()


@pytest.mark.parametrize(
    ("froms", "address", "problem"),
    [
        (["From: Rita <rev@delist.example.net>"], "rev@delist.example.net", None),
        (["From: Rita\r\n <rev@delist.example.net>"], "rev@delist.example.net", None),
        (["From: =?utf-8?q?reviewer1=40example=2Enet=2C?= <attacker@evil.example>"], None, None),
        (["From: (((", "From: rev@delist.example.net"], None, "2 From headers"),
        (["From: rev@delist.example.net", "From: rev@delist.example.net"], None, "2 From"),
        ([], None, "0 From headers"),
        (["From: =?utf-8?q?rev=40delist.example.net?="], None, "encoded word"),
    ],
)
def test_the_extractor_reads_exactly_one_from(
    froms: list[str], address: str | None, problem: str | None
) -> None:
    found = extract(message(froms))
    if froms and "attacker" in froms[0]:
        assert found.from_address == "attacker@evil.example"
        return
    assert found.from_address == address
    assert (found.from_problem is None) if problem is None else (problem in found.from_problem)


def test_the_requester_is_never_read_out_of_an_encoded_word() -> None:
    raw = message(["From: =?utf-8?q?j=C3=BCrgen=40b=C3=BCcher=2Eexample?="])
    assert extract(raw).sender is None
    utf8 = message(["From: Jürgen <jürgen@bücher.example>"])
    assert extract(utf8).sender == "jürgen@bücher.example"
    redirected = message(
        ["From: a@b.example"], top=["Resent-From: =?utf-8?q?x=40evil.example?= <ops@c.example>"]
    )
    assert extract(redirected).sender == "ops@c.example"


GOOD = f"{AUTHSERV}; dkim=pass header.d=delist.example.net header.s=sel"


@pytest.mark.parametrize(
    ("headers", "results"),
    [
        # What a Postfix + OpenDKIM server leaves on top, then the message's own headers.
        (
            [
                ("Return-Path", "<rev@delist.example.net>"),
                ("Delivered-To", "delist@delist.example.net"),
                ("Received", "from a by mx"),
                ("Authentication-Results", GOOD),
                ("Received", "from b by a"),
                ("DKIM-Signature", "v=1"),
                ("Authentication-Results", f"{AUTHSERV}; spf=pass smtp.mailfrom=x@evil.example"),
                ("From", "x"),
            ],
            (GOOD,),
        ),
        # One the sender wrote below a header the message came with: not believed.
        (
            [("Received", "by mx"), ("From", "x"), ("Authentication-Results", GOOD)],
            (),
        ),
        ([("Authentication-Results", GOOD), ("ARC-Seal", "i=1"), ("Subject", "s")], (GOOD,)),
    ],
)
def test_only_the_top_run_of_trace_headers_counts(headers: list, results: tuple) -> None:
    assert top_results(headers) == results


@pytest.mark.parametrize(
    ("result", "believed"),
    [
        (GOOD, True),
        (f"{AUTHSERV}; dkim=pass header.d=mail.delist.example.net", True),  # relaxed alignment
        (f"{AUTHSERV}; dkim=pass header.i=@delist.example.net", True),
        (f"{AUTHSERV} 1; spf=pass smtp.mailfrom=bounces@delist.example.net", True),
        (f"{AUTHSERV}; spf=pass smtp.mailfrom=delist.example.net", True),
        (f"{AUTHSERV.upper()}; dkim=pass header.d=delist.example.net", True),
        (
            f"{AUTHSERV}; dkim=fail header.d=delist.example.net; spf=pass smtp.mailfrom=a@x.org",
            False,
        ),
        (f"{AUTHSERV}; dkim=pass header.d=evil.example", False),
        (f"{AUTHSERV}; dkim=pass header.d=example.net", True),  # the organisational domain
        (f"{AUTHSERV}; dkim=pass header.d=example.org", False),
        (f'{AUTHSERV}; spf=pass smtp.mailfrom="@delist.example.net x"@evil.example', False),
        (f"{AUTHSERV}; dmarc=pass header.from=delist.example.net", False),
        (f"{AUTHSERV}.evil; dkim=pass header.d=delist.example.net", False),
        ("evil.example; dkim=pass header.d=delist.example.net", False),
        (f"{AUTHSERV}; dkim=pass header.d=delist.example.net; (unclosed", False),
        (f"{AUTHSERV}; dkim=pass header.d=delist.example.net" + " x" * 5000, False),
    ],
)
def test_our_servers_aligned_pass_vouches(result: str, believed: bool) -> None:
    assert vouches((result,), AUTHSERV, "rev@delist.example.net") is believed


def test_alignment_uses_the_public_suffix_list() -> None:
    assert aligned("mail.example.co.uk", "example.co.uk")
    assert not aligned("other.co.uk", "example.co.uk")
    assert aligned("xn--bcher-kva.example", "bücher.example")


def reply(sender: str | None, results: tuple[str, ...] = (), problem: str = "") -> Extraction:
    return Extraction(from_address=sender, from_problem=problem or None, auth_results=results)


@pytest.mark.parametrize(
    ("extraction", "case", "token", "at", "authserv", "reason"),
    [
        (reply("rev@delist.example.net"), CASE, TOKEN, T0, "", None),
        (reply("REV@delist.example.net"), CASE, TOKEN, T0, "", None),
        (reply("eve@example.org"), CASE, TOKEN, T0, "", "eve@example.org is not a reviewer"),
        (reply(None, problem="2 From headers, not one"), CASE, TOKEN, T0, "", "not a reviewer"),
        (reply("rev@delist.example.net"), CASE, "0" * 16, T0, "", "the case token is missing"),
        (reply("rev@delist.example.net"), CASE, "", T0, "", "the case token is missing"),
        (reply("rev@delist.example.net"), DECIDED, TOKEN, DECIDED.decided_at + GRACE, "", None),
        (
            reply("rev@delist.example.net"),
            DECIDED,
            TOKEN,
            DECIDED.decided_at + GRACE + timedelta(seconds=1),
            "",
            "the token expired: DL-000001 is delisted",
        ),
        (reply("rev@delist.example.net"), CASE, TOKEN, T0, AUTHSERV, "no dkim=pass"),
        (reply("rev@delist.example.net", (GOOD,)), CASE, TOKEN, T0, AUTHSERV, None),
        (
            reply("rev@delist.example.net", (f"{AUTHSERV}; dkim=pass header.d=evil.example",)),
            CASE,
            TOKEN,
            T0,
            AUTHSERV,
            "no dkim=pass",
        ),
    ],
)
def test_rejection(
    extraction: Extraction,
    case: Case,
    token: str,
    at: datetime,
    authserv: str,
    reason: str | None,
) -> None:
    found = rejection(extraction, case, token, SECRET, REVIEWERS, at, authserv)
    assert found == reason if reason is None else found.startswith(reason)


def test_live_tokens_are_those_of_cases_waiting_or_just_decided() -> None:
    waiting = dataclasses.replace(CASE, id="DL-000002", status=CaseStatus.WAITING)
    at = DECIDED.decided_at + timedelta(minutes=30)
    assert live_tokens([waiting, DECIDED], SECRET, at) == {
        case_token(SECRET, "DL-000002"),
        TOKEN,
    }
    assert live_tokens([waiting, DECIDED], SECRET, at + GRACE) == {case_token(SECRET, "DL-000002")}


@pytest.mark.parametrize(
    "headers",
    [
        ["From: " + "a," * 500_000 + "rev@delist.example.net"],
        ["From: Rita <rev@delist.example.net>", "From: " + "(" * 1_000_000],
        [f"Authentication-Results: {AUTHSERV}; " + "dkim=pass " * 100_000, "From: a@b.example"],
        ["From: =?utf-8?q?" + "=40" * 300_000 + "?= <rev@delist.example.net>"],
    ],
    ids=["a list of a million", "a million parentheses", "a 1 MB result", "a 900 KB word"],
)
def test_hostile_identity_headers_vouch_for_nobody(headers: list[str]) -> None:
    found = extract(("\r\n".join(headers) + "\r\nSubject: x\r\n\r\napprove\r\n").encode())
    assert found.error is None
    assert found.from_address is None or not vouches(
        found.auth_results, AUTHSERV, found.from_address
    )
