"""The operator's own wording ([templates] path, `templates list|check`) and replies that read
well: wrapped by line at 76 characters, no quoted-printable soft break, nothing broken apart."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest

from delist_bot.compose.templates import use_templates
from delist_bot.compose.wrap import WIDTH, fits, qp_length, wrap
from delist_bot.services.template_check import check
from tests.conftest import DATA_SAMPLES, delist_bot

URL = "https://go.microsoft.com/fwlink/?LinkId=526653&very-long-parameter=abcdefghijklmnopqrstuv"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("short line stays", ["short line stays"]),
        (
            "word " * 30,
            ["word " * 14 + "word", "word " * 14 + "word"],
        ),
        (  # a label keeps its value's column
            "Evidence:   " + "550 5.7.511 " * 8,
            [
                "Evidence:   " + "550 5.7.511 " * 5 + "550",
                "            5.7.511 " + "550 5.7.511 " * 1 + "550 5.7.511",
            ],
        ),
    ],
)
def test_wrapping_by_line(line: str, expected: list[str]) -> None:
    assert wrap(line).split("\n") == [e.rstrip() for e in expected]


def test_a_list_item_hangs_under_its_text() -> None:
    line = "- " + "item text " * 20
    first, *rest = wrap(line).split("\n")
    assert (
        first.startswith("- item")
        and rest
        and all(r.startswith("  ") and r[2] != " " for r in rest)
    )
    assert all(len(w) <= WIDTH for w in [first, *rest])
    assert " ".join(wrap(line).split()) == " ".join(line.split())


@pytest.mark.parametrize(
    "token",
    [URL, "DL-000123", "2a01:4f8:c17:1234:5678:9abc:def0:1234", "[81.2.69.142]", "a-b-c-d-e-f"],
)
def test_tokens_are_never_broken(token: str) -> None:
    text = ("parola con accento è " * 6) + token + (" e poi" * 12)
    wrapped = wrap(text)
    assert any(token in line.split() for line in wrapped.split("\n"))
    assert " ".join(wrapped.split()) == " ".join(text.split())


def test_every_wrapped_line_fits_unless_it_is_one_token() -> None:
    text = "\n".join(["è " * 50, "x" * 100, "=" * 40 + " " + "=" * 40, "ü" * 30 + " ok " * 10])
    for line in wrap(text).split("\n"):
        assert fits(line) or len(line.split()) == 1, line
        assert len(line) <= WIDTH or len(line.split()) == 1


def test_quoted_printable_length() -> None:
    assert qp_length("abc") == 3
    assert qp_length("è") == 6  # two UTF-8 octets, =C3=A8
    assert qp_length("a=b") == 5


def _bodies(outbox: Path) -> list[tuple[str, bytes, str]]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=policy.default)
        body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        found.append((message["X-Delist-Bot-Action"], raw, body))
    return found


def test_replies_read_well_in_every_language(tmp_path: Path) -> None:
    result = delist_bot("demo", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    bodies = _bodies(tmp_path / "demo" / "outbox")
    assert {"review", "duplicate", "portal", "reviewer_notification"} <= {k for k, _, _ in bodies}
    for kind, raw, body in bodies:
        for line in body.splitlines():
            assert len(line) <= WIDTH or len(line.split()) == 1, (kind, line)
        text_part = raw.split(b"\r\n\r\n", 1)[1].split(b"Content-Type: message/rfc822")[0]
        assert b"=\r\n" not in text_part, kind  # no soft break: every line fits as written
        for token in re.findall(r"DL-\d{6}|https?://\S+|\b\d+\.\d+\.\d+\.\d+\b", body):
            assert token in body.replace("\n", " ").split() or token in body


CONFIG = """[mailbox]
kind = "maildir"
path = "mail"
[smtp]
kind = "files"
path = "outbox"
from_address = "delist@example.net"
[review]
reviewers = ["rev@example.net"]
[templates]
path = "mine"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "delist-bot.toml").write_text(CONFIG)
    (tmp_path / "mine" / "replies").mkdir(parents=True)
    return tmp_path


def test_the_operators_templates_replace_built_in_ones_of_the_same_name(site: Path) -> None:
    mine = site / "mine" / "replies"
    (mine / "portal.en.txt").write_text(
        "Our own words for {{ ip or 'your IP' }}: {{ portal_url }}\n"
    )
    (mine / "review.de.txt").write_text("Guten Tag, Ihr Fall ist {{ case_id }}.\n")
    config = str(site / "delist-bot.toml")
    listed = delist_bot("templates", "list", "--config", config)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line.split()[0] for line in listed.stdout.splitlines()}
    assert rows["replies/portal.en.txt"] == "custom"
    assert rows["replies/review.de.txt"] == "custom"
    assert rows["replies/portal.it.txt"] == "built-in"
    assert delist_bot("templates", "check", "--config", config).returncode == 0

    inbox = site / "mail" / "new"
    inbox.mkdir(parents=True)
    for name in ("03-review-ipv6-apple-mail.eml", "04-portal-redirected-bounce.eml"):
        (inbox / name).write_bytes((DATA_SAMPLES / name).read_bytes())
    (site / "mail" / "cur").mkdir()
    (site / "mail" / "tmp").mkdir()
    result = delist_bot("run", "--once", "--config", config)
    assert result.returncode == 0, result.stderr
    bodies = {kind: body for kind, _, body in _bodies(site / "outbox")}
    assert bodies["portal"].startswith("Our own words for ")  # custom, English
    assert bodies["review"] == "Guten Tag, Ihr Fall ist DL-000001.\n"  # a language added
    assert bodies["reviewer_notification"].startswith("A delisting request")  # built in


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        (
            "replies/portal.en.txt",
            "Hello\n{% if ip %}\n",
            "replies/portal.en.txt:2: Unexpected end",
        ),
        (
            "replies/delisted.it.txt",
            "Ciao\n\n{{ hours }}\n",
            "replies/delisted.it.txt:3: UndefinedError: 'hours' is undefined",
        ),
        (
            "replies/other.en.txt",
            "{{ ip | nosuch }}\n",
            "replies/other.en.txt:1: No filter named 'nosuch'",
        ),
        (
            "internal/reviewer_reminder.en.txt",
            "{{ case.nothing }}\n",
            "internal/reviewer_reminder.en.txt:1: UndefinedError",
        ),
        (
            "replies/need_info.en.txt",
            "{% if problem == 'no_code' %}{{ ip.upper() }}{% endif %}\n",
            "replies/need_info.en.txt:1: UndefinedError",
        ),
        (
            "replies/reveiw.en.txt",
            "typo in the name\n",
            "replies/reveiw.en.txt: not a template delist-bot uses",
        ),
    ],
)
def test_check_names_the_file_and_line_of_each_error(
    site: Path, name: str, source: str, expected: str
) -> None:
    (site / "mine" / name).parent.mkdir(parents=True, exist_ok=True)
    (site / "mine" / name).write_text(source)
    use_templates(site / "mine")
    try:
        [problem] = check(site / "mine")
    finally:
        use_templates(None)
    assert str(problem).startswith(str(site / "mine" / expected)), problem


def test_the_command_prints_one_line_per_problem(site: Path) -> None:
    (site / "mine" / "replies" / "portal.en.txt").write_text("{{ nope }}\n")
    (site / "mine" / "replies" / "review.it.txt").write_text("{% if %}\n")
    result = delist_bot("templates", "check", "--config", str(site / "delist-bot.toml"))
    assert result.returncode == 1
    assert sorted(result.stderr.splitlines()) == [
        f"delist-bot: {site / 'mine' / 'replies' / 'portal.en.txt'}:1: "
        "UndefinedError: 'nope' is undefined",
        f"delist-bot: {site / 'mine' / 'replies' / 'review.it.txt'}:1: "
        "Expected an expression, got 'end of statement block'",
    ]


def test_a_missing_templates_folder_is_one_line(site: Path) -> None:
    (site / "mine" / "replies").rmdir()
    (site / "mine").rmdir()
    result = delist_bot("templates", "check", "--config", str(site / "delist-bot.toml"))
    assert result.returncode == 1
    assert result.stderr == f"delist-bot: templates.path: {site / 'mine'} is not a folder\n"


def test_built_in_templates_check_clean() -> None:
    assert check(None) == []


def test_a_hostile_paragraph_wraps_whole() -> None:
    """A requester's 1 MB line of short words (their words reach the reviewers' mail)."""
    text = "ab " * 350_000
    wrapped = wrap(text).split("\n")
    assert all(len(line) <= WIDTH for line in wrapped)
    assert sum(len(line.split()) for line in wrapped) == 350_000


@pytest.mark.parametrize(
    "line",
    [
        "a:" + " " * 50_000 + "word " * 5_000,  # a label's column of 50,000 spaces
        " " * 50_000 + "- " + "word " * 5_000,  # a list item indented as far
        "-" + " " * 50_000 + "word " * 5_000,
    ],
)
def test_a_huge_indent_in_someones_words_is_not_copied_to_every_wrapped_line(line: str) -> None:
    wrapped = wrap(line)
    assert all(len(row) <= 76 for row in wrapped.split("\n"))
    assert len(wrapped) < 2 * len(line.split()) * 6
