"""Text clean-up for NDR matching: line endings, quote markers, HTML, and forward markers.

Also separates the requester's own words from what they forwarded.
"""

from __future__ import annotations

import html
import html.entities
import re

from delist_bot.ndr import linear

_NEWLINES = re.compile(r"\r\n?")
# Bounded: sre keeps a backtracking entry per repetition of a group, which made a 300 KB line
# of ">" cost more per character than a short one. Nobody quotes a hundred levels deep.
_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?){1,100}", re.MULTILINE)
OWN_WORDS_WINDOW = 8000  # a requester's note sits at the top; the rest is what they forwarded
_NBSP_CHARS = "\u00a0\u2007\u202f\u200b\ufeff"
_NBSP = re.compile(f"[{_NBSP_CHARS}]")
# Cheap probes first: a pattern anchored with ^ in MULTILINE mode is tried at every position.
_QUOTED_LINE = re.compile(r"\n[ \t]*>")

# Where the requester's own words stop: forward banners, reply headers, quotes, signatures.
_FORWARD_MARKERS = linear.compile(
    r"""^(?:
      [ \t]*-{2,}[ \t]*(?:original[ \t]message|messaggio[ \t]originale|urspr\S*ngliche[ \t]nachricht
        |message[ \t]d'origine|mensaje[ \t]original|mensagem[ \t]original)[ \t]*-{2,}
    | [ \t]*-{2,}[ \t]*(?:forwarded[ \t]message|messaggio[ \t]inoltrato|weitergeleitete[ \t]nachricht
        |message[ \t]transf\S*r\S*|mensaje[ \t]reenviado|mensagem[ \t]encaminhada)[ \t]*-{2,}
    | [ \t]*(?:begin[ \t]forwarded[ \t]message|inizio[ \t]messaggio[ \t]inoltrato
        |anfang[ \t]der[ \t]weitergeleiteten[ \t]nachricht|d\S*but[ \t]du[ \t]message[ \t]r\S*exp\S*di\S*
        |inicio[ \t]del[ \t]mensaje[ \t]reenviado|in\S*cio[ \t]da[ \t]mensagem[ \t]encaminhada)[ \t]*:
    | [ \t]*_{10,}[ \t]*$
    | [ \t]*(?:from|da|von|de|van)[ \t]*:[^\n]*\n[ \t]*(?:sent|inviato|gesendet|envoy\S*|enviado
        |date|data|datum|verzonden)[ \t]*:
    | [ \t]*>
    | --[ \t]?$
    | (?:[^\n]*[^\w.\n])?[245]\d\d[ \t-]+[245]\.\d{1,3}\.\d  # a reply not after a word or dot
    | [ \t]*(?:diagnostic-code|remote[ \t]server[ \t]returned|reporting-mta|final-recipient)
    | (?:on|il|am|le|el|em)[ \t][^\n]{0,200}(?:wrote|scritto|schrieb|\S*crit|escribi\S*|escreveu)[ \t]?:[ \t]*$
    )""",
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)

# Localized forward banners and labels say which language the requester's mail client speaks.
_CLIENT_LANGUAGE_HINTS: tuple[tuple[str, linear.LinearPattern], ...] = (
    (
        "it",
        linear.compile(
            r"^(?:Inviato|Oggetto)\s*:|messaggio inoltrato|messaggio originale", re.I | re.M
        ),
    ),
    ("de", linear.compile(r"^(?:Gesendet|Betreff)\s*:|weitergeleitete nachricht", re.I | re.M)),
    (
        "fr",
        linear.compile(
            r"^(?:Envoy\S*|Objet)\s*:|message transf\S*r\S*|message d'origine", re.I | re.M
        ),
    ),
    (
        "es",
        linear.compile(
            r"^(?:Enviado el|Asunto)\s*:|mensaje reenviado|mensaje original", re.I | re.M
        ),
    ),
    ("pt", linear.compile(r"^(?:Assunto)\s*:|mensagem encaminhada|mensagem original", re.I | re.M)),
)


# The non-ASCII letters that re.IGNORECASE matches to ASCII ones (see re._casefix).
_LOOKALIKE_LETTERS = "İıſK"


def folded(text: str) -> str:
    """TEXT in a case where `word in folded(text)` holds whenever an IGNORECASE regex could
    match WORD in it: a substring test that lets a costly pattern skip text it cannot match."""
    if text.isascii():
        return text.lower()
    for letter, ascii_letter in zip(_LOOKALIKE_LETTERS, "iisk", strict=True):
        if letter in text:  # replace() is C speed; translate() took 0.5 s on 5 MB
            text = text.replace(letter, ascii_letter)
    return text.casefold()


_SURROGATES = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """TEXT with every surrogate code point replaced by U+FFFD: decoders such as UTF-7
    (`+3IA-`) and unicode_escape make lone surrogates, which no UTF-8 writer accepts."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def normalize_text(text: str, unquote: bool = True) -> str:
    """One newline style, no quote markers (with UNQUOTE), plain spaces."""
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if unquote and (text.lstrip(" \t").startswith(">") or _QUOTED_LINE.search(text)):
        text = _QUOTE_PREFIX.sub("", text)
    if not text.isascii() and any(c in text for c in _NBSP_CHARS):
        text = _NBSP.sub(" ", text)
    return text


def own_words(text: str) -> str:
    """The part of a body the requester wrote: everything before the first forward marker."""
    text = text[:OWN_WORDS_WINDOW]
    match = _FORWARD_MARKERS.search(text)
    return (text[: match.start()] if match else text).strip()


def client_language_hint(text: str, end: int = OWN_WORDS_WINDOW) -> str | None:
    """The language of the forward banner that follows the requester's words, if localized."""
    for language, pattern in _CLIENT_LANGUAGE_HINTS:
        if pattern.search(text[:end]):
            return language
    return None


_BREAKS = frozenset({"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4"})
_SKIP = frozenset({"script", "style", "head", "title"})
_RAW_TEXT_END = re.compile(r"</(?:script|style)", re.IGNORECASE)
_MARKUP_START = re.compile(r"<[A-Za-z/!?]")
# html.unescape's pattern for one character reference.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_LONGEST_BARE_NAME = max(len(name) for name in html.entities.html5 if not name.endswith(";"))
# Tags that change nothing in the text (span, font, a, img, ...), removed in one C-speed pass
# first: a page of ten thousand of them costs no Python step each.
_SILENT_TAG = re.compile(
    r"<(?=/?[A-Za-z])(?!/?(?:br|p|div|tr|li|table|h[1-4]|hr|blockquote|td|th|script|style|head|title)"
    r"[\t\n\r\f />])/?[A-Za-z][^<>\"']*>",
    re.IGNORECASE,
)
_TAG_NAME_END = re.compile(r"[\t\n\r\f />\x00]")
_TAG_END_OR_QUOTE = re.compile(r"[>\"']")
# Markup that is skipped whole: (opening, closing); an unclosed one hides the rest.
_SKIPPED = (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<!", ">"), ("<?", ">"))
# A blockquote's bounds while the text is built; its lines then get '>' marks, as a plain-text
# quote has them (what a reviewer quoted must never reach a requester).
_QUOTE_OPEN, _QUOTE_CLOSE = "\ue000", "\ue001"
_QUOTE_BOUNDS = re.compile(f"([{_QUOTE_OPEN}{_QUOTE_CLOSE}])")
_MAX_QUOTE_MARKS = 10
_LINE_END_NOISE = " " + _QUOTE_OPEN + _QUOTE_CLOSE


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body with entities decoded and block tags as line breaks.

    A tokenizer of its own rather than html.parser, whose regexes are quadratic on an
    unclosed `<a`, comment or CDATA section: every search below starts where the last ended."""
    markup = _SILENT_TAG.sub("", markup)
    parts: list[str] = []
    skipping, position, end = 0, 0, len(markup)
    while position < end:
        start = _MARKUP_START.search(markup, position)
        opening = start.start() if start else end
        if opening > position and not skipping:
            parts.append(_data(markup[position:opening]))
        if opening >= end:
            break
        tag, closed, position = _read_markup(markup, opening)
        if tag is None:
            if not skipping:
                parts.append("<")
            continue
        name, is_end = tag
        skipping = _apply_tag(parts, name, is_end, closed, skipping)
        if not is_end and name in ("script", "style") and not closed:
            raw_end = _RAW_TEXT_END.search(markup, position)
            position = raw_end.start() if raw_end else end
    text = "".join(parts)
    return _mark_quotes(text) if _QUOTE_OPEN in text else text


def _mark_quotes(text: str) -> str:
    """TEXT with each line inside blockquotes marked `> ` per level (at most ten)."""
    lines: list[str] = []
    depth, line_start = 0, True
    for piece in _QUOTE_BOUNDS.split(text):
        if piece in (_QUOTE_OPEN, _QUOTE_CLOSE):
            depth = depth + 1 if piece == _QUOTE_OPEN else max(0, depth - 1)
            continue
        for line in piece.splitlines(keepends=True):
            if depth and line_start and line.strip():
                line = "> " * min(depth, _MAX_QUOTE_MARKS) + line.lstrip()
            lines.append(line)
            if line.strip(" \t"):
                line_start = line.endswith("\n")
    return "".join(lines)


def _data(text: str) -> str:
    if _QUOTE_OPEN in text or _QUOTE_CLOSE in text:  # the text's own: never a quote's bounds
        text = text.replace(_QUOTE_OPEN, "").replace(_QUOTE_CLOSE, "")
    text = _CHARREF.sub(_charref, text) if "&" in text else text
    return text.replace("\r", " ").replace("\n", " ")


def _charref(match: re.Match[str]) -> str:
    """html.unescape's reading of one reference, without trying every prefix of a long name
    (an unknown 31-letter name cost 30 lookups); only a bare name of at most 6 letters can
    be the prefix that html5 matches."""
    name = match.group(1)
    if name[0] == "#" or len(name) <= _LONGEST_BARE_NAME + 1 or name in html.entities.html5:
        return html.unescape(match.group(0))
    for length in range(_LONGEST_BARE_NAME, 1, -1):
        if name[:length] in html.entities.html5:
            return html.entities.html5[name[:length]] + name[length:]
    return match.group(0)


def _read_markup(markup: str, opening: int) -> tuple[tuple[str, bool] | None, bool, int]:
    """((tag name, is end tag) or None, self-closing, where reading goes on) for the markup
    at OPENING; None with OPENING+1 for a `<` that opens nothing (plain text)."""
    following = markup[opening + 1 : opening + 2]
    is_end = following == "/"
    name_start = opening + (2 if is_end else 1)
    if not markup[name_start : name_start + 1].isascii() or not (
        markup[name_start : name_start + 1].isalpha()
    ):
        for prefix, closing in _SKIPPED:
            if markup.startswith(prefix, opening):
                found = markup.find(closing, opening + len(prefix))
                return ("", True), False, (found + len(closing) if found >= 0 else len(markup))
        if is_end:  # "</>" or "</ x>": nothing visible up to the next ">"
            found = markup.find(">", opening)
            return ("", True), False, (found + 1 if found >= 0 else len(markup))
        return None, False, opening + 1
    name_end = _TAG_NAME_END.search(markup, name_start)
    name_stop = name_end.start() if name_end else len(markup)
    close = _tag_end(markup, name_stop)
    if close < 0:  # never closed: html.parser shows the rest as text
        return None, False, opening + 1
    closed = not is_end and markup[close - 1] == "/"
    return (markup[name_start:name_stop].lower(), is_end), closed, close + 1


def _tag_end(markup: str, position: int) -> int:
    """The `>` that ends the tag whose attributes start at POSITION (quoted values may hold
    `>`), or -1."""
    while True:
        found = _TAG_END_OR_QUOTE.search(markup, position)
        if found is None:
            return -1
        char = found.group()
        if char == ">":
            return found.start()
        between = markup[position : found.start()].rstrip()
        if (between[-1:] or markup[position - 1 : position]) != "=":
            position = found.start() + 1  # a quote that is not a value's
            continue
        closing = markup.find(char, found.start() + 1)
        if closing < 0:
            return markup.find(">", found.start())
        position = closing + 1


def _apply_tag(parts: list[str], name: str, is_end: bool, closed: bool, skipping: int) -> int:
    """Add the breaks tag NAME makes to PARTS; the new depth of skipped elements."""
    if not name:
        return skipping
    if not is_end:
        if name in _SKIP:
            skipping += 1
        elif name == "hr":
            parts.append("\n" + "_" * 32 + "\n")  # Outlook's forward separator
        elif name == "br":
            parts.append("\n")  # <br><br> is a blank line
        elif name == "blockquote":
            _line_break(parts)
            parts.append(_QUOTE_OPEN)
        elif name in _BREAKS:
            _line_break(parts)
    if is_end or closed:  # html.parser reports <br/> as a start and an end tag
        if name in _SKIP:
            skipping = max(0, skipping - 1)
        elif name == "blockquote":
            parts.append(_QUOTE_CLOSE)
            _line_break(parts)
        elif name in _BREAKS:
            _line_break(parts)
        elif name in ("td", "th"):
            parts.append(" ")
    return skipping


def _line_break(parts: list[str]) -> None:
    """End the line unless it has just ended: </p><p> is one line break, not a blank line, since
    Outlook puts every line of a pasted NDR in its own <p class=MsoNormal>, and a blank line
    between them would end the statement there."""
    tail = parts[-1].rstrip(_LINE_END_NOISE) if parts else ""
    if not tail and len(parts) > 1:
        tail = parts[-2].rstrip(_LINE_END_NOISE)
    if not tail.endswith("\n"):
        parts.append("\n")
