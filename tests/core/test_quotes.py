"""What reaches the requester from a reviewer's reply: their words, never what they quoted.

One sample per mail client and language in tests/reviewer_replies/: the reviewer's `info` with a
question, then the notification quoted the way that client quotes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from delist_bot.core.quotes import reviewer_text
from delist_bot.core.review import case_token, parse_command
from delist_bot.ndr import extract

REPLIES = sorted((Path(__file__).parents[1] / "reviewer_replies").glob("*.txt"))
TOKEN = case_token("test-secret", "DL-000001")
QUESTION = "What kind of mail does this server send?\nPlease list the domains it sends for.\n\nRita"


def as_mail(body: str) -> bytes:
    return (
        "From: Rita <rev@delist.example.net>\nTo: delist@delist.example.net\n"
        f"Subject: Re: [DL-000001/{TOKEN}] Review 81.2.69.142\n"
        "Content-Type: text/plain; charset=utf-8\n\n" + body
    ).encode()


def test_every_client_and_language_is_sampled() -> None:
    names = {path.stem for path in REPLIES}
    for client in ("gmail", "outlook", "apple", "thunderbird"):
        for language in ("en", "it", "de", "fr", "es", "pt", "nl", "sv"):
            assert f"{client}-{language}" in names


@pytest.mark.parametrize("path", REPLIES, ids=[p.stem for p in REPLIES])
def test_only_the_reviewers_words_remain(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # As the reviewer's client wrote it, and as the extractor hands it on (quote marks removed,
    # and kept: the pipeline reads a command from reply_text).
    for body in (text, extract(as_mail(text)).own_words, extract(as_mail(text)).reply_text):
        command = parse_command(body, {TOKEN})
        assert (command.word, command.message) == ("info", QUESTION)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("deny\nno\n> quoted\nstill mine", "deny\nno\nstill mine"),
        ("From: the logs we saw\nthe IP sends spam", "From: the logs we saw\nthe IP sends spam"),
        ("note\nHe wrote: that is fine", "note\nHe wrote: that is fine"),
        ("note\nthe old case:\nDL-000002", "note\nthe old case:\nDL-000002"),
        ("note\nrelated case: DL-000002", "note\nrelated case: DL-000002"),
        (f"info\nref {TOKEN}{TOKEN}x", "info\nref [removed][removed]x"),
    ],
)
def test_what_is_not_a_quote_stays(text: str, kept: str) -> None:
    assert reviewer_text(text, {TOKEN}) == kept


HOSTILE = {
    "one long line": "a" * 200_000,
    "a verb 40,000 times": ("wrote " * 40_000) + ":",
    "labels 40,000 times": ("From: " * 40_000 + "\n") * 2,
    "dashes": "-" * 200_000,
    "hex digits": "0" * 200_000,
    "newlines": "\n" * 200_000,
}


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_is_cut_not_kept(hostile: str) -> None:
    # Linear time is measured in benchmarks/quotes.py (doubling the input doubles the cost).
    assert len(reviewer_text(hostile, {TOKEN})) <= len(hostile)
