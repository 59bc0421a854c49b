"""Small pins on the extractor's parts: decoy IPs, placeholders, codes, HTML, language."""

from __future__ import annotations

import pytest

from delist_bot.ndr.ips import find_blocked_ip, read_ip_token
from delist_bot.ndr.language import detect_language
from delist_bot.ndr.statements import choose, statements_in
from delist_bot.ndr.text import html_to_text, own_words


@pytest.mark.parametrize(
    ("text", "ip"),
    [
        (
            "host mx.outlook.com[104.47.8.36] said: 550 5.7.511 Access denied, banned sender[81.2.69.142].",
            "81.2.69.142",
        ),
        (
            "host: x.outlook.com (216.32.180.74) reason: 550 5.7.511 Access denied, banned sender [74.208.4.197]",
            "74.208.4.197",
        ),
        (
            "550 5.7.606 Access denied, banned sending IP [81.2.69.142]. (AS16012609) [TY1JPN01FT004.eop]",
            "81.2.69.142",
        ),
        ("550 5.7.1 Unfortunately, messages from [81.2.69.142] weren't sent.", "81.2.69.142"),
        (
            "550 SC-001 (SNT004) Unfortunately, messages from 81.2.69.142 weren't sent.",
            "81.2.69.142",
        ),
        (
            "550 5.7.1 Service unavailable; Client host [81.2.69.142] blocked using Blocklist 1",
            "81.2.69.142",
        ),
        ("550 5.7.509 Access denied, sending domain [EXAMPLE.JP] does not pass DMARC", None),
        (
            "550 5.1.0 192.0.2.222 is not allowed to send from <example.net> per it's SPF Record",
            None,
        ),
        ("554 5.7.1 Reverse DNS lookup for host 203.0.113.22 failed permanently.", None),
        ("550 domain [example.com] mismatches client ip 192.0.2.225.", None),
        (
            "550 5.1.1 http://postmaster.facebook.com/response_codes?ip=192.0.2.135#rcp Refused due to recipient preferences",
            None,
        ),
        ("553 http://www.spamhaus.org/query/bl?ip=192.0.2.222", "192.0.2.222"),
        (
            "550 5.7.511 Access denied, banned sender[2001:db8::25]. To request removal",
            "2001:db8::25",
        ),
    ],
)
def test_only_the_blocked_ip_is_read(text: str, ip: str | None) -> None:
    best = choose(statements_in(text))
    assert (best.ip if best else None) == ip


@pytest.mark.parametrize(
    "token",
    [
        "xxx.xxx.xxx.xxx",
        "XX.xxx.x.xxx",
        "IP address",
        "_IP address_",
        "xxxx",
        "indirizzo IP",
        "x.x.x.x",
    ],
)
def test_placeholders_are_not_addresses(token: str) -> None:
    assert read_ip_token(token) == (None, True)


def test_placeholder_statement_reports_no_ip_but_says_so() -> None:
    found = find_blocked_ip("550 5.7.511 Access denied, banned sender[xxx.xxx.xxx.xxx].", True)
    assert found is not None and found.ip is None and found.placeholder


@pytest.mark.parametrize(
    ("text", "code", "smtp"),
    [
        ("Remote Server returned '550 5.7.511 Access denied'", "5.7.511", 550),
        (
            "550-5.7.1 [192.0.2.22 18] Our system\n550-5.7.1 very low reputation\n550 5.7.1 more",
            "5.7.1",
            550,
        ),
        ("554 554 5.7.1 Service unavailable", "5.7.1", 554),
        ("Received: by Microsoft SMTPSVC(5.5.1877.687.68)", None, None),
        (
            "421 4.7.0 [TSS04] Messages from 192.0.2.192 temporarily deferred - 4.16.55.1",
            "4.7.0",
            421,
        ),
    ],
)
def test_codes(text: str, code: str | None, smtp: int | None) -> None:
    best = choose(statements_in(text))
    assert (best.ndr_code if best else None, best.smtp_code if best else None) == (code, smtp)


def test_html_entities_and_tags() -> None:
    text = html_to_text(
        "<p>It&#39;s<br>550 5.7.511 banned sender[81.2.69.142]</p><script>x=1</script>"
    )
    assert "It's\n550 5.7.511 banned sender[81.2.69.142]" in text
    assert "x=1" not in text


def test_own_words_stop_at_the_forward() -> None:
    body = "Hi, please delist us.\n\n-----Original Message-----\nFrom: x\n550 5.7.511 ..."
    assert own_words(body) == "Hi, please delist us."


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello, our server has been blocked, please remove our IP address from the list.", "en"),
        ("Buongiorno, il nostro server è stato bloccato, vi chiediamo la rimozione.", "it"),
        (
            "Sehr geehrte Damen und Herren, unser Server wurde gesperrt, bitte entfernen Sie ihn.",
            "de",
        ),
        ("Bonjour, notre serveur est bloqué, pouvez-vous le retirer de la liste ? Merci.", "fr"),
        ("Hola, nuestro servidor ha sido bloqueado, por favor eliminen la dirección.", "es"),
        ("Olá, o nosso servidor foi bloqueado, por favor podem remover o endereço?", "pt"),
        ("ok", None),
        ("", None),
    ],
)
def test_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_language_hint_decides_a_short_note() -> None:
    assert detect_language("vedi sotto", hint="it") == "it"
