"""Text is text: whatever charset a message names and whatever bytes it holds, every str the
extractor gives back is valid Unicode (no lone surrogates: UTF-8 writers refuse them)."""

from __future__ import annotations

import base64
import encodings.aliases

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delist_bot.ndr import extract
from delist_bot.ndr.mime import decode_bytes
from tests.ndr.test_hostile_extraction import str_fields

# Every codec name and alias Python knows, and the ones that make surrogates or refuse all.
CHARSETS = sorted(
    set(encodings.aliases.aliases)
    | set(encodings.aliases.aliases.values())
    | {"utf-7", "unicode_escape", "raw_unicode_escape", "undefined", "x-unknown", "utf-16"}
)
# Bytes that are invalid, or decode to surrogates, in some charset.
NASTY = [
    b"+3IA-",
    b"+2D3cAA-",
    b"\\udc80",
    b"\\ud800",
    b"\\N{",
    b"\xff\xfe",
    b"\xed\xb2\x80",
    b"\x00",
]
NDR = b"550 5.7.511 Access denied, banned sender[fe80::1%+3IA-]"

bodies = st.lists(st.one_of(st.binary(max_size=16), st.sampled_from(NASTY)), max_size=6).map(
    b"".join
)


def message(charset: str, body: bytes, html: bool = False) -> bytes:
    words = base64.b64encode(body).decode()
    kind = "html" if html else "plain"
    return (
        b"From: a@example.org\nTo: delist@example.net\n"
        + f"Subject: =?{charset}?b?{words}?= and =?{charset}?q?+3IA-?=\n".encode()
        + b"Message-ID: <t@example.org>\nMIME-Version: 1.0\n"
        + f'Content-Type: text/{kind}; charset="{charset}"\n\n'.encode()
        + body
        + b"\n\n"
        + NDR
        + b"\n"
    )


def assert_valid(raw: bytes) -> None:
    extraction = extract(raw)
    assert extraction.error is None
    for text in str_fields(extraction):
        text.encode("utf-8")  # strict


@pytest.mark.parametrize("charset", CHARSETS)
def test_every_charset_with_nasty_bytes_gives_valid_unicode(charset: str) -> None:
    for html in (False, True):
        assert_valid(message(charset, b" ".join(NASTY), html))
    decode_bytes(b" ".join(NASTY), charset).encode("utf-8")


@settings(max_examples=400, deadline=None, database=None)
@given(charset=st.sampled_from(CHARSETS), body=bodies, html=st.booleans())
def test_any_bytes_in_any_charset_give_valid_unicode(charset: str, body: bytes, html: bool) -> None:
    assert_valid(message(charset, body, html))


def test_a_utf7_zone_id_reads_as_the_address() -> None:
    extraction = extract(message("utf-7", b"Please delist us."))
    assert extraction.ip == "fe80::1"
