"""Regular expressions in linear time: Python-syntax patterns compiled for RE2 (google-re2).

A backtracking engine can take exponential time on one short hostile line; RE2 never does.
Patterns keep their Python syntax and meaning (Unicode \\s, \\d, \\w, IGNORECASE's İ and ı, `$`
before a final newline, which RE2 matches by taking the newline into the match). RE2 has no
lookaround or backreferences: a pattern that needs them stays with `re`, written so that no run
can be matched two ways (tests/ndr/test_linear_patterns.py times every pattern either way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import re2

# What Python's \s, \d and \w match in a str pattern (RE2's own are ASCII only).
PYTHON_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CLASS_BODY = {
    c.CATEGORY_SPACE: "".join(f"\\x{{{ord(ch):x}}}" if ch != "-" else "-" for ch in PYTHON_SPACE),
    c.CATEGORY_DIGIT: r"\p{Nd}",
    c.CATEGORY_WORD: r"\p{L}\p{N}_",
}
_NEGATED = {
    c.CATEGORY_NOT_SPACE: c.CATEGORY_SPACE,
    c.CATEGORY_NOT_DIGIT: c.CATEGORY_DIGIT,
    c.CATEGORY_NOT_WORD: c.CATEGORY_WORD,
}
# The parser leaves ^ and $ as AT_BEGINNING and AT_END; MULTILINE decides what they mean.
_AT = {
    (c.AT_BEGINNING, False): r"\A",
    (c.AT_BEGINNING, True): r"(?m:^)",
    (c.AT_END, False): r"(?:\n?\z)",  # Python's $ also matches before a final newline
    (c.AT_END, True): r"(?m:$)",
    (c.AT_BEGINNING_STRING, False): r"\A",
    (c.AT_BEGINNING_STRING, True): r"\A",
    (c.AT_END_STRING, False): r"\z",
    (c.AT_END_STRING, True): r"\z",
}
_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


class Unsupported(ValueError):
    """The pattern uses what RE2 cannot run (lookaround, backreferences, ASCII-only classes)."""


class LinearPattern:
    """A pattern compiled for RE2 with re.Pattern's methods; `source` and `flags` are the
    Python-syntax original (the linearity test derives its attack strings from them)."""

    __slots__ = (
        "findall",
        "finditer",
        "flags",
        "fullmatch",
        "groupindex",
        "match",
        "pattern",
        "search",
        "source",
        "split",
        "sub",
    )

    def __init__(self, source: str, flags: int) -> None:
        self.source = self.pattern = source
        self.flags = flags
        options = re2.Options()
        options.log_errors = False
        options.max_mem = 32 << 20  # room for the DFA on 10 MB bodies before it falls back
        compiled = _Regexp(translate(source, flags), options)
        self.groupindex = compiled.groupindex
        # Bound methods, not wrappers: no extra call per search.
        self.search, self.match, self.fullmatch = (
            compiled.search,
            compiled.match,
            compiled.fullmatch,
        )
        self.finditer, self.findall = compiled.finditer, compiled.findall
        self.sub, self.split = compiled.sub, compiled.split

    def __repr__(self) -> str:
        return f"linear.compile({self.source!r}, {self.flags!r})"


class _Regexp(re2._Regexp):  # type: ignore[misc]
    """re2's pattern object with its group count and names computed once: re2 asks RE2 for
    them on every group(), start() and groupdict() (30 us each, half of a statement's cost)."""

    __slots__ = ("_group_count", "_group_names")

    def __init__(self, pattern: str, options: re2.Options) -> None:
        super().__init__(pattern, options)
        self._group_count = self._regexp.NumberOfCapturingGroups()
        self._group_names = re2._Regexp.groupindex.fget(self)

    @property
    def groups(self) -> int:
        return self._group_count

    @property
    def groupindex(self) -> dict[str, int]:
        return self._group_names


def compile(source: str, flags: int = 0) -> LinearPattern:
    return LinearPattern(source, flags)


def translate(source: str, flags: int = 0) -> str:
    """SOURCE (Python syntax) as an RE2 pattern that matches the same text the same way."""
    parsed = _parser.parse(source, flags)
    state = parsed.state
    prefix = "".join(letter for flag, letter in _FLAGS if state.flags & flag)
    context = _Context(
        {index: name for name, index in state.groupdict.items()},
        bool(state.flags & re.MULTILINE),
        bool(state.flags & re.IGNORECASE),
    )
    return (f"(?{prefix})" if prefix else "") + _sequence(parsed, context)


@dataclass(frozen=True)
class _Context:
    names: dict[int, str]
    multiline: bool
    ignore_case: bool


def _sequence(items: Any, context: _Context) -> str:
    return "".join(_node(op, av, context) for op, av in items)


def _node(op: Any, av: Any, context: _Context) -> str:
    if op is c.LITERAL:
        return _class([(op, av)]) if av in _I and context.ignore_case else _literal(av)
    if op is c.NOT_LITERAL:
        return _class([(c.NEGATE, None), (c.LITERAL, av)], context.ignore_case)
    if op is c.ANY:
        return "."
    if op is c.IN:
        return _class(av, context.ignore_case)
    if op is c.BRANCH:
        return "(?:" + "|".join(_sequence(branch, context) for branch in av[1]) + ")"
    if op is c.SUBPATTERN:
        return _group(av, context)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, body = av
        bounds = f"{{{low},}}" if high is c.MAXREPEAT else f"{{{low},{high}}}"
        return f"(?:{_sequence(body, context)}){bounds}{'?' if op is c.MIN_REPEAT else ''}"
    if op is c.AT and (av, context.multiline) in _AT:
        return _AT[av, context.multiline]
    raise Unsupported(f"RE2 cannot run {op} {av!r}")


def _group(av: Any, context: _Context) -> str:
    group, add_flags, del_flags, body = av
    if (add_flags | del_flags) & (re.MULTILINE | re.IGNORECASE):
        context = _Context(
            context.names,
            bool(add_flags & re.MULTILINE) or (context.multiline and not del_flags & re.MULTILINE),
            bool(add_flags & re.IGNORECASE)
            or (context.ignore_case and not del_flags & re.IGNORECASE),
        )
    inner = _sequence(body, context)
    on = "".join(letter for flag, letter in _FLAGS if add_flags & flag)
    off = "".join(letter for flag, letter in _FLAGS if del_flags & flag)
    if on or off:
        inner = f"(?{on}{'-' + off if off else ''}:{inner})"
    if group is None:
        return f"(?:{inner})"
    name = context.names.get(group)
    return f"(?P<{name}>{inner})" if name else f"({inner})"


def _literal(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


# Python's IGNORECASE also matches i and I to İ and ı (re._casefix); RE2's folding does not.
_I = frozenset((ord("i"), ord("I")))
_DOTTED_AND_DOTLESS_I = (0x130, 0x131)


def _class(items: Any, ignore_case: bool = True) -> str:
    negate = bool(items) and items[0][0] is c.NEGATE
    body = []
    for op, av in items[1:] if negate else items:
        if op is c.LITERAL:
            body.append(_literal(av))
            covers_i = av in _I
        elif op is c.RANGE:
            body.append(f"{_literal(av[0])}-{_literal(av[1])}")
            covers_i = any(av[0] <= i <= av[1] for i in _I)
        elif op is c.CATEGORY and av in _CLASS_BODY:
            body.append(_CLASS_BODY[av])
            covers_i = False
        elif op is c.CATEGORY and av in _NEGATED and len(items) == 1:
            return f"[^{_CLASS_BODY[_NEGATED[av]]}]"  # \S, \D or \W on its own
        else:
            raise Unsupported(f"RE2 cannot run class item {op} {av!r}")
        if covers_i and ignore_case:
            body.extend(_literal(code) for code in _DOTTED_AND_DOTLESS_I)
    return f"[{'^' if negate else ''}{''.join(body)}]"
