"""Reading a menu out of what a caller hears: the keys a prompt names, fingerprints, phrases."""

from __future__ import annotations

import hashlib
import re
from xml.etree import ElementTree

from ivr.engine.ssml import spoken_text

_KEY_WORDS: dict[str, str] = {
    **{str(d): str(d) for d in range(10)},
    **dict(zip("zero one two three four five six seven eight nine".split(), "0123456789", strict=True)),
    **dict(zip("cero uno dos tres cuatro cinco seis siete ocho nueve".split(), "0123456789", strict=True)),
    "star": "*",
    "asterisk": "*",
    "asterisco": "*",
    "la tecla asterisco": "*",
    "pound": "#",
    "hash": "#",
    "numeral": "#",
    "la tecla de número": "#",
    "la tecla numeral": "#",
}
_KEY_ALT = "|".join(re.escape(w) for w in sorted(_KEY_WORDS, key=len, reverse=True))
_PRESS = re.compile(
    rf"\b(?:press|push|dial|oprima|pulse|presione|marque)\s+(?:the\s+)?({_KEY_ALT})(?!\w)", re.IGNORECASE
)
_LISTED = re.compile(rf"\s*(?:or\s+|o\s+)?({_KEY_ALT})\s+(?:for|to|para)\b", re.IGNORECASE)
_REPEAT = re.compile(r"\b(again|repeat|otra vez|repetir|repita)\b", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.;!?])\s+")


def _gather_text(gather: ElementTree.Element) -> str:
    return " ".join(spoken_text(say) for say in gather.iter("Say"))


def _digest(text: str) -> str:
    normal = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    return hashlib.sha256(normal.encode()).hexdigest()[:10]


def _excerpt(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def mentioned_keys(text: str) -> dict[str, str]:
    """Keys a prompt tells the caller to press, each with the words that name it."""
    found: dict[str, str] = {}
    for sentence in _SENTENCES.split(text):
        for match in _PRESS.finditer(sentence):
            found.setdefault(_KEY_WORDS[match.group(1).lower()], sentence.strip())
            for part in sentence[match.end() :].split(",")[1:]:
                listed = _LISTED.match(part)
                if listed:
                    found.setdefault(_KEY_WORDS[listed.group(1).lower()], sentence.strip())
    return found


def _distinctive(text: str, corpus: str) -> str | None:
    """A phrase of `text` heard in no other state (`corpus`: every state's words, one a line).

    Long phrases and late ones (the prompt, after any notice) come first; digits are avoided,
    as some vary per call (reference numbers).
    """
    own = text.lower()
    sentences = [s.split() for s in _SENTENCES.split(text) if s.strip()]
    fallback: str | None = None
    for size in range(8, 2, -1):
        for words in reversed(sentences):
            for start in range(len(words) - size + 1):
                window = " ".join(words[start : start + size])
                if any(c.isdigit() for c in window):
                    continue
                fallback = fallback or window
                if corpus.count(window.lower()) == own.count(window.lower()):
                    return window
    return fallback
