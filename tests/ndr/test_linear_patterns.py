"""Every pattern that reads message text runs in linear time, proved per pattern.

Patterns are found by walking delist_bot's modules, so a new one is covered without a line
here. For each quantified part, the attack strings are runs of every character it accepts,
after the literal text that leads to it (`banned sender[` + `xxxx…`), ended by a character
that fits nothing: the shapes that make a backtracking engine try one run many ways.
Growth is compared side by side (1 KB → 10 KB → 100 KB, best of a few runs), never against
an absolute time.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import random
import re
import string
import time
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import pytest

import delist_bot
from delist_bot.ndr.linear import PYTHON_SPACE, LinearPattern

# Patterns that never see text from a message (configuration, command-line values).
NEVER_MESSAGE_TEXT: frozenset[str] = frozenset()

# Characters every repeat is tried with (those it accepts), besides the pattern's own literals.
PALETTE = " \t\n\r\x0b.-_:;,/@#*x1aZé\u00a0\u2003[]()<>\"'=&?%+!$"
PAIR_CHARS = " \t\n"  # runs of two alternating characters: short " \n" lines
EXAMPLE_CHARS = "a1 x.-" + PALETTE + string.digits + string.ascii_letters
END = "\x00"  # fits no pattern here: the run must fail at its end
# Small sizes first, in small steps: an exponential pattern shows here before it hangs.
RAMP = (8, 12, 16, 24, 32, 48, 64, 128, 256, 512)
STEPS = (1_000, 10_000, 100_000)  # characters
RUNS = 3
# Random texts per pattern for the RE2 check (hypothesis drew 300, each costing fifty times more).
TEXTS = 2000
LINEAR_SLACK = 5.0  # 10x the text may cost up to 50x the time (a quadratic costs 100x)
RAMP_SLACK = 4.0  # a step may cost 4x its growth in length (exponential: 14x per 4 chars)
FLOOR = 20e-6  # seconds: below this a ratio is timer noise
# A super-linear pattern is slow every time; a busy machine is not: a growth problem counts only
# when each of this many measurements, one after another, shows it.
CONFIRMATIONS = 3


def _patterns() -> dict[str, Any]:
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for info in pkgutil.walk_packages(delist_bot.__path__, "delist_bot."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            for label, pattern in _nested(f"{info.name}.{name}", value, 0):
                if id(pattern) not in seen and label not in NEVER_MESSAGE_TEXT:
                    seen.add(id(pattern))
                    found[label] = pattern
    return found


def _nested(label: str, value: Any, depth: int) -> Iterator[tuple[str, Any]]:
    if isinstance(value, re.Pattern | LinearPattern):
        yield label, value
    elif depth > 3 or isinstance(value, type):
        return
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _nested(f"{label}[{i}]", item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nested(f"{label}[{key!r}]", item, depth + 1)
    elif is_dataclass(value):
        for field in fields(value):
            yield from _nested(f"{label}.{field.name}", getattr(value, field.name), depth + 1)


PATTERNS = _patterns()


# --- reading a pattern's parse tree -----------------------------------------------------


def _source(pattern: Any) -> tuple[str | bytes, int]:
    if isinstance(pattern, LinearPattern):
        return pattern.source, pattern.flags
    return pattern.pattern, pattern.flags


def _class_accepts(items: Any, char: str, ignore_case: bool) -> bool:
    negate = bool(items) and items[0][0] is c.NEGATE
    variants = {char, char.lower(), char.upper()} if ignore_case else {char}
    hit = False
    for op, av in items[1:] if negate else items:
        if op is c.LITERAL:
            hit = chr(av) in variants
        elif op is c.RANGE:
            hit = any(av[0] <= ord(v) <= av[1] for v in variants)
        elif op is c.CATEGORY:
            hit = _category(av, char)
        if hit:
            break
    return hit != negate


def _category(category: Any, char: str) -> bool:
    positive = {
        c.CATEGORY_SPACE: char in PYTHON_SPACE or char.isspace(),
        c.CATEGORY_DIGIT: char.isdecimal(),
        c.CATEGORY_WORD: char.isalnum() or char == "_",
    }
    negative = {
        c.CATEGORY_NOT_SPACE: c.CATEGORY_SPACE,
        c.CATEGORY_NOT_DIGIT: c.CATEGORY_DIGIT,
        c.CATEGORY_NOT_WORD: c.CATEGORY_WORD,
    }
    if category in negative:
        return not positive[negative[category]]
    return positive.get(category, False)


def _nullable(op: Any, av: Any) -> bool:
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT, c.GROUPREF):
        return True
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        return av[0] == 0 or all(_nullable(o, a) for o, a in av[2])
    if op is c.SUBPATTERN:
        return all(_nullable(o, a) for o, a in av[3])
    if op is c.BRANCH:
        return any(all(_nullable(o, a) for o, a in branch) for branch in av[1])
    return False


def _starts(items: Any, char: str, ignore_case: bool) -> bool:
    """Can ITEMS begin with CHAR?"""
    for op, av in items:
        if _item_starts(op, av, char, ignore_case):
            return True
        if not _nullable(op, av):
            return False
    return False


def _item_starts(op: Any, av: Any, char: str, ignore_case: bool) -> bool:
    if op is c.LITERAL:
        return char == chr(av) or (ignore_case and char.lower() == chr(av).lower())
    if op is c.NOT_LITERAL:
        return char != chr(av)
    if op is c.ANY:
        return char != "\n"
    if op is c.IN:
        return _class_accepts(av, char, ignore_case)
    if op is c.BRANCH:
        return any(_starts(branch, char, ignore_case) for branch in av[1])
    if op is c.SUBPATTERN:
        return _starts(av[3], char, ignore_case)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        return av[1] > 0 and _starts(av[2], char, ignore_case)
    return False


def _example(items: Any, ignore_case: bool) -> str:
    """A short string that ITEMS match (what leads to a repeat further on)."""
    return "".join(_item_example(op, av, ignore_case) for op, av in items)


def _item_example(op: Any, av: Any, ignore_case: bool) -> str:
    if op is c.LITERAL:
        return chr(av)
    if op in (c.NOT_LITERAL, c.ANY, c.IN):
        return next((ch for ch in EXAMPLE_CHARS if _item_starts(op, av, ch, ignore_case)), "a")
    if op is c.BRANCH:
        return _example(av[1][0], ignore_case)
    if op is c.SUBPATTERN:
        return _example(av[3], ignore_case)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        return _example(av[2], ignore_case) * av[0]
    return ""


def _repeats(items: Any, prefix: str, ignore_case: bool) -> Iterator[tuple[str, Any]]:
    """(the text leading to a repeat, the repeat's body) for every repeat in ITEMS."""
    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[1] != 1:
            yield prefix, av[2]
        if op is c.BRANCH:
            for branch in av[1]:
                yield from _repeats(branch, prefix, ignore_case)
        elif op is c.SUBPATTERN:
            yield from _repeats(av[3], prefix, ignore_case)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            yield from _repeats(av[2], prefix, ignore_case)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            yield from _repeats(av[1], prefix, ignore_case)
        prefix += _item_example(op, av, ignore_case)


def _literals(items: Any) -> set[str]:
    found: set[str] = set()
    for op, av in items:
        if op is c.LITERAL:
            found.add(chr(av))
        elif op is c.BRANCH:
            for branch in av[1]:
                found |= _literals(branch)
        elif op is c.SUBPATTERN:
            found |= _literals(av[3])
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            found |= _literals(av[2])
    return found


def _leaves(items: Any) -> Iterator[tuple[Any, Any]]:
    """Every test of one character in ITEMS (literals, classes)."""
    for op, av in items:
        if op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN):
            yield op, av
        elif op is c.BRANCH:
            for branch in av[1]:
                yield from _leaves(branch)
        elif op is c.SUBPATTERN:
            yield from _leaves(av[3])
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            yield from _leaves(av[2])
        elif op in (c.ASSERT, c.ASSERT_NOT):
            yield from _leaves(av[1])


def _representatives(parsed: Any, ignore_case: bool) -> list[str]:
    """One character per behaviour: two characters that every test in the pattern answers
    alike drive the engine alike, so a run of one costs what a run of the other does."""
    leaves = list(_leaves(parsed))
    chosen: dict[tuple[bool, ...], str] = {}
    for char in sorted(set(PALETTE) | _literals(parsed)):
        signature = tuple(_item_starts(op, av, char, ignore_case) for op, av in leaves)
        chosen.setdefault(signature, char)
    return sorted(chosen.values())


def attacks(pattern: Any) -> list[tuple[str, str]]:
    """(prefix, unit) pairs: the run is PREFIX + UNIT * k + END."""
    source, flags = _source(pattern)
    text_source = source.decode("latin-1") if isinstance(source, bytes) else source
    parsed = _parser.parse(text_source, flags & ~re.ASCII if isinstance(source, bytes) else flags)
    ignore_case = bool(flags & re.IGNORECASE)
    palette = _representatives(parsed, ignore_case)
    found: dict[tuple[str, str], None] = {}
    for prefix, body in _repeats(parsed, "", ignore_case):
        accepted = [ch for ch in palette if _starts(body, ch, ignore_case)]
        for ch in accepted:
            found[(prefix, ch)] = None
        pairable = [ch for ch in PAIR_CHARS if ch in accepted]
        for a, b in itertools.permutations(pairable, 2):
            found[(prefix, a + b)] = None
    return list(found)


# --- timing ------------------------------------------------------------------------------


def _text(pattern: Any, prefix: str, unit: str, size: int) -> str | bytes:
    text = prefix + unit * max(1, size // len(unit)) + END
    if isinstance(_source(pattern)[0], bytes):
        return text.encode("latin-1", "replace")
    return text


def _scan(pattern: Any, text: str | bytes) -> float:
    started = time.perf_counter()
    for _ in pattern.finditer(text):
        pass
    return time.perf_counter() - started


def _best(pattern: Any, texts: list[str | bytes]) -> list[float]:
    """The best of RUNS timings of each text, the texts interleaved within each run."""
    best = [float("inf")] * len(texts)
    for _ in range(RUNS):
        for i, text in enumerate(texts):
            best[i] = min(best[i], _scan(pattern, text))
    return best


def growth_problem(pattern: Any, prefix: str, unit: str) -> str | None:
    """Why the time to scan the attack grows faster than its length, or None."""
    for small, large in itertools.pairwise(RAMP):
        texts = [_text(pattern, prefix, unit, small), _text(pattern, prefix, unit, large)]
        a, b = _best(pattern, texts)
        if b > RAMP_SLACK * large / small * max(a, FLOOR):
            return f"{small} -> {large} chars: {a * 1e6:.0f} -> {b * 1e6:.0f} us"
    for small, large in itertools.pairwise(STEPS):
        texts = [_text(pattern, prefix, unit, small), _text(pattern, prefix, unit, large)]
        a, b = _best(pattern, texts)
        if b > LINEAR_SLACK * 10 * max(a, FLOOR):
            return f"{small} -> {large} chars: {a * 1e3:.2f} -> {b * 1e3:.2f} ms"
    return None


def confirmed_growth_problem(pattern: Any, prefix: str, unit: str) -> str | None:
    """growth_problem, seen in every one of CONFIRMATIONS measurements (the last one's words)."""
    problem = None
    for _ in range(CONFIRMATIONS):
        problem = growth_problem(pattern, prefix, unit)
        if problem is None:
            return None
    return problem


# --- the tests -------------------------------------------------------------------------


def test_the_walk_finds_the_patterns_that_read_messages() -> None:
    for expected in (
        "delist_bot.ndr.ips._PLACEHOLDER",
        "delist_bot.ndr.ips.DETECTORS[0].pattern",
        "delist_bot.ndr.statements._STATEMENT_START",
        "delist_bot.ndr.text._FORWARD_MARKERS",
        "delist_bot.ndr.codes.PROVIDER_CODE",
        "delist_bot.ndr.language._WORD",
        "delist_bot.core.rules._SUPPRESS_VALUES",
    ):
        assert expected in PATTERNS


def test_attacks_lead_to_each_repeat_through_the_literal_text() -> None:
    from delist_bot.ndr import ips, statements

    found = attacks(ips.DETECTORS[0].pattern)
    # The bracket's content after its literal prefix: one character of each behaviour (a
    # space, a tab and a newline are all \s and all inside the bracket: one behaviour).
    assert {unit for prefix, unit in found if prefix == "banned sender["} >= {"\t", "!", "a"}
    assert ("banned", "\t") in found
    # The runs of spaces before and after the newline between "550" and "5.7.511".
    assert {("211", " "), ("211\n", " ")} <= set(attacks(statements._STATEMENT_START))


@pytest.mark.system  # timed
def test_the_check_catches_backtracking() -> None:
    """Today's placeholder pattern (exponential) and a split run of spaces (quadratic) fail."""
    exponential = re.compile(r"^[\s_*]*(?:(?:[xX#*n]{1,4}[.\s]*){2,})[\s_*]*$", re.IGNORECASE)
    quadratic = re.compile(r"banned\s+sender\s*:?\s*\[")
    assert confirmed_growth_problem(exponential, "", "x") is not None
    assert confirmed_growth_problem(quadratic, "banned sender", " ") is not None


@pytest.mark.system  # timed: the growth of each pattern's time, side by side
@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_time_grows_linearly(name: str) -> None:
    pattern = PATTERNS[name]
    problems = [
        f"{prefix!r} + {unit!r} * n: {problem}"
        for prefix, unit in attacks(pattern)
        if (problem := confirmed_growth_problem(pattern, prefix, unit))
    ]
    assert not problems, f"{name} is super-linear on:\n" + "\n".join(problems)


# --- RE2 reads as Python's re did ----------------------------------------------------------

LINEAR = {name: p for name, p in PATTERNS.items() if isinstance(p, LinearPattern)}


def _pieces(pattern: LinearPattern) -> list[str]:
    """Fragments that make the pattern match, nearly match, or fail late."""
    parsed = _parser.parse(pattern.source, pattern.flags)
    ignore_case = bool(pattern.flags & re.IGNORECASE)
    pieces = {prefix for prefix, _ in _repeats(parsed, "", ignore_case)}
    pieces |= set(_representatives(parsed, ignore_case))
    example = _example(parsed, ignore_case)
    pieces |= {example, example.replace("i", "İ"), example.replace("s", "ſ").replace("I", "ı")}
    pieces |= {"1.2.3.4", "2001:db8::1", "\u2028", "\n", "\x85", "\u0663"}
    return sorted(pieces)


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_re2_reads_every_text_as_python_re(name: str) -> None:
    """The translation keeps Python's meaning: same spans, same groups, on random texts of up to
    12 of the pattern's own pieces (a fresh seed each run; a failure names the seed and text)."""
    pattern = LINEAR[name]
    python = re.compile(pattern.source, pattern.flags)
    pieces = _pieces(pattern)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for _ in range(TEXTS):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 12)))
        ours = [_reading(m) for m in pattern.finditer(text)]
        theirs = [_reading(m) for m in python.finditer(text)]
        assert _agree(ours, theirs, text), f"seed {seed}: {text!r}: RE2 {ours}, re {theirs}"


def _agree(ours: list, theirs: list, text: str) -> bool:
    if len(ours) != len(theirs):
        return False
    # RE2 matches Python's `$` before a final newline by taking the newline in.
    return all(
        (start, groups) == (p_start, p_groups)
        and (end == p_end or (end == p_end + 1 == len(text) and text.endswith("\n")))
        for ((start, end), groups), ((p_start, p_end), p_groups) in zip(ours, theirs, strict=True)
    )


def _reading(match: Any) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    return match.span(), [match.span(g) for g in range(1, len(match.groups()) + 1)]
