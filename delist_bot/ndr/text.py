"""Text clean-up for NDR matching: line endings, quote markers, HTML, and forward markers.

Also separates the requester's own words from what they forwarded.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_NEWLINES = re.compile(r"\r\n?")
_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
OWN_WORDS_WINDOW = 8000  # a requester's note sits at the top; the rest is what they forwarded
_NBSP_CHARS = "\u00a0\u2007\u202f\u200b\ufeff"
_NBSP = re.compile(f"[{_NBSP_CHARS}]")
# Cheap probes first: a pattern anchored with ^ in MULTILINE mode is tried at every position.
_QUOTED_LINE = re.compile(r"\n[ \t]*>")

# Where the requester's own words stop: forward banners, reply headers, quotes, signatures.
_FORWARD_MARKERS = re.compile(
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
    | [^\n]*(?<![\w.])[245]\d\d[ \t-]+[245]\.\d{1,3}\.\d
    | [ \t]*(?:diagnostic-code|remote[ \t]server[ \t]returned|reporting-mta|final-recipient)
    | (?:on|il|am|le|el|em)[ \t][^\n]{0,200}(?:wrote|scritto|schrieb|\S*crit|escribi\S*|escreveu)[ \t]?:[ \t]*$
    )""",
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)

# Localized forward banners and labels say which language the requester's mail client speaks.
_CLIENT_LANGUAGE_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "it",
        re.compile(
            r"^(?:Inviato|Oggetto)\s*:|messaggio inoltrato|messaggio originale", re.I | re.M
        ),
    ),
    ("de", re.compile(r"^(?:Gesendet|Betreff)\s*:|weitergeleitete nachricht", re.I | re.M)),
    (
        "fr",
        re.compile(r"^(?:Envoy\S*|Objet)\s*:|message transf\S*r\S*|message d'origine", re.I | re.M),
    ),
    (
        "es",
        re.compile(r"^(?:Enviado el|Asunto)\s*:|mensaje reenviado|mensaje original", re.I | re.M),
    ),
    ("pt", re.compile(r"^(?:Assunto)\s*:|mensagem encaminhada|mensagem original", re.I | re.M)),
)


# The non-ASCII letters that re.IGNORECASE matches to ASCII ones (see re._casefix).
_LOOKALIKE_LETTERS = "İıſK"
_ASCII_LOOKALIKES = str.maketrans(_LOOKALIKE_LETTERS, "iisk")


def folded(text: str) -> str:
    """TEXT in a case where `word in folded(text)` holds whenever an IGNORECASE regex could
    match WORD in it: a substring test that lets a costly pattern skip text it cannot match."""
    if text.isascii():
        return text.lower()
    if any(letter in text for letter in _LOOKALIKE_LETTERS):  # rare: translate() is slow
        text = text.translate(_ASCII_LOOKALIKES)
    return text.casefold()


def normalize_text(text: str) -> str:
    """One newline style, no quote markers, plain spaces."""
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if text.lstrip(" \t").startswith(">") or _QUOTED_LINE.search(text):
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
        if pattern.search(text, 0, end):
            return language
    return None


class _TextCollector(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "hr":
            self.parts.append("\n" + "_" * 32 + "\n")  # Outlook's forward separator
        elif tag == "br":
            self.parts.append("\n")  # <br><br> is a blank line
        elif tag in self._BREAKS or tag == "blockquote":
            self._line_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self._line_break()
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def _line_break(self) -> None:
        # </p><p> ends one line, not a paragraph: Outlook puts every line of a pasted NDR in its
        # own <p class=MsoNormal>, and a blank line between them would end the statement there.
        if not "".join(self.parts[-2:]).rstrip(" ").endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data.replace("\r", " ").replace("\n", " "))


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body with entities decoded and block tags as line breaks."""
    collector = _TextCollector()
    try:
        collector.feed(markup)
        collector.close()
    except (AssertionError, ValueError):  # html.parser's errors on broken markup
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(collector.parts)
