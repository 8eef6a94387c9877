"""Checks on the words themselves: one language per `<Say>`, numbers only in typed markup."""

from __future__ import annotations

import re

from ivr.engine import markup

#: Function words of one language that the other does not use: two of them in a `<Say>` of the
#: other language mean a sentence of it is there. Capitalised words within a sentence are
#: names (Medicare, Caremark, Puerto Rico, Los Angeles) and never count.
FOREIGN_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "oprima oprimir marque para su sus usted ustedes el los las del por favor gracias llamada "
        "español espanol escuchar hablar opciones otra vez que una con está tecla número y es "
        "de la".split()
    ),
    "es": frozenset(
        "press dial the your you for to and please with of is are this that call hear again speak "
        "english options thank thanks what".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SENTENCE_END = re.compile(r"[.;:!?]\s*$")
#: A bare run of five or more digits (spaces, hyphens or dots between them), or a phone number.
_BARE_DIGITS = re.compile(r"(?<![\w{])\+?\d(?:[ .-]?\d){4,}(?!\w)")
_BARE_PHONE = re.compile(r"\(\d{3}\)\s*\d{3}[ .-]?\d{4}")


def foreign_words(text: str, lang: str) -> list[str]:
    """The other language's function words in `text`, spoken by a `lang` voice (empty: none)."""
    others = FOREIGN_WORDS.get(lang)
    if others is None:
        return []
    found: list[str] = []
    start_of_sentence = True
    previous_end = 0
    for match in _WORD.finditer(text):
        between = text[previous_end : match.start()]
        if previous_end and _SENTENCE_END.search(between.rstrip() + " "):
            start_of_sentence = True
        word = match.group(0)
        is_name = word[0].isupper() and not start_of_sentence
        if not is_name and word.lower() in others and word.lower() not in found:
            found.append(word.lower())
        start_of_sentence = False
        previous_end = match.end()
    return found if len(found) >= 2 else []


def bare_numbers(text: str) -> list[str]:
    """Digit strings and phone numbers written outside typed markup, as written."""
    found: list[str] = []
    for segment in markup.parse(text):
        if isinstance(segment, markup.Text):
            for pattern in (_BARE_PHONE, _BARE_DIGITS):
                for match in pattern.finditer(segment.text):
                    number = match.group(0).strip()
                    if not any(number in seen or seen in number for seen in found):
                        found.append(number)
    return found


def markup_for(number: str) -> str:
    """How to write a bare number in typed markup."""
    digits = re.sub(r"\D", "", number)
    if len(digits) >= 10 or _BARE_PHONE.fullmatch(number):
        shaped = "-".join(g for g in re.split(r"[^\d]+", number) if g)
        return "{phone:" + shaped + "}"
    return "{digits:" + re.sub(r"[^\d -]", "", number).strip() + "}"
