"""What a caller hears from a `<Say>`: its SSML turned into the words a voice speaks.

Polly reads `<say-as interpret-as="digits">52058</say-as>` digit by digit, a telephone number
in its groups, a date as a date; `<sub alias>` says the alias and `<break>` is silence. The
simulated caller, transcripts, scenarios, the crawler, the lint and the trainer page all hear
a `<Say>` through this one function, so `expect` matches what a caller hears.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

#: Turns a piece of text from the tree into the text heard (the renderer's per-call values).
Filler = Callable[[str], str]

_MONTHS = {
    "en": ("January February March April May June July August September October November December").split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}
_TIME = re.compile(r"^\s*([0-9.]+)\s*(ms|s)?\s*$")
_STRENGTH_MS = {"none": 0, "x-weak": 100, "weak": 250, "medium": 400, "strong": 750, "x-strong": 1200}
_DATE = re.compile(r"^([0-9]{1,4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,4})$")


@dataclass(frozen=True)
class Spoken:
    """The words of one `<Say>` as heard, and the seconds of silence its breaks add."""

    text: str
    pause_seconds: float


def spoken(say: ElementTree.Element, language: str | None = None, fill: Filler | None = None) -> Spoken:
    """Return the words a caller hears from `say` (a `<Say>` element with SSML inside).

    `fill`, when given, is applied to every piece of text first: the renderer hears a cached
    document's per-call values this way, as if the filled document had been parsed again.
    """
    lang = (language or say.get("language") or "en-US")[:2].lower()
    parts: list[str] = []
    pauses = [0.0]
    _walk(say, lang, parts, pauses, True, fill)
    text = " ".join(" ".join(parts).split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return Spoken(text, pauses[0])


def spoken_text(say: ElementTree.Element, language: str | None = None, fill: Filler | None = None) -> str:
    """The words only (see `spoken`)."""
    return spoken(say, language, fill).text


def _walk(
    el: ElementTree.Element, lang: str, parts: list[str], pauses: list[float], top: bool, fill: Filler | None
) -> None:
    tag = _local(el.tag)
    if not top:
        if tag == "break":
            pauses[0] += _break_seconds(el)
            parts.append(" ")
            _tail(el, parts, fill)
            return
        if tag == "say-as":
            text = "".join(el.itertext())
            parts.append(
                say_as(el.get("interpret-as", ""), fill(text) if fill else text, lang, el.get("format"))
            )
            _tail(el, parts, fill)
            return
        if tag == "sub":
            text = el.get("alias") or "".join(el.itertext())
            parts.append(fill(text) if fill else text)
            _tail(el, parts, fill)
            return
        if tag == "lang":
            lang = (el.get("{http://www.w3.org/XML/1998/namespace}lang") or el.get("xml:lang") or lang)[
                :2
            ].lower()
        if tag in ("p", "s"):
            parts.append(" ")
    if el.text:
        parts.append(fill(el.text) if fill else el.text)
    for child in el:
        _walk(child, lang, parts, pauses, False, fill)
    if not top:
        if tag in ("p", "s"):
            parts.append(" ")
        _tail(el, parts, fill)


def _tail(el: ElementTree.Element, parts: list[str], fill: Filler | None) -> None:
    if el.tail:
        parts.append(fill(el.tail) if fill else el.tail)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def say_as(kind: str, value: str, lang: str, fmt: str | None = None) -> str:
    """How a voice reads `value` as `kind` (digits, telephone, date, characters, ...)."""
    value = " ".join(value.split())
    if kind in ("digits", "characters", "spell-out"):
        return _groups(value)
    if kind == "telephone":
        return _groups(value)
    if kind == "date":
        return _date(value, lang, fmt or "mdy")
    return value  # cardinal, ordinal, ...: a voice reads them as written


def _groups(value: str) -> str:
    """'85072-2058' -> '8 5 0 7 2, 2 0 5 8': each character, groups split where the text splits."""
    groups = [g for g in re.split(r"[\s().+-]+", value) if g]
    return ", ".join(" ".join(group) for group in groups)


def _date(value: str, lang: str, fmt: str) -> str:
    match = _DATE.match(value.strip())
    if not match:
        return value
    fields = dict(zip(fmt[:3], match.groups(), strict=False))
    try:
        year, month, day = int(fields["y"]), int(fields["m"]), int(fields["d"])
    except (KeyError, ValueError):
        return value
    if not 1 <= month <= 12:
        return value
    months = _MONTHS.get(lang, _MONTHS["en"])
    if lang == "es":
        return f"{day} de {months[month - 1]} de {year}"
    return f"{months[month - 1]} {day}, {year}"


def _break_seconds(el: ElementTree.Element) -> float:
    match = _TIME.match(el.get("time") or "")
    if match:
        number = float(match.group(1))
        return number / 1000 if match.group(2) == "ms" else number
    return _STRENGTH_MS.get(el.get("strength") or "medium", 400) / 1000
