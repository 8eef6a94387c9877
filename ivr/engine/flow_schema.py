"""The shape of a flow file (docs/prompt-writing.md) as pydantic models.

Each field says what it takes and how a wrong value is refused; what needs the whole flow
(state names, callbacks, the key map's meanings, the graph) is checked by `ivr.flow_loader`.
Validate with `context={"languages": (...)}`: every text is checked against those languages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from ivr.engine import markup
from ivr.engine.config import E164, normalize_number
from ivr.engine.flow import KEY_TRIGGERS, STATE_TYPES, TRIGGERS
from ivr.engine.hours import DAY_NAMES
from ivr.engine.schema_errors import fail

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RATE = re.compile(r"^([5-9][0-9]|1[0-9][0-9]|200)%$|^(x-slow|slow|medium|fast|x-fast)$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _check(test: Callable[[Any], bool], message: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not test(value):
            raise fail(message.format(value=value))
        return value

    return BeforeValidator(check)


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _names(value: Any) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise fail("must be a name or a list of names")
    return tuple(names)


def _languages(info: ValidationInfo) -> tuple[str, ...]:
    languages: tuple[str, ...] = (info.context or {})["languages"]
    return languages


def _texts(allow_empty: bool) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> dict[str, str]:
        langs = _languages(info)
        if not isinstance(value, dict):
            raise fail(f"must map each language ({', '.join(langs)}) to a text")
        for lang in langs:
            text = value.get(lang)
            if not isinstance(text, str) or (not text.strip() and not allow_empty):
                raise fail(f"missing the '{lang}' text", lang)
            try:
                markup.parse(text)
            except markup.MarkupError as exc:
                raise fail(str(exc), lang) from exc
        for lang in value:
            if lang not in langs:
                raise fail(f"language '{lang}' is not in the flow's languages")
        return {lang: value[lang].strip() for lang in langs}

    return BeforeValidator(check)


def _speech(every_language: bool) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> dict[str, dict[str, tuple[str, ...]]]:
        langs = _languages(info)
        if not isinstance(value, dict):
            raise fail("must map keys to words by language")
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for key, words in value.items():
            if str(key) not in KEY_TRIGGERS:
                raise fail(f"'{key}' is not a phone key (0-9, *, #)", key)
            if not isinstance(words, dict):
                raise fail("must map each language to a list of words", key)
            for lang, phrases in words.items():
                if lang not in langs:
                    raise fail(f"language '{lang}' is not in the flow's languages", key)
                if not (isinstance(phrases, list) and all(isinstance(p, str) for p in phrases)):
                    raise fail("must be a list of words", key, lang)
            for lang in langs:
                if lang not in words and every_language:
                    raise fail(f"missing the '{lang}' words", key, lang)
            out[str(key)] = {lang: tuple(p.strip() for p in ps if p.strip()) for lang, ps in words.items()}
        return out

    return BeforeValidator(check)


def _phone_keys(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail("must map keys (0-9, *, #) to a state, repeat or language")
    for key in value:
        if str(key) not in KEY_TRIGGERS:
            raise fail(f"'{key}' is not a phone key (0-9, *, #)", key)
    return {str(k): v for k, v in value.items()}


def _numbers(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail("must be a list of phone numbers such as ['+18002372765']")
    for number in value:
        if not E164.match(normalize_number(str(number))):
            raise fail(f"{number!r} is not a phone number in E.164 form")
    return tuple(normalize_number(str(n)) for n in value)


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder such as America
        raise fail(f"unknown time zone {value!r}") from exc
    return str(value)


def _days(value: Any) -> frozenset[int]:
    if value == []:
        raise fail("needs at least one day, such as [mon, tue, wed, thu, fri]")
    days: set[int] = set()
    for day in value if isinstance(value, list) else [value]:
        key = str(day).strip().lower()
        if key not in DAY_NAMES and key not in _FULL_DAY_NAMES:
            raise fail(f"unknown day {day!r}; use mon..sun")
        days.add(DAY_NAMES.index(key[:3]))
    return frozenset(days)


def _minute(value: Any) -> int:
    match = _TIME.match(str(value))
    if not match:
        raise fail("must be a 24-hour time such as 08:00")
    return int(match.group(1)) * 60 + int(match.group(2))


Name = Annotated[
    str, _check(lambda v: isinstance(v, str) and bool(NAME.match(v)), "must be a lower-case identifier")
]
Texts = Annotated[dict[str, str], _texts(allow_empty=False)]
Callbacks = Annotated[tuple[str, ...], BeforeValidator(_names)]
Digits = Annotated[int, _check(_whole(1, 64), "must be a whole number from 1 to 64")]
Seconds = Annotated[int, _check(_whole(1, 60), "must be a whole number of seconds from 1 to 60")]
Rate = Annotated[
    str,
    _check(
        lambda v: isinstance(v, str) and bool(_RATE.match(v)),
        "must be a speaking rate such as 85% (50%-200%) or slow",
    ),
]
Target = Annotated[str, _check(lambda v: isinstance(v, str), "must be a state name")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Gather(_Section):
    """How an entry state collects digits."""

    input: Any = None  # always DTMF; kept for files that say so
    num_digits: Digits | None = None
    finish_on_key: Annotated[
        str, BeforeValidator(str), _check(lambda v: str(v) in ("", "#", "*"), "must be '#', '*' or ''")
    ] = "#"
    timeout: Digits | None = None
    max_digits: Digits | None = None


class State(_Section):
    """One state: what it says and how it listens."""

    name: Name
    type: Annotated[
        str,
        _check(
            lambda v: isinstance(v, str) and v in STATE_TYPES,
            f"must be one of {', '.join(sorted(STATE_TYPES))}",
        ),
    ]
    prompt: Texts | None = None
    reprompt: Texts | None = None
    confirm: Texts | None = None
    speech: Annotated[dict[str, dict[str, tuple[str, ...]]], _speech(every_language=True)] = {}
    gather: Gather | None = None
    desk: Any = None  # a transfer's desk: checked with the state's type
    secret: bool = False
    description: Any = None
    offer_language: bool = False

    @model_validator(mode="after")
    def _says_something(self, info: ValidationInfo) -> State:
        if self.type != "start" and self.prompt is None:
            langs = ", ".join(_languages(info))
            raise fail(f"must map each language ({langs}) to a text", "prompt")
        return self


class Transition(_Section):
    """One transition, in the shape `transitions` takes; `source` may list several states."""

    trigger: Annotated[
        str,
        _check(
            lambda v: isinstance(v, str) and v in TRIGGERS,
            "unknown trigger {value!r}; allowed: " + ", ".join(sorted(TRIGGERS)),
        ),
    ]
    source: Annotated[tuple[str, ...], BeforeValidator(_names)]
    dest: Target
    conditions: Callbacks = ()
    unless: Callbacks = ()
    before: Callbacks = ()
    after: Callbacks = ()


class Hours(_Section):
    """Opening hours, in one time zone."""

    timezone: Annotated[str, BeforeValidator(_timezone)] = "America/Chicago"
    days: Annotated[frozenset[int], BeforeValidator(_days)] = frozenset(range(len(DAY_NAMES)))
    open: Annotated[int, BeforeValidator(_minute)] = Field(default=None, validate_default=True)
    close: Annotated[int, BeforeValidator(_minute)] = Field(default=None, validate_default=True)

    @model_validator(mode="after")
    def _open_before_close(self) -> Hours:
        if self.open >= self.close:
            raise fail("must be later than hours.open", "close")
        return self


class Pace(_Section):
    """How patiently a line listens and how fast it speaks."""

    timeout: Seconds = 6
    entry_timeout: Seconds = 10
    rate: Rate | None = None


class FlowFile(_Section):
    """A whole flow file (after `extends` is merged, when it extends another)."""

    name: Name | None = None
    title: str | None = None
    description: Any = None
    extends: str | None = None
    languages: Annotated[
        list[str],
        _check(
            lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
            "must be a list of language codes such as [en, es]",
        ),
    ] = ["en", "es"]
    initial: Any = None  # a state's name: checked against the states
    states: list[State] = []
    transitions: list[Transition] = []
    extra_states: list[State] | None = None
    extra_transitions: list[Transition] | None = None
    messages: dict[str, Texts] = {}
    speech: Annotated[dict[str, dict[str, tuple[str, ...]]], _speech(every_language=False)] = {}
    greeting: Annotated[dict[str, str], _texts(allow_empty=True)] | None = None
    warning: Annotated[dict[str, str], _texts(allow_empty=True)] | None = None
    hours: Hours | None = None
    numbers: Annotated[tuple[str, ...], BeforeValidator(_numbers)] = ()
    keys: Annotated[dict[str, Any], BeforeValidator(_phone_keys)] = {}
    pace: Pace | None = None
    failover: Any = None  # state names: checked against the states
    finished: Any = None
    lint: dict[str, Any] = {}
