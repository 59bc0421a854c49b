"""Find SMTP diagnostic statements in text and pick the one that answers the request.

A statement runs from an SMTP reply (550 5.7.511, 550-5.7.1, said: 554, ...) to the next one or
the end of its paragraph; wrapped lines need no joining because patterns match across them.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable
from typing import TypeVar

from delist_bot.core.models import Action, Statement
from delist_bot.ndr import codes, linear
from delist_bot.ndr.ips import DETECTORS, Detector, find_blocked_ip
from delist_bot.ndr.mime import DsnRecipient
from delist_bot.ndr.text import folded

_ENHANCED = r"[245]\.\s?\d{1,3}\.\s?\d{1,3}(?![\w]|\.\d)"
_STATEMENT_START = re.compile(
    rf"""(?=[245])(?<![\w.])(?:  # every reply starts with its class digit: fail fast elsewhere
        (?P<smtp>[245]\d\d)(?:[ \t]+[245]\d\d)?(?P<dash>[ \t]*-[ \t]*|[ \t]*(?:\n[ \t]*)?)(?P<code>{_ENHANCED})
      | (?P<code_only>{_ENHANCED})
      | (?<=said:\ )(?P<said>[245]\d\d)(?=\s)
      | (?:(?<=returned\ ')|(?<=smtp;)|(?<=smtp;\ )|(?<=reason:\ )|(?<=\]:\ )|(?<=error:\ )
          |(?<=<<<\ )|(?<=\n)|^)
        (?P<bare>[245]\d\d)(?=[\s-])
      | (?P<legacy>[45]\d\d)(?=[ \t]+[A-Z]{{2}}-\d{{3}}\b)  # Hotmail's 550 SC-004
    )""",
    re.VERBOSE | re.IGNORECASE,
)
# Where a statement can start (a class digit after no word character or dot). A pattern that
# opens with a character class is scanned for with a fast search; one that opens with
# assertions, like the full pattern above, is tried at every position: 2.4x slower here.
_CANDIDATE = re.compile(r"[245](?<=(?<![\w.])[245])")
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")
# RE2 has no lookbehind: "not after a word character or dot" is a consumed character or the
# start, so the reply is group 1, not the match.
_SMTP_BEFORE = linear.compile(r"(?:^|[^\w.])([245]\d\d)[ \t-]+\S+[ \t]*(?:\([^)]*\))?[ \t]*$")
_SPACE = re.compile(r"\s+")
_STATUS_CODE = re.compile(_ENHANCED)
# "smtp; 550", "x-postfix; 550 ...": each run of spaces belongs to one part only.
_LEADING_SMTP = linear.compile(
    r"\s*(?:(?:smtp|x-\w+)\s*)?(?:;\s*)?([245]\d\d)(?:\D|$)", re.IGNORECASE
)
MAX_STATEMENT = 600
MAX_EVIDENCE = 400
# Statements read per block: a real NDR has a handful; a flood of them costs no more than this.
MAX_STATEMENTS = 64
MAX_DSN_RECIPIENTS = 64
PHRASE_WINDOW = 2 * MAX_STATEMENT  # no block phrase is longer
T = TypeVar("T")


def statements_in(text: str, order_base: int = 0) -> list[Statement]:
    """The diagnostic statements in one block of text, in order of appearance: all of them,
    or in a flood the first and the last MAX_STATEMENTS // 2 (an NDR comes first or last)."""
    spans = list(_statement_spans(text))
    covered = _Covered([(start, end) for start, end, _ in spans])
    found = [
        _read(text[start:end], match, order_base + i)
        for i, (start, end, match) in enumerate(_ends(spans))
    ]
    found.extend(_orphan_blocks(text, covered, order_base + len(found)))
    return found


def _ends(items: list[T], limit: int = MAX_STATEMENTS) -> list[T]:
    """ITEMS, or their first and last LIMIT // 2 when there are more."""
    half = limit // 2
    return items if len(items) <= 2 * half else items[:half] + items[-half:]


class _Covered:
    """Text spans taken by statements, asked "is this position inside one" in log time."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self._spans = sorted(spans)
        self._starts = [start for start, _ in self._spans]
        self._ends = list(itertools.accumulate((end for _, end in self._spans), max))

    def __contains__(self, position: int) -> bool:
        i = bisect.bisect_right(self._starts, position) - 1
        return i >= 0 and position < self._ends[i]

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self._starts, start)
        self._spans.insert(i, (start, end))
        self._starts.insert(i, start)
        self._ends = list(itertools.accumulate((e for _, e in self._spans), max))


def _statement_spans(text: str) -> Iterable[tuple[int, int, re.Match[str]]]:
    starts = []
    previous: re.Match[str] | None = None
    for match in _statement_starts(text):
        if previous is not None and _continues(previous, match):
            continue  # a multi-line reply: 550-5.7.1 ... 550-5.7.1 ... 550 5.7.1
        starts.append(match)
        previous = match
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        paragraph = _PARAGRAPH_END.search(text, match.end(), end)
        end = min(paragraph.start() if paragraph else end, match.start() + MAX_STATEMENT)
        yield match.start(), end, match


def _statement_starts(text: str) -> Iterable[re.Match[str]]:
    """_STATEMENT_START.finditer(text), tried only at candidate positions."""
    end = 0
    for candidate in _CANDIDATE.finditer(text):
        if candidate.start() >= end and (match := _STATEMENT_START.match(text, candidate.start())):
            end = max(match.end(), match.start() + 1)
            yield match


def _continues(previous: re.Match[str], match: re.Match[str]) -> bool:
    return bool(
        previous.group("dash")
        and "-" in previous.group("dash")
        and previous.group("smtp") == match.group("smtp")
        and _code(previous) == _code(match)
    )


def _code(match: re.Match[str]) -> str | None:
    raw = match.group("code") or match.group("code_only")
    return "".join(raw.split()) if raw else None


def _read(segment: str, match: re.Match[str], order: int) -> Statement:
    smtp = next(
        (match.group(g) for g in ("smtp", "said", "bare", "legacy") if match.group(g)), None
    )
    return analyse(segment, _code(match), int(smtp) if smtp else None, order=order)


def analyse(
    segment: str,
    code: str | None,
    smtp: int | None,
    *,
    order: int = 0,
    from_dsn: bool = False,
) -> Statement:
    """Read the IP, provider code and kind of one statement whose code is already known."""
    provider = codes.PROVIDER_CODE.search(segment)
    provider_code = (provider.group(1) or provider.group(2)) if provider else None
    kind = codes.classify(code, provider_code, segment)
    found = find_blocked_ip(segment, microsoft_code=codes.is_microsoft_block(code))
    return Statement(
        ndr_code=code,
        smtp_code=smtp,
        ip=found.ip if found else None,
        evidence=_evidence(segment),
        kind=kind,
        provider_code=provider_code,
        ip_placeholder=bool(found and found.placeholder),
        from_dsn=from_dsn,
        order=order,
    )


def _orphan_blocks(text: str, covered: _Covered, order: int) -> list[Statement]:
    """Block phrases outside any statement: "messages from 1.2.3.4 weren't sent" with no code.
    In a flood, only the first and the last MAX_STATEMENTS // 2 places each phrase starts."""
    found: list[Statement] = []
    lowered = folded(text)
    for detector in DETECTORS[:2]:
        for match_start, match_end in _phrases(detector, text, lowered):
            if match_start in covered:
                continue
            start = max(text.rfind("\n\n", 0, match_start) + 1, match_start - 120)
            before = _SMTP_BEFORE.search(text[start:match_start])
            segment_start = start + before.start(1) if before else match_start
            end = min(len(text), match_end + MAX_STATEMENT // 2)
            smtp = int(before.group(1)) if before else None
            found.append(analyse(text[segment_start:end], None, smtp, order=order + len(found)))
            covered.add(segment_start, end)
    return found


def _phrases(detector: Detector, text: str, lowered: str) -> list[tuple[int, int]]:
    """Spans of DETECTOR's matches: tried where its anchor word occurs (capped), each on a
    window of text, so a flood of the word costs a find per occurrence, not a match."""
    if not detector.could_match(lowered):
        return []
    if detector.anchor is None:
        return _ends([m.span() for m in detector.finditer(text, lowered)])
    if len(lowered) != len(text):  # casefold() moved the positions (ß is ss); lower() keeps
        lowered = text.replace("\u0130", "I").lower()  # them, but for İ, which it makes two
    spans = []
    for position in _ends(_occurrences(lowered, detector.anchor, MAX_STATEMENTS // 2)):
        if match := detector.pattern.match(text[position : position + PHRASE_WINDOW]):
            spans.append((position, position + match.end()))
    return spans


def _occurrences(haystack: str, needle: str, limit: int) -> list[int]:
    """Where NEEDLE occurs in HAYSTACK: all, or the first and the last LIMIT when more."""
    if haystack.count(needle) <= 2 * limit:
        return [m.start() for m in re.finditer(re.escape(needle), haystack)]
    first: list[int] = []
    position = haystack.find(needle)
    while position >= 0 and len(first) < limit:
        first.append(position)
        position = haystack.find(needle, position + 1)
    last: list[int] = []
    position = haystack.rfind(needle)
    while position >= 0 and len(last) < limit:
        last.append(position)
        position = haystack.rfind(needle, 0, position)
    return first + sorted(last)


def dsn_statements(recipients: list[DsnRecipient], order_base: int) -> list[Statement]:
    """One statement per failed recipient: the code in the diagnostic text, else Status."""
    found = []
    for i, recipient in enumerate(_ends(recipients, MAX_DSN_RECIPIENTS)):
        diagnostic = recipient.diagnostic or ""
        inner = statements_in(diagnostic)
        best = choose(inner)
        status = _status_code(recipient.status)
        smtp = best.smtp_code if best else _leading_smtp(diagnostic)
        code = best.ndr_code if best and best.ndr_code else status
        found.append(
            analyse(
                diagnostic or recipient.status or "",
                code,
                smtp,
                order=order_base + i,
                from_dsn=True,
            )
        )
    return found


def _status_code(status: str | None) -> str | None:
    match = _STATUS_CODE.search(status or "")
    return "".join(match.group(0).split()) if match else None


def _leading_smtp(diagnostic: str) -> int | None:
    match = _LEADING_SMTP.match(diagnostic)
    return int(match.group(1)) if match else None


def _evidence(segment: str) -> str:
    line = _SPACE.sub(" ", segment).strip()
    return line if len(line) <= MAX_EVIDENCE else line[: MAX_EVIDENCE - 1].rstrip() + "…"


def rank(statement: Statement) -> tuple[int, ...]:
    """Higher is better: Microsoft's block first, then a named IP, then the DSN's own fields."""
    microsoft = statement.kind in (Action.REVIEW, Action.PORTAL, Action.CONSUMER)
    known = codes.lookup(statement.ndr_code) is not None
    permanent = str(statement.smtp_code or statement.ndr_code or "").startswith("5")
    return (
        microsoft,
        statement.ip is not None,
        statement.from_dsn,
        permanent,
        statement.ndr_code is not None,
        statement.smtp_code is not None,
        known,
        -statement.order,
    )


def choose(statements: list[Statement]) -> Statement | None:
    return max(statements, key=rank, default=None)
