"""Turn what a caller said into the key it stands for, per state and language."""

from __future__ import annotations

import re
import unicodedata

from ivr.engine.flow import KEY_TRIGGERS, Flow

_NUMBER_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
    "pound": "#",
    "hash": "#",
    "cero": "0",
    "uno": "1",
    "dos": "2",
    "tres": "3",
    "cuatro": "4",
    "cinco": "5",
    "seis": "6",
    "siete": "7",
    "ocho": "8",
    "nueve": "9",
    "asterisco": "*",
    "numeral": "#",
    "gato": "#",
}
_PREFIXES = ("press ", "option ", "oprima ", "opcion ", "marque ", "el ", "la ", "number ")
_NON_WORD = re.compile(r"[^a-z0-9*# ]+")
MAX_SPEECH = 500


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces: 'Español!' -> 'espanol'."""
    decomposed = unicodedata.normalize("NFKD", text[:MAX_SPEECH].lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", plain).split())


class SpeechTable:
    """Per state and language, the phrases that pick each key, longest first."""

    def __init__(self, flow: Flow) -> None:
        self._table: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.hints: dict[tuple[str, str], str] = {}
        for name, spec in flow.states.items():
            keys = flow.keys_at(name)
            for lang in flow.languages:
                pairs: list[tuple[str, str]] = []
                shown: list[str] = []
                for key in keys:
                    words = spec.speech.get(key) or flow.speech.get(key) or {}
                    for phrase in words.get(lang, ()):
                        pairs.append((normalize(phrase), key))
                        shown.append(phrase)
                pairs.sort(key=lambda pair: -len(pair[0]))
                self._table[(name, lang)] = pairs
                self.hints[(name, lang)] = ", ".join(dict.fromkeys(shown))

    def key_for(self, state: str, lang: str, said: str, valid_keys: tuple[str, ...]) -> str | None:
        """Return the key `said` picks at `state`, or None when it matches nothing there."""
        text = normalize(said)
        if not text:
            return None
        bare = text
        for prefix in _PREFIXES:
            if bare.startswith(prefix):
                bare = bare[len(prefix) :]
        bare = _NUMBER_WORDS.get(bare, bare)
        if bare in KEY_TRIGGERS and bare in valid_keys:
            return bare
        padded = f" {text} "
        for phrase, key in self._table.get((state, lang), ()):
            if phrase and f" {phrase} " in padded:
                return key
        return None
