"""Text wrapping for mail bodies: each line of a rendered template is one paragraph.

Lines are wrapped at spaces only (a URL, case id or IP is never broken) to fit 76 characters and
76 quoted-printable octets, so the transfer encoding never adds a soft break inside a word.
"""

from __future__ import annotations

import re

WIDTH = 76  # characters a line shows; also the quoted-printable line limit (RFC 2045)
_MAX_INDENT = 16
# Bounded runs: a continuation line hangs under the item's or the value's text, so a marker of
# 50,000 spaces from a requester's or reviewer's words would otherwise prefix every line with it.
_LIST_ITEM = re.compile(r"[ \t]{0,8}(?:[-*•]|\d{1,2}[.)])[ \t]{1,8}(?=\S)")
_LABEL = re.compile(
    r"[ \t]{0,8}[^\s:][^:\n]{0,30}:[ \t]{2,12}(?=\S)"
)  # "Evidence:   ..." keeps its column
_QP_PLAIN = frozenset(range(33, 127)) - {ord("=")} | {ord(" "), ord("\t")}


def wrap(text: str, width: int = WIDTH) -> str:
    """TEXT with every line too long for mail wrapped by words; short lines stay as written."""
    return "\n".join(_wrap_line(line.rstrip(), width) for line in text.split("\n"))


def qp_length(line: str) -> int:
    """The line's length once quoted-printable encoded as UTF-8."""
    return sum(1 if byte in _QP_PLAIN else 3 for byte in line.encode("utf-8"))


def fits(line: str, width: int = WIDTH) -> bool:
    return len(line) <= width and qp_length(line) <= WIDTH


def _wrap_line(line: str, width: int) -> str:
    if fits(line, width):
        return line
    marker = _LIST_ITEM.match(line) or _LABEL.match(line)
    indent = line[: min(len(line) - len(line.lstrip()), _MAX_INDENT)]
    head = marker.group(0) if marker else indent
    hang = " " * len(head)  # continuation lines line up under the item's or the value's text
    lines: list[str] = []
    words: list[str] = []
    # Lengths kept as running sums: a requester's 1 MB paragraph costs one pass, not one per word.
    chars = octets = len(head)
    for word in line[len(head) :].split():
        word_octets = qp_length(word)
        if words and (chars + 1 + len(word) > width or octets + 1 + word_octets > WIDTH):
            lines.append((head if not lines else hang) + " ".join(words))
            words, chars, octets = [], len(hang), len(hang)
        chars += len(word) + (1 if words else 0)
        octets += word_octets + (1 if words else 0)
        words.append(word)
    lines.append((head if not lines else hang) + " ".join(words))
    return "\n".join(lines)
