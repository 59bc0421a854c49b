"""The one way an address reaches SMTP: IDNA domains, SMTPUTF8 local parts, clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delist_bot.compose.context import reply_context
from delist_bot.compose.replies import build_reply
from delist_bot.core.addresses import AddressError, wire
from delist_bot.core.models import Extraction, Thread
from delist_bot.core.settings import Sender
from tests.support.ids import counting_ids

NOW = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "smtp", "utf8"),
    [
        ("admin@shop.example.com", "admin@shop.example.com", False),
        ("admin@bücher.example", "admin@xn--bcher-kva.example", False),
        ("jürgen@bücher.example", "jürgen@xn--bcher-kva.example", True),
        ("jürgen@BÜCHER.example", "jürgen@xn--bcher-kva.example", True),  # UTS 46 maps case
        ("u@bücher。example", "u@xn--bcher-kva.example", False),  # an ideographic full stop
        ("<admin@shop.example.com>", "admin@shop.example.com", False),
        ("admin@shop.example.com.", "admin@shop.example.com", False),
        ('"john doe"@example.com', '"john doe"@example.com', False),
        ("x@[192.0.2.1]", "x@[192.0.2.1]", False),
        ("x@[ipv6:2001:DB8::1]", "x@[IPv6:2001:db8::1]", False),
        ("a+tag@xn--bcher-kva.example", "a+tag@xn--bcher-kva.example", False),
    ],
)
def test_what_smtp_is_given(given: str, smtp: str, utf8: bool) -> None:
    address = wire(given)
    assert address.smtp == smtp and address.needs_smtputf8 is utf8


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "no address"),
        ("a\r\nRCPT TO:<victim@x.example>@e.com", "control"),
        ("a\x00@e.com", "control"),
        ("\udc80@e.com", "control"),  # a lone surrogate from a careless decoder
        ("a\u200b@e.com", "control"),  # an invisible format character
        ("victim@a.example, other@b.example", "not a dot-atom"),
        ("Jürgen <j@x.example>", "not a dot-atom"),
        ("a..b@x.example", "not a dot-atom"),
        ("nobody", "no local part"),
        ("a@", "no domain"),
        ("a@☃.example", "not a valid internationalised name"),
        ("a@b\ufffdcher.example", "not a valid internationalised name"),
        ("a@exa mple.com", "not a host name"),
        ("a@-x.example", "not a host name"),
        ("a@[999.1.1.1]", "not an address literal"),
        ("a" * 65 + "@x.example", "over 64 octets"),
        ("ü" * 33 + "@x.example", "over 64 octets"),  # 66 octets in UTF-8
        ("a@" + ".".join(["b" * 60] * 5), "over 255 octets"),
    ],
)
def test_what_cannot_be_sent_to_says_why(given: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason) as raised:
        wire(given)
    assert "\n" not in str(raised.value) and "\r" not in str(raised.value)


@given(st.text(max_size=300))
def test_any_string_gives_an_address_or_a_reason(text: str) -> None:
    try:
        address = wire(text)
    except AddressError as exc:
        assert str(exc).isprintable()
        return
    assert address.domain.isascii() and "\r" not in address.smtp and "\n" not in address.smtp
    address.smtp.encode("utf-8")  # never a lone surrogate


@pytest.mark.parametrize(
    ("to", "header"),
    [
        ("jürgen@bücher.example", "To: j\u00fcrgen@xn--bcher-kva.example".encode()),
        ("admin@bücher.example", b"To: admin@xn--bcher-kva.example"),
    ],
)
def test_the_to_header_is_written_as_smtp_carries_it(to: str, header: bytes) -> None:
    thread = Thread(to, "help", "<r@example.org>")
    context = reply_context(Extraction(sender=to, ndr_code="5.7.606"), None)
    sender = Sender.from_address("d@d.example")
    mail = build_reply("portal", "en", context, thread, sender, NOW, new_ids=counting_ids())
    assert b"\r\n" + header + b"\r\n" in mail.raw
    assert b"=?utf-8?" not in mail.raw.split(b"\r\n\r\n")[0].split(b"\r\nTo:")[1].split(b"\r\n")[0]
    assert message_from_bytes(mail.raw)["From"] == "d@d.example"


def test_our_own_domain_goes_into_message_ids_as_a_labels() -> None:
    assert Sender.from_address("delist@bücher.example").domain == "xn--bcher-kva.example"
    assert Sender.from_address("delist@delist.example.net").domain == "delist.example.net"
