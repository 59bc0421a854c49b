"""What a reviewer wrote, without what they quoted: the text that may reach a requester.

Pure. Line by line, no pattern with nested quantifiers: the text is the reviewer's mail client's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Quote headers: the attribution line of Gmail, Apple Mail and Thunderbird ("On <date>, X wrote:",
# "Il giorno ... ha scritto:", "Am ... schrieb X:", "Le ... a écrit :", "El ... escribió:",
# "Em ... escreveu:", "Op ... schreef X:", "Op ... heeft X het volgende geschreven:",
# "Den ... skrev X:"): a line holding a digit (the date) that ends in the verb, then at most a
# name and an address, then a colon.
_ATTRIBUTION = re.compile(
    r"(?:\bwrote|\bscritto|\bschrieb|\b[ée]crit|\bescribi[óo]|\bescreveu|\bschreef|\bskrev"
    r"|\bgeschreven|\bsaid)[^:\n]{0,200}:$",
    re.IGNORECASE,
)
_INTRO = re.compile(r"(?:on|il|am|le|el|em|op|den)\s", re.IGNORECASE)
# Outlook's header block ("From:", "Sent:", "To:", "Subject:") in each language; two such lines in a
# row start a quote. Gmail's plain-text copy of it stars the labels (*From:*).
_LABELS = (
    "from|sent|date|to|cc|subject"  # en
    "|da|inviato|data|a|oggetto"  # it
    "|von|gesendet|datum|an|betreff"  # de
    "|de|envoy[ée]|date|[àa]|objet"  # fr
    "|enviado(?: el)?|fecha|para|asunto"  # es
    "|enviada(?: em)?|enviado(?: em)?|assunto"  # pt
    "|van|verzonden|aan|onderwerp"  # nl
    "|fr[åa]n|skickat|till|kopia|[äa]mne"  # sv
)
_OUTLOOK_LABEL = re.compile(rf"\*?(?:{_LABELS})[ \t]?\*?[ \t]?:", re.IGNORECASE)
# Banners: "-----Original Message-----" and its kin in any language, Outlook's line of underscores,
# Apple Mail's "Begin forwarded message:".
# Bounded runs: a line of dashes or underscores is tried at every position it has.
_BANNER = re.compile(
    r"-{2,40}[ \t]?[^\W\d_][^-\n]{0,60}-{2,40}$|_{10,80}[ \t]*$"
    r"|(?:begin forwarded message|inizio messaggio inoltrato|anfang der weitergeleiteten"
    r"|d[ée]but du message r[ée]exp[ée]di[ée]|inicio del mensaje reenviado"
    r"|in[íi]cio da mensagem reencaminhada|begin doorgestuurd bericht"
    r"|vidarebefordrat meddelande)",
    re.IGNORECASE,
)
# The bot's own mail to reviewers: lines its templates start with, and any line with a case tag
# that carries a token (a quoted Subject).
_OWN_TEXT = re.compile(
    r"a delisting request needs a review|case:[ \t]+DL-\d{6}\b|case DL-\d{6} for \S"
    r"|the sender wrote again on case DL-\d{6}|your reply on case DL-\d{6}"
    r"|to decide, reply to this message|reply to this message with approve"
    # the notification's dossier, pasted on its own: other cases, the list entry's reason
    r"|their words:|history:$|block list:[ \t]|delisted before:|earlier cases (?:for|in) "
    r"|the original request is attached",
    re.IGNORECASE,
)
_TOKEN_TAG = re.compile(r"\[DL-\d{6}/[0-9a-fA-F]{16}\]")
# A token after its case id; also one cut short where the extractor's length limit fell.
_TOKENED = re.compile(r"\b(DL-\d{6})[/.](?:[0-9a-fA-F]{16}\b|[0-9a-fA-F]{1,15}\Z)")
# A signature: what follows "-- " is not for the requester.
_SIGNATURE = re.compile(r"--[ \t]?")
# A quote header in any language names the quoted mail's sender: the bot or a colleague. A line
# that holds a team address and ends in a colon (Gmail's and Apple Mail's attribution: "вс, 29
# нояб. 2026 г. в 14:00, <delist@...>:", "... 写道：") or has a label and colon before it
# (Outlook's "Od: delist@...") starts a quote.
_COLONS = (":", "\uff1a")
_LABEL_WIDTH = 40
_ATTRIBUTION_WIDTH = 300
_HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")
TOKEN_LENGTH = 16
REMOVED = "[removed]"


def reviewer_text(text: str, live_tokens: Iterable[str] = (), team: Iterable[str] = ()) -> str:
    """TEXT without quoted lines, quote headers, the bot's own words, a signature, and tokens.
    TEAM: the bot's and the reviewers' addresses, which a quote header names."""
    return scrub(cut(text, team), frozenset(t.lower() for t in live_tokens)).strip()


def cut(text: str, team: Iterable[str] = ()) -> str:
    """Drop '>' lines; stop at the first quote header, banner, signature or line of the bot's
    own text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    addresses = tuple({a.strip().lower() for a in team if "@" in a})
    kept: list[str] = []
    last = -1  # where in KEPT the last line with text is, while it may introduce a quote
    for number, line in enumerate(lines):
        bare = line.strip()
        if bare.startswith(">"):
            if last >= 0 and _introduces_quote(kept[last].strip()):
                del kept[last:]  # an attribution in a language the patterns do not know
            last = -1
            continue
        if _SIGNATURE.fullmatch(line) or _names_team(bare, addresses):
            break
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        if _starts_quote(bare, following, kept[-1].strip() if kept else ""):
            if kept and _wrapped_attribution(bare, kept[-1].strip()):
                kept.pop()  # the attribution began on the line before ("On <date>, X\nwrote:")
            break
        kept.append(line)
        last = len(kept) - 1 if bare else last
    return "\n".join(kept)


def scrub(text: str, live_tokens: frozenset[str]) -> str:
    """No case tag with a token, and no string equal to a live token, anywhere in TEXT."""
    text = _TOKENED.sub(r"\1", text)
    if not live_tokens:
        return text
    return _HEX_RUN.sub(lambda run: _without_tokens(run.group(0), live_tokens), text)


def _starts_quote(line: str, following: str, previous: str) -> bool:
    if not line:
        return False
    if _OWN_TEXT.match(line) or _TOKEN_TAG.search(line) or _BANNER.match(line):
        return True
    if _is_attribution_tail(line) and (_has_digit(line) or _has_digit(previous)):
        return True
    return bool(_OUTLOOK_LABEL.match(line) and _OUTLOOK_LABEL.match(following))


def _introduces_quote(line: str) -> bool:
    """The line right above a quoted block that ends in a colon and holds a date."""
    return len(line) <= _ATTRIBUTION_WIDTH and line.endswith(_COLONS) and _has_digit(line)


def _names_team(line: str, addresses: tuple[str, ...]) -> bool:
    """A quote header in a language the patterns above do not know, naming the bot or a
    colleague: the line ends in a colon, or a colon comes before the address (a label)."""
    lowered = line.lower()
    for address in addresses:
        at = lowered.find(address)
        if at < 0:
            continue
        label = lowered[: min(at, _LABEL_WIDTH)]
        if lowered.endswith(_COLONS) or any(colon in label for colon in _COLONS):
            return True
    return False


def _is_attribution_tail(line: str) -> bool:
    return line.endswith(":") and _ATTRIBUTION.search(line) is not None


def _wrapped_attribution(line: str, previous: str) -> bool:
    """A client wrapped a long attribution: the intro on the line before, the verb on this one."""
    return _is_attribution_tail(line) and not _INTRO.match(line) and bool(_INTRO.match(previous))


def _has_digit(line: str) -> bool:
    return any(c.isdigit() for c in line)


def _without_tokens(run: str, live: frozenset[str]) -> str:
    """A run of hex digits with every live token inside it replaced (one pass, O(len(run)))."""
    lowered, out, start, i = run.lower(), [], 0, 0
    while i + TOKEN_LENGTH <= len(run):
        if lowered[i : i + TOKEN_LENGTH] in live:
            out += [run[start:i], REMOVED]
            i = start = i + TOKEN_LENGTH
        else:
            i += 1
    out.append(run[start:])
    return "".join(out)
