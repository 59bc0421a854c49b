"""The hostile extraction corpus: each attack on the extractor's time or text reads as its table
says, gives only valid Unicode, and costs time in proportion to its length."""

from __future__ import annotations

import dataclasses
import email
import html.parser
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delist_bot.core.ip import canonical_ip
from delist_bot.core.models import Extraction
from delist_bot.ndr import extract, mime
from delist_bot.ndr.ips import read_ip_token
from delist_bot.ndr.mime import _decoded_text
from delist_bot.ndr.text import html_to_text
from delist_bot.services.parse import parse_record
from tests.conftest import SAMPLES, read_tsv
from tests.hostile.extraction import build
from tests.support import builder

HOSTILE = Path(__file__).parents[1] / "hostile"
FOLDER = HOSTILE / "extraction"
ROWS = read_tsv(FOLDER / "expected.tsv")
MAX_SAMPLE_BYTES = 120 * 1024
RUNS = 3
SLACK = 5.0  # 10x the attack may cost up to 50x the time (a quadratic costs 100x)
FLOOR = 50e-6  # seconds: below this a ratio is timer noise


def str_fields(extraction: Extraction) -> list[str]:
    """Every str the extraction holds, in fields, tuples and dicts."""
    found: list[str] = []
    for field in dataclasses.fields(extraction):
        value = getattr(extraction, field.name)
        values = value.items() if isinstance(value, dict) else value
        for item in values if isinstance(value, tuple | dict) else [value]:
            found.extend(
                x for x in (item if isinstance(item, tuple) else [item]) if isinstance(x, str)
            )
    return found


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_hostile_sample_reads_as_its_table_says(row: dict[str, str]) -> None:
    raw = (FOLDER / row["file"]).read_bytes()
    record = parse_record(row["file"], raw)
    got = (record["action"], record["ip"] or "", record["ndr_code"] or "")
    assert got == (row["action"], row["ip"], row["ndr_code"]), row["attack"]
    for text in str_fields(extract(raw)):
        text.encode("utf-8")  # strict: a lone surrogate raises here


def test_every_sample_has_a_row_and_stays_small() -> None:
    files = {p.name for p in FOLDER.glob("*.eml")}
    assert files == {row["file"] for row in ROWS}
    for name in files:
        if "over-120k" not in name:
            assert (FOLDER / name).stat().st_size <= MAX_SAMPLE_BYTES, name


def test_committed_samples_are_what_the_builder_makes(tmp_path: Path) -> None:
    build.write(tmp_path)
    assert (tmp_path / "expected.tsv").read_text() == (FOLDER / "expected.tsv").read_text()
    for built in tmp_path.glob("*.eml"):
        assert built.read_bytes() == (FOLDER / built.name).read_bytes(), built.name


def _best(raws: list[bytes]) -> list[float]:
    best = [float("inf")] * len(raws)
    for _ in range(RUNS):
        for i, raw in enumerate(raws):
            started = time.perf_counter()
            extract(raw)
            best[i] = min(best[i], time.perf_counter() - started)
    return best


SCALABLE = [a for a in build.attacks(1_000) if "over-120k" not in a.file]


@pytest.mark.system  # timed
@pytest.mark.parametrize("attack", SCALABLE, ids=[a.file for a in SCALABLE])
def test_extraction_time_grows_linearly_with_the_attack(attack: build.Attack) -> None:
    """Each attack at 10 KB and at 100 KB, side by side: 10x the text, about 10x the time."""
    small, large = (
        next(a for a in build.attacks(size) if a.file == attack.file) for size in (10_000, 100_000)
    )
    a, b = _best([build.message(small, 1), build.message(large, 1)])
    assert b <= SLACK * 10 * max(a, FLOOR), f"{attack.file}: {a * 1e3:.2f} -> {b * 1e3:.2f} ms"


@pytest.mark.parametrize(
    "text",
    ["fe80::1%a1", "FE80::1%eth0", "fe80::1%+3IA-", "fe80::1%\ufffd", "fe80::1%25", "fe80::1"],
)
def test_an_ipv6_zone_id_is_never_part_of_the_address(text: str) -> None:
    assert canonical_ip(text) == "fe80::1"
    assert read_ip_token(text) == ("fe80::1", False)


class _StdlibCollector(html.parser.HTMLParser):
    """The collector the extractor used before its own tokenizer, to compare with."""

    _BREAKS = ("br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.quoted = 0  # blockquotes open: their lines get '>' marks
        self.line_start = True

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skipping += 1
        elif tag == "hr":
            self.emit("\n" + "_" * 32 + "\n")
        elif tag == "br":
            self.emit("\n")
        elif tag in self._BREAKS or tag == "blockquote":
            self.quoted += tag == "blockquote"
            self.line_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quoted = max(0, self.quoted - 1)
            self.line_break()
        elif tag in self._BREAKS:
            self.line_break()
        elif tag in ("td", "th"):
            self.emit(" ")

    def line_break(self) -> None:  # </p><p> is one line break, not a blank line
        if not "".join(self.parts[-2:]).rstrip(" ").endswith("\n"):
            self.emit("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.emit(data.replace("\r", " ").replace("\n", " "))

    def emit(self, text: str) -> None:
        if self.quoted and self.line_start and text.strip():
            text = "> " * self.quoted + text.lstrip()
        self.parts.append(text)
        if text.strip(" \t"):
            self.line_start = text.endswith("\n")


def _stdlib_text(markup: str) -> str:
    collector = _StdlibCollector()
    collector.feed(markup)
    collector.close()
    return "".join(collector.parts)


def _html_parts(msg: email.message.Message) -> list[str]:
    found = []
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            found.append(_decoded_text(part))
        elif part.get_content_type() == "message/rfc822" and not part.is_multipart():
            found.extend(_html_parts(email.message_from_bytes(part.get_payload(decode=True))))
    return found


HTML_SHAPES = [
    '<p>a &amp; b</p><br/><hr><td>x</td><th>y</th><span class="s">z</span>',
    "<a title=\"x>y\">z</a><img src=x alt='<b>'>",
    "<script>var a='<p>';</script>hi<style>p{}</style>",
    "x < y <b>z</b> <<< 1 <2",
    "<!-- c -->t<!DOCTYPE html><?xml x?>u",
    "<div\nclass=a>v</DIV><TD>w</Td>",
    "<title>t</title><HEAD>h</HEAD>b",
    "a &lt;b&gt; &#x41; &nbsp;c &#xdc80;",
    "</ x>y</>z<blockquote>q</blockquote>",
    "<p>reply</p><blockquote>quoted<br>lines<blockquote>deeper</blockquote>back</blockquote>end",
]


def test_html_reads_as_the_stdlib_parser_read_it() -> None:
    """Every HTML part of the samples, and the usual shapes, give the same text as before."""
    raws = [p.read_bytes() for p in sorted(SAMPLES.rglob("*.eml"))]
    raws += [sample.raw for sample in builder.build_all()]
    markups = [m for raw in raws for m in _html_parts(email.message_from_bytes(raw))]
    assert len(markups) >= 8
    for markup in markups + HTML_SHAPES:
        assert html_to_text(markup) == _stdlib_text(markup), markup[:200]


def _tree(msg: email.message.Message) -> object:
    """What the extractor reads of a parsed message: types, headers, text, children."""
    if msg.get_content_type() == "message/delivery-status":
        return ("delivery-status", msg.items())  # its fields are read from either form
    payload = msg.get_payload()
    if isinstance(payload, list):
        return (msg.get_content_type(), msg.items(), [_tree(child) for child in payload])
    return (msg.get_content_type(), msg.items(), payload)


def test_the_parser_reads_every_sample_as_the_stdlib_reads_it(corpus_dir: Path) -> None:
    """The extractor's parse (headers by the stdlib, bodies whole, parts cut at their boundary
    lines) gives the stdlib's tree of types, headers and payloads on every sample."""
    paths = [*SAMPLES.rglob("*.eml"), *corpus_dir.rglob("*.eml"), *HOSTILE.rglob("*.eml")]
    raws = [p.read_bytes() for p in paths] + [s.raw for s in builder.build_all()]
    raws = [raw.replace(b"\r", b"\n") if b"\n" not in raw else raw for raw in raws]
    for raw in raws:
        full = email.message_from_bytes(raw, _class=mime._Message)
        assert _tree(mime._parse(raw)) == _tree(full), raw[:300]


_RAWS = [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]


@settings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_the_parser_reads_broken_structure_as_the_stdlib_reads_it(data: st.DataObject) -> None:
    """Samples with lines deleted, repeated, or boundary-like lines put in: the same tree."""
    raw = data.draw(st.sampled_from(_RAWS))
    lines = raw.split(b"\n")
    boundaries = re.findall(rb'boundary="?([^";\r\n]+)', raw) or [b"x"]
    boundary = data.draw(st.sampled_from(boundaries))
    pool = [b"", b" ", b"\r", b"junk", b"Content-Type: message/rfc822"]
    pool += [b"--" + boundary + end for end in (b"", b"--", b" \t", b"--x")]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "repeat", "insert"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        else:
            lines.insert(i, data.draw(st.sampled_from(pool)))
    mutated = b"\n".join(lines)
    full = email.message_from_bytes(mutated, _class=mime._Message)
    assert _tree(mime._parse(mutated)) == _tree(full)


@settings(max_examples=500, deadline=None, database=None)
@given(
    st.lists(
        st.sampled_from(
            ["&", "#", "x", ";", "amp", "nbsp", "notit", "a" * 31, "1", "lt", " ", "É"]
        ),
        max_size=12,
    ).map("".join)
)
def test_references_read_as_html_unescape_reads_them(text: str) -> None:
    assert html_to_text(text) == _stdlib_text(text)
