"""Attacks on the review path that once worked: each test is one way a command, a token or a
reviewer's internal words got where they must not, or a genuine reviewer was refused."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from delist_bot.compose.notice_mail import team_mail
from delist_bot.config import Config
from delist_bot.core.authentication import vouches
from delist_bot.core.blocklist import contains, parse_listing
from delist_bot.core.cases import Notice
from delist_bot.core.models import Audience, Extraction
from delist_bot.core.quotes import scrub
from delist_bot.core.review import case_token, parse_command, rejection
from delist_bot.ndr import extract
from delist_bot.ndr.ips import read_ip_token
from delist_bot.runtime.worker import Worker
from delist_bot.store import Store
from tests.conftest import DATA_SAMPLES
from tests.core.test_review_auth import AUTHSERV, CASE, SECRET, T0, TOKEN
from tests.runtime.test_pipeline import SETTINGS, run, sent
from tests.support.ids import counting_ids
from tests.support.imap_helpers import deliver
from tests.support.servers import Dovecot, SmtpServer
from tests.system.test_review_imap import T0 as imap_t0
from tests.system.test_review_imap import config, open_a_case, reviewer_reply, settings  # noqa: F401

BOT = "delist@delist.example.net"
TEAM = (BOT, "rev@delist.example.net", "ann@delist.example.net")


def reviewer_mail(body: str, content_type: str = "text/plain") -> bytes:
    return (
        "From: Rita <rev@delist.example.net>\nTo: delist@delist.example.net\n"
        f"Subject: Re: [DL-000001/{TOKEN}] Review 81.2.69.142\n"
        f"Content-Type: {content_type}; charset=utf-8\n\n" + body
    ).encode()


def sent_text(raw: bytes) -> tuple[str, str]:
    """(command, what the requester would read) for a reviewer's mail, as the pipeline reads it."""
    command = parse_command(extract(raw).reply_text, {TOKEN}, TEAM)
    return command.word, command.message


# What a reviewer quoted must not reach the requester. The extractor takes '>' marks off for
# NDR matching, so the command must be read from the text as the reviewer's client wrote it.
QUOTED = {
    "a colleague's internal note, quoted without an attribution line": (
        "deny\nSorry, we cannot.\n\n"
        "> note: looks like the spammer of DL-000100, ask jane@isp.example\n>\n"
        "> A delisting request needs a review.\n",
        "Sorry, we cannot.",
    ),
    "a colleague's note quoted by Thunderbird in Polish": (
        "deny\nSorry, we cannot.\n\n"
        "W dniu 29.11.2026 o 14:00, Ann <ann@delist.example.net> pisze:\n"
        "> note: internal, see DL-000100\n>\n"
        "> W dniu 29.11.2026 o 13:00, delist@delist.example.net pisze:\n"
        ">> A delisting request needs a review.\n",
        "Sorry, we cannot.",
    ),
    "Gmail in Russian (no verb in the attribution)": (
        "info\nWhat do you send?\n\n"
        "вс, 29 нояб. 2026 г. в 14:00, <delist@delist.example.net>:\n> Case: DL-000001\n",
        "What do you send?",
    ),
    "Gmail in Chinese (a full-width colon)": (
        "info\nWhat do you send?\n\n"
        "delist-bot <delist@delist.example.net> 于2026年11月29日周日 14:00写道：\n"
        "> IP: 81.2.69.142\n",
        "What do you send?",
    ),
    "Outlook in Polish: From/Sent/To name the team before the Subject line": (
        "info\nWhat do you send?\n\nOd: delist@delist.example.net\nWysłane: niedziela\n"
        "Do: rev@delist.example.net; ann@delist.example.net\n"
        f"Temat: [DL-000001/{TOKEN}] Review\n\nA delisting request needs a review.\n",
        "What do you send?",
    ),
    "an SMTP code in the reviewer's reason": (
        "deny\nThe 550 5.7.511 code means your IP is blocked.\nFix the open relay first.",
        "The 550 5.7.511 code means your IP is blocked.\nFix the open relay first.",
    ),
    "part of the notification pasted: other cases and the list entry": (
        "deny\nStill spamming.\n\nHistory:\n    Block list:    listed as 81.2.0.0/16 (trap hits)\n"
        "    Earlier cases for this IP: DL-000007 (denied, 2026-01-01)\n",
        "Still spamming.",
    ),
    "a token with a soft hyphen in it": (
        f"info\nWhat do you send? ref {TOKEN[:8]}\u00ad{TOKEN[8:]}",
        "What do you send? ref [removed]",
    ),
    "a signature": ("info\nWhat do you send?\n-- \nRita, +46 8 123 456\n", "What do you send?"),
    "an attribution in Finnish, above a quote": (
        "info\nWhat do you send?\n\nsu 29.11.2026 klo 14.00 Ann kirjoitti:\n\n> note: internal\n",
        "What do you send?",
    ),
}


@pytest.mark.parametrize("case", QUOTED.keys())
def test_what_a_reviewer_quoted_does_not_reach_the_requester(case: str) -> None:
    body, expected = QUOTED[case]
    assert sent_text(reviewer_mail(body))[1] == expected


HTML_GMAIL = (
    '<div dir="ltr">deny<br>Sorry, we cannot.</div><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">W dniu 29.11.2026 o 14:00 Ann &lt;<a href="mailto:ann@'
    'delist.example.net">ann@delist.example.net</a>&gt; napisał(a):<br></div>'
    '<blockquote class="gmail_quote">note: internal, see DL-000100<br>'
    "<div>A delisting request needs a review.</div></blockquote></div>"
)
HTML_OUTLOOK = (
    "<div><p>info</p><p>What do you send?</p></div>"
    '<div id="divRplyFwdMsg"><hr><font><b>Od:</b> delist@delist.example.net<br>'
    "<b>Wysłane:</b> niedziela<br><b>Do:</b> rev@delist.example.net<br>"
    f"<b>Temat:</b> [DL-000001/{TOKEN}] Review</font></div><p>A delisting request...</p>"
)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [(HTML_GMAIL, ("deny", "Sorry, we cannot.")), (HTML_OUTLOOK, ("info", "What do you send?"))],
    ids=["gmail blockquote", "outlook divRplyFwdMsg"],
)
def test_an_html_only_reply_keeps_only_the_reviewers_words(
    markup: str, expected: tuple[str, str]
) -> None:
    assert sent_text(reviewer_mail(markup, "text/html")) == expected


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_an_encoded_body_is_read_the_same(encoding: str) -> None:
    import base64
    import quopri

    body, expected = QUOTED["a colleague's internal note, quoted without an attribution line"]
    data = body.encode()
    encoded = base64.encodebytes(data) if encoding == "base64" else quopri.encodestring(data)
    raw = reviewer_mail("").replace(
        b"charset=utf-8\n", f"charset=utf-8\nContent-Transfer-Encoding: {encoding}\n".encode()
    )
    assert sent_text(raw + encoded) == ("deny", expected)


def test_a_token_cut_by_the_length_limit_loses_what_is_left_of_it() -> None:
    # The extractor keeps the first few thousand characters: a pasted Message-ID can be cut
    # inside its token, and the first 12 of 16 hex digits leave 65,536 guesses.
    text = f"info\n{'x' * 50} <review.DL-000001.{TOKEN[:12]}"
    assert TOKEN[:12] not in scrub(text, frozenset({TOKEN}))


# A genuine reviewer writes from the address in the configuration, however it is spelled.
@pytest.mark.parametrize(
    ("configured", "sender"),
    [
        ("rev@delist.example.net", "REV@Delist.Example.NET"),
        ("jürgen@bücher.example", "jürgen@xn--bcher-kva.example"),
        ("jürgen@xn--bcher-kva.example", "jürgen@bücher.example"),
        ("rene\u0301@delist.example.net", "ren\u00e9@delist.example.net"),  # NFD vs NFC
        ("rev+delist@delist.example.net", "rev@delist.example.net"),  # a tag to filter on
    ],
)
def test_a_reviewer_in_another_spelling_is_still_a_reviewer(configured: str, sender: str) -> None:
    extraction = Extraction(from_address=sender)
    assert rejection(extraction, CASE, TOKEN, SECRET, (configured,), T0) is None


@pytest.mark.parametrize(
    "sender",
    [
        "rev@strasse.example",  # IDNA 2003 would make straße.example this domain
        "rev@delist.example.net.evil.example",
        "rev@dеlist.example.net",  # a Cyrillic е
        "re@delist.example.net",
        "\uff4bate@delist.example.net",  # a full-width k: NFKC would fold it, NFC does not
    ],
)
def test_a_lookalike_is_not_a_reviewer(sender: str) -> None:
    reviewers = ("rev@straße.example", "rev@delist.example.net", "kate@delist.example.net")
    extraction = Extraction(from_address=sender)
    assert rejection(extraction, CASE, TOKEN, SECRET, reviewers, T0) is not None


@pytest.mark.parametrize("authserv", [f" {AUTHSERV} ", f"{AUTHSERV}\n", AUTHSERV.upper()])
def test_authserv_id_as_written_in_the_configuration(authserv: str) -> None:
    good = f"{AUTHSERV}; dkim=pass header.d=delist.example.net"
    assert vouches((good,), authserv, "rev@delist.example.net")


@pytest.mark.parametrize(
    ("result", "believed"),
    [
        (f"{AUTHSERV}; spf=pass smtp.mailfrom=jürgen@bücher.example (ok)", True),
        (f"{AUTHSERV}; dkim=pass header.d=bücher.example", True),
        (f"{AUTHSERV}; dkim=pass header.i=jürgen@xn--bcher-kva.example", True),
        (f"{AUTHSERV}; spf=pass smtp.mailfrom=jürgen@bücher.evil.example", False),
        (f"{AUTHSERV}; spf=pass smtp.mailfrom=a@b%u0000fc%cher.example", False),
    ],
)
def test_a_utf8_result_is_read(result: str, believed: bool) -> None:
    # RFC 8616: an SMTPUTF8 reviewer's MAIL FROM is written as UTF-8 by our server.
    assert vouches((result,), AUTHSERV, "jürgen@bücher.example") is believed


def test_an_ipv4_mapped_address_is_the_ipv4_address() -> None:
    # An NDR that logs the client as ::ffff:81.2.69.142 is about 81.2.69.142: its case must
    # find the IPv4 listing, or approve tells the sender "delisted" and removes nothing.
    assert read_ip_token("::ffff:81.2.69.142") == ("81.2.69.142", False)
    assert contains("81.2.0.0/16", "::ffff:81.2.69.142")
    assert not contains("81.3.0.0/16", "::ffff:81.2.69.142")


def test_a_decided_case_without_a_decision_time_has_a_dead_token() -> None:
    from delist_bot.core.models import CaseStatus

    odd = dataclasses.replace(CASE, status=CaseStatus.CLOSED, decided_at=None)
    reason = rejection(
        Extraction(from_address="rev@delist.example.net"),
        odd,
        TOKEN,
        SECRET,
        ("rev@delist.example.net",),
        T0,
    )
    assert reason is not None and reason.startswith("the token expired")


def test_approving_an_ipv4_mapped_case_takes_off_the_ipv4_host_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.json")
    with store.transaction() as tx:
        tx.blocklist.add("81.2.0.0/16", "trap hits", T0)
        assert tx.blocklist.add("81.2.69.142/32", "", T0) == "added"
        assert tx.blocklist.add(str(parse_listing("81.2.69.142").network), "", T0) == (
            "already listed"
        )
        # A case stored before mapped addresses were read as IPv4 ones.
        removed = tx.blocklist.record_delisting("::ffff:81.2.69.142", T0, "DL-000001")
    with store.transaction() as tx:
        assert removed == "81.2.69.142 from 81.2.0.0/16"
        assert tx.blocklist.listing_for("81.2.69.142") is None
        assert tx.blocklist.listing_for("::ffff:81.2.69.142") is None
        assert tx.blocklist.listing_for("81.2.69.143") is not None


@pytest.mark.parametrize(
    ("written", "network"),
    [
        ("::ffff:81.2.69.142", "81.2.69.142/32"),
        ("::ffff:81.2.0.0/112", "81.2.0.0/16"),
        ("2001:DB8:0:0::/48", "2001:db8::/48"),
        ("::ffff:0:0/95", "::fffe:0:0/95"),  # wider than the mapped range: stays IPv6
    ],
)
def test_a_listing_is_read_in_one_spelling(written: str, network: str) -> None:
    assert parse_listing(written).network == network


REQUEST = (DATA_SAMPLES / "01-review-attached-en.eml").read_bytes()
PIPELINE_TOKEN = case_token(SETTINGS.secret, "DL-000001")


def command_mail(body: str, message_id: str = "<c1@d.example>") -> bytes:
    return (
        f"From: rev@d.example\nSubject: Re: [DL-000001/{PIPELINE_TOKEN}] Review\n"
        f"In-Reply-To: <review.DL-000001.{PIPELINE_TOKEN}@d.example>\n"
        f"Message-ID: {message_id}\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode("utf-8", "surrogatepass")


def test_a_strangers_message_id_is_not_in_the_requesters_thread(tmp_path: Path) -> None:
    # Another person's request for the same IP joins the case; the requester's replies must
    # not carry that person's Message-ID (it names their host) or our reply to them.
    store = Store(tmp_path / "s.json")
    run(store, REQUEST, T0)
    stranger = REQUEST.replace(b"<sample-001@example.org>", b"<x.laptop.corp.example@corp>")
    stranger = stranger.replace(b"mario@mail.example.org", b"eve@stranger.example")
    assert run(store, stranger, T0 + timedelta(minutes=5)).replies == ("duplicate",)
    [duplicate] = sent(store, "duplicate")
    run(store, command_mail("info\nWhat do you send?"), T0 + timedelta(hours=1))
    [question] = sent(store, "info_request")
    threading = f"{question['In-Reply-To']} {question['References']}"
    assert "<sample-001@example.org>" in threading
    assert "corp" not in threading and duplicate["Message-ID"] not in threading


def test_control_characters_in_a_command_reach_no_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    run(store, REQUEST, T0)
    run(store, command_mail("info\nWhat \x00do you\x1b send?\x7f\x85"), T0 + timedelta(hours=1))
    [question] = sent(store, "info_request")
    body = question.get_payload(decode=True).decode()
    assert "What do you send?" in body
    assert not [c for c in body if ord(c) < 32 and c not in "\r\n\t"]


# End to end: a reviewer's reply through Dovecot, the worker, and the requester's mail on SMTP.
NOTE = "looks like the spammer of DL-000100, ask jane@isp.example"
REPLIES_QUOTING_A_NOTE = {
    "plain text, '>' quote, no attribution": (
        "text/plain",
        f"deny\nSorry, we cannot.\n\n> note\n> {NOTE}\n>\n> A delisting request needs a review.\n",
    ),
    "HTML only, Gmail in Polish": (
        "text/html",
        '<div dir="ltr">deny<br>Sorry, we cannot.</div><div class="gmail_quote">'
        "<div>W dniu nie., 29 lis 2026 o 14:00 Ann napisał(a):</div>"
        f'<blockquote class="gmail_quote">note<br>{NOTE}</blockquote></div>',
    ),
}


@pytest.mark.parametrize("reply", REPLIES_QUOTING_A_NOTE.keys())
def test_a_quoted_internal_note_never_reaches_the_requester(
    dovecot: Dovecot,
    imap_user: str,
    smtp_server: SmtpServer,
    config: Config,  # noqa: F811 (the fixture imported above)
    reply: str,
) -> None:
    notification = open_a_case(dovecot, imap_user, smtp_server, config)
    token = notification["Subject"].split("/")[1].split("]")[0]
    content_type, body = REPLIES_QUOTING_A_NOTE[reply]
    raw = reviewer_reply(notification, body, quote=False).replace(
        b"Content-Type: text/plain", f"Content-Type: {content_type}".encode()
    )
    deliver(dovecot, imap_user, [raw])
    Worker(config).run_once(imap_t0 + timedelta(hours=1))
    to_requester = [m for _, m in smtp_server.recorder.messages if "mario@" in m["To"]]
    [denied] = [m for m in to_requester if m["X-Delist-Bot-Action"] == "denied"]
    assert "Sorry, we cannot." in denied.get_payload(decode=True).decode()
    for mail in to_requester:
        whole = mail.as_string()
        for secret in ("spammer", "DL-000100", "jane@", "napisał", token, "review."):
            assert secret not in whole, (mail["X-Delist-Bot-Action"], secret)


def test_operators_mail_carries_no_token() -> None:
    # Operators cannot give commands; their escalation goes to a queue where others may read it.
    with_ops = dataclasses.replace(SETTINGS, operators=("ops@d.example",))
    ids = counting_ids()
    escalation = team_mail(
        Notice("operator_escalation", Audience.OPERATORS), CASE, with_ops, T0, new_ids=ids
    )
    reminder = team_mail(
        Notice("reviewer_reminder", Audience.REVIEWERS), CASE, with_ops, T0, new_ids=ids
    )
    assert escalation is not None and reminder is not None
    assert (
        PIPELINE_TOKEN not in escalation.raw.decode() and "[DL-000001]" in escalation.raw.decode()
    )
    assert PIPELINE_TOKEN in reminder.raw.decode()


@pytest.mark.parametrize("word", ["deny", "close", "info", "note", "take"])
def test_only_approve_touches_the_block_list(tmp_path: Path, word: str) -> None:
    store = Store(tmp_path / "s.json")
    with store.transaction() as tx:
        for network in ("81.2.0.0/16", "81.2.69.142/32", "2001:db8::/32"):
            tx.blocklist.add(network, "", T0)
        before = tx.blocklist.listings(active_only=False)
    run(store, REQUEST, T0)
    result = run(store, command_mail(f"{word}\nreason"), T0 + timedelta(hours=1))
    assert result.outcome == "applied"
    with store.transaction() as tx:
        assert tx.blocklist.listings(active_only=False) == before
