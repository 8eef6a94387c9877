"""Typed markup in flow texts: prompt writers type `{phone:1-866-224-2741}`, never SSML.

A text is parsed into segments once; the renderer turns them into SSML with twilio's own
`<Say>` builder (`say_as`, `break_`), and every other face hears them through the same SSML
(`ivr.sim.ssml`). Markup:

    {phone:1-866-224-2741}  telephone      {digits:52058}  digits one by one
    {date:1956-03-07}       a date         {pause} / {pause:1s}  silence
    {reference}             a placeholder declared in ivr/engine/placeholders.py
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ivr.engine.errors import EXIT_BAD_INPUT, IvrError
from ivr.engine.placeholders import PLACEHOLDERS

_BRACES = re.compile(r"\{([^{}]*)\}")
_PAUSE = re.compile(r"^([0-9]{1,4})(ms|s)$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{6,20}[0-9]$")
_DIGITS = re.compile(r"^[0-9][0-9 -]*[0-9]$|^[0-9]$")
TYPES = ("phone", "digits", "date", "pause")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class SayAs:
    """A value read as `interpret_as` (telephone, digits, date), with an optional format."""

    interpret_as: str
    value: str
    format: str | None = None


@dataclass(frozen=True)
class Pause:
    time: str  # SSML time, e.g. "500ms"


@dataclass(frozen=True)
class Slot:
    """A placeholder filled per call."""

    name: str


Segment = Text | SayAs | Pause | Slot


class MarkupError(IvrError, ValueError):
    """A text's markup is malformed; the message says how to write it."""

    exit_code = EXIT_BAD_INPUT


def parse(text: str) -> tuple[Segment, ...]:
    """Parse a flow text into segments; raise MarkupError naming the bad markup."""
    out: list[Segment] = []
    pos = 0
    for match in _BRACES.finditer(text):
        if match.start() > pos:
            out.append(Text(text[pos : match.start()]))
        out.append(_segment(match.group(1).strip()))
        pos = match.end()
    rest = text[pos:]
    if "{" in rest or "}" in rest:
        raise MarkupError("an unmatched brace; markup is {type:value}, e.g. {digits:52058}")
    if rest:
        out.append(Text(rest))
    return tuple(out)


def _segment(inner: str) -> Segment:
    kind, sep, value = inner.partition(":")
    kind, value = kind.strip(), value.strip()
    if not sep:
        if kind == "pause":
            return Pause("500ms")
        if kind in PLACEHOLDERS:
            return Slot(kind)
        raise MarkupError(
            f"unknown placeholder {{{kind}}}; placeholders: {', '.join(sorted(PLACEHOLDERS))}; "
            f"markup: {', '.join('{' + t + ':…}' for t in TYPES)}"
        )
    if kind == "phone":
        if not _PHONE.match(value):
            raise MarkupError(f"{{phone:{value}}} is not a phone number such as 1-866-224-2741")
        return SayAs("telephone", value)
    if kind == "digits":
        if not _DIGITS.match(value):
            raise MarkupError(f"{{digits:{value}}} must be digits, spaces or hyphens, e.g. 85072-2058")
        return SayAs("digits", value)
    if kind == "date":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise MarkupError(f"{{date:{value}}} must be a date as YYYY-MM-DD") from None
        return SayAs("date", f"{day.month:02d}/{day.day:02d}/{day.year:04d}", "mdy")
    if kind == "pause":
        match = _PAUSE.match(value)
        if not match or (match.group(2) == "s" and int(match.group(1)) > 10):
            raise MarkupError(f"{{pause:{value}}} must be a time such as 500ms or 1s (at most 10s)")
        return Pause(value)
    raise MarkupError(f"unknown markup type '{kind}'; use one of {', '.join(TYPES)}")


def slots(segments: tuple[Segment, ...]) -> tuple[str, ...]:
    """The placeholder names a text uses."""
    return tuple(s.name for s in segments if isinstance(s, Slot))


def plain(text: str) -> str:
    """A text with its markup as written words (for diagrams and labels): '{digits:52058}' -> '52058'."""

    def word(match: re.Match[str]) -> str:
        kind, sep, value = match.group(1).partition(":")
        if not sep:
            return "" if kind.strip() == "pause" else "…"
        return "" if kind.strip() == "pause" else value.strip()

    return " ".join(_BRACES.sub(word, text).split())
