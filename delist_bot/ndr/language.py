"""Guess the language of a requester's own words from their most common function words.

Requests are a few sentences long, where statistical detectors guess wildly; function words
are decisive and cost microseconds. Unsure means None.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and is are our we you your please this that with for from have has been ip "
        "address blocked thanks thank regards hello hi can could would us not was it of to be "
        "remove removal delist "
    ),
    "it": _words(
        "il lo la gli le di del della dei che è sono non per con una un nostro nostra nostri "
        "grazie salve buongiorno cordiali saluti vi chiediamo siamo stato stati indirizzo "
        "questo questa rimozione bloccato potete gentilmente nella sul "
    ),
    "de": _words(
        "der die das und ist sind nicht wir sie ihr unser unsere unseren mit für von bitte "
        "danke vielen grüßen freundlichen hallo guten tag wurde wurden gesperrt adresse "
        "entfernen können sehr geehrte damen herren auf "
    ),
    "fr": _words(
        "le la les des du de est sont nous vous votre notre pour avec une un pas merci "
        "bonjour cordialement adresse bloquée bloqué retirer pouvez liste ce cette été dans "
        "sur svp veuillez "
    ),
    "es": _words(
        "el la los las del de es son nosotros usted su nuestro nuestra para con una un no "
        "gracias hola saludos dirección bloqueada bloqueado eliminar pueden lista este esta "
        "sido por favor en que "
    ),
    "pt": _words(
        "o a os as do da dos das de é são nós você seu sua nosso nossa para com uma um não "
        "obrigado obrigada olá atenciosamente endereço bloqueado bloqueada remover podem "
        "lista este esta foi em que favor "
    ),
}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    word: tuple(lang for lang, vocab in STOPWORDS.items() if word in vocab)
    for word in frozenset().union(*STOPWORDS.values())
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_MIN_HITS = 3
_MARGIN = 1.5
_MAX_CHARS = 4000


def detect_language(text: str, hint: str | None = None) -> str | None:
    """Two-letter code of the dominant language, or None when the evidence is thin."""
    scores = dict.fromkeys(STOPWORDS, 0)
    for word in _WORD.findall(text[:_MAX_CHARS]):
        for language in _LANGUAGES_OF.get(word.lower(), ()):
            scores[language] += 1
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top >= _MIN_HITS and top >= second * _MARGIN:
        return best
    if hint in STOPWORDS and (top < _MIN_HITS or scores[hint] == top):
        return hint
    return None
