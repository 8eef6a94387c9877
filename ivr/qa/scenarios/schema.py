"""The shape of a scenario file (docs/scenarios.md) as pydantic models.

Each value is checked where it is declared, with the message a QA person needs; what needs
the whole file (`line:` or `to:`, our lines' numbers, a scenario that checks nothing) is
checked by `ivr.scenarios.loader`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ivr.engine.flow import PHONE_KEYS
from ivr.engine.schema_errors import fail
from ivr.qa.scenarios.model import CHECK_KINDS, DEFAULT_CONFIDENCE, DEFAULT_THRESHOLD, OUTCOME_KINDS
from ivr.sim.number import CALL_EVENTS

ACTIONS = (
    "press",
    "say",
    "silence",
    "hangup",
    "wait",
    "expect",
    "expect_state",
    "expect_language",
    "far_end",
    "dequeue",
    "record",
    "join_conference",
)
FAR_END_ANSWERS = ("answer", "busy", "no-answer", "failed")


def describe(value: Any) -> str:
    """What a value is, as a message says it: "nothing", "a list", "'x' (str)"."""
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r} ({type(value).__name__})"


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise fail(f"{describe(value)}; write some text here")
    text = str(value).strip()
    if not text:
        raise fail("empty; write some text here")
    return text


def _number(low: float, high: float | None) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"{value!r} is not a number")
        if value < low or (high is not None and value > high):
            span = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise fail(f"{value!r} is out of range; use a number {span}")
        return float(value)

    return check


def _keys(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise fail(
            f'{value} was read as a number (YAML drops leading zeros); quote the keys: press: "{value}"'
        )
    if not isinstance(value, str) or not value:
        raise fail(f'{describe(value)}; press takes keys as text, e.g. press: "1"')
    bad = [k for k in value if k not in PHONE_KEYS]
    if bad:
        raise fail(f"{bad[0]!r} is not a phone key; use 0-9, * and #")
    return value


def _phone(value: Any, key: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise fail(f'{value} was read as a number (YAML drops a leading +); quote it: {key}: "+{value}"')
    return _text(value)


def _now(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # YAML reads an unquoted timestamp as a datetime
    if isinstance(value, date) or not isinstance(value, str):
        raise fail(
            f"{value!r} is not a date and time; use ISO 8601 such as "
            '"2026-11-23T21:30:00-06:00" (a time without offset is Central)'
        )
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f'{value!r} is not an ISO 8601 time; use e.g. "2026-11-23T21:30:00-06:00"') from exc
    return value


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise fail(f"{value!r} is not a list of words; write e.g. [billing, smoke]")
    return tuple(value)


def _outcome_kind(value: Any) -> str:
    text = _text(value)
    if text not in OUTCOME_KINDS:
        raise fail(f"{text!r} is not a way a call ends; use one of {', '.join(OUTCOME_KINDS)}")
    return text


def _absent_or(check: Callable[[Any], str]) -> BeforeValidator:
    return BeforeValidator(lambda v: None if v is None else check(v))


def _a(kind_of: Callable[[Any], bool], message: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not kind_of(value):
            raise fail(f"{describe(value)}; {message}")
        return value

    return BeforeValidator(check)


def _short(key: str) -> BeforeValidator:
    """`say: words` for `say: {text: words}`, `expect: words` for `expect: {contains: words}`."""
    return BeforeValidator(lambda v: v if isinstance(v, dict) else {key: _text(v)})


Text = Annotated[str, BeforeValidator(_text)]
Ratio = Annotated[float, BeforeValidator(_number(0.0, 1.0))]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class SayValue(_Section):
    """`say: {text, confidence}`: speech, heard with this confidence."""

    text: Text | None = None
    confidence: Ratio = DEFAULT_CONFIDENCE

    @model_validator(mode="after")
    def _has_text(self) -> SayValue:
        if self.text is None:
            raise fail("missing; write say: {text: representative, confidence: 0.6}", "text")
        return self


class ExpectValue(_Section):
    """`expect: {contains | not_contains | regex | fuzzy, threshold}`: one check of what was heard."""

    contains: Text | None = None
    not_contains: Text | None = None
    regex: Text | None = None
    fuzzy: Text | None = None
    play: Text | None = None
    play_regex: Text | None = None
    pause: Annotated[float | None, BeforeValidator(_number(0.0, None))] = None
    threshold: Ratio | None = None

    @model_validator(mode="after")
    def _one_check(self) -> ExpectValue:
        kinds = [k for k in CHECK_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = f"{' and '.join(kinds)} together" if kinds else "no check"
            raise fail(f"{found}; give exactly one of {', '.join(CHECK_KINDS)}")
        if self.threshold is not None and kinds[0] != "fuzzy":
            raise fail(f"threshold only goes with fuzzy, not {kinds[0]}", "threshold")
        for key in ("regex", "play_regex"):
            pattern = getattr(self, key)
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                raise fail(
                    f"{pattern!r} does not compile ({exc}); escape special characters "
                    "with a backslash, e.g. \\? or \\(",
                    key,
                ) from exc
        return self

    @property
    def kind(self) -> str:
        return next(k for k in CHECK_KINDS if getattr(self, k) is not None)

    @property
    def threshold_or_default(self) -> float:
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold


def _no_value(action: str) -> BeforeValidator:
    def check(value: Any) -> None:
        if value not in (None, True):
            raise fail(f"{action} takes no value; write `- {action}`")

    return BeforeValidator(check)


Seconds = Annotated[float | None, BeforeValidator(lambda v: None if v is None else _number(0.0, None)(v))]


def _far_answer(value: Any) -> str:
    text = _text(value)
    if text not in FAR_END_ANSWERS:
        raise fail(f"{text!r} is not what a far end does; use one of {', '.join(FAR_END_ANSWERS)}")
    return text


def _dial_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(f"{describe(value)}; give which <Dial> of the call, counting from 1, e.g. dial: 2")
    return value


def _target(value: Any) -> str:
    text = _phone(value, "to")
    if ":" in text and text.split(":", 1)[0] not in ("number", "client", "sip"):
        raise fail(f'{text!r}: write a number ("+15551234567"), client:NAME or sip:URI')
    return text


Target = Annotated[str | None, _absent_or(_target)]


class FarEndValue(_Section):
    """`far_end: busy` or `far_end: {answer, ring, talk, caller_hangs_up, star_after,
    answered_by, dial | to}`: what a far end does, for the Nth <Dial> (`dial`), for every
    <Dial> that rings a target (`to`), or for the next <Dial> no other plan claims."""

    answer: Annotated[str, BeforeValidator(_far_answer)] = "answer"
    ring: Seconds = None
    talk: Seconds = None
    caller_hangs_up: Seconds = None
    star_after: Seconds = None
    answered_by: Target = None
    dial: Annotated[int | None, _absent_or(_dial_number)] = None
    to: Target = None

    @model_validator(mode="after")
    def _one_choice(self) -> FarEndValue:
        if self.dial is not None and self.to is not None:
            raise fail("give dial (which <Dial>) or to (which target), not both", "to")
        return self


class DequeueValue(_Section):
    """`dequeue: {after, talk, queue, url, caller_hangs_up, transfer}`: an agent picks up the
    next caller to enter `queue` (default: any queue)."""

    after: Seconds = 0.0
    talk: Seconds = None
    queue: Annotated[str | None, _absent_or(_text)] = None
    url: Annotated[str | None, _absent_or(_text)] = None
    caller_hangs_up: Seconds = None
    transfer: Annotated[str | None, _absent_or(_text)] = None


class RecordValue(_Section):
    """`record: {say, seconds, finish}`: what the caller records at a <Record>."""

    say: Annotated[str, BeforeValidator(lambda v: "" if v is None else _text(v))] = ""
    seconds: Seconds = None
    finish: Annotated[
        str | None, BeforeValidator(lambda v: None if v is None else (v if v == "hangup" else _keys(v)))
    ] = None


class JoinValue(_Section):
    """`join_conference: {after, talk, start, end_on_exit, room}`: another participant joins."""

    after: Seconds = 0.0
    talk: Seconds = None
    start: bool = True
    end_on_exit: bool = False
    room: Annotated[str | None, _absent_or(_text)] = None


class Step(_Section):
    """One step: a mapping with exactly one action, or the bare word silence or hangup."""

    press: Annotated[str | None, BeforeValidator(_keys)] = None
    say: Annotated[SayValue | None, _short("text")] = None
    silence: Annotated[None, _no_value("silence")] = None
    hangup: Annotated[None, _no_value("hangup")] = None
    wait: Annotated[float | None, BeforeValidator(_number(0.0, None))] = None
    expect: Annotated[ExpectValue | None, _short("contains")] = None
    expect_state: Annotated[str | None, BeforeValidator(_text)] = None
    expect_language: Annotated[str | None, BeforeValidator(_text)] = None
    far_end: Annotated[FarEndValue | None, _short("answer")] = None
    dequeue: DequeueValue | None = None
    record: Annotated[RecordValue | None, _short("say")] = None
    join_conference: JoinValue | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, raw: Any) -> Any:
        if raw in ("silence", "hangup"):
            return {raw: None}
        if isinstance(raw, str):
            raise fail(
                f"{raw!r} is not a step; only silence and hangup stand alone; write e.g. "
                '`- press: "1"` or `- expect: Billing`'
            )
        if not isinstance(raw, dict) or not raw:
            raise fail(f"{describe(raw)}; a step is a mapping with one action: {', '.join(ACTIONS)}")
        if len(raw) > 1 and all(k in ACTIONS for k in raw):
            names = ", ".join(repr(k) for k in raw)
            raise fail(f"two actions in one step ({names}); give each its own `- ` item", list(raw)[1])
        return raw

    @property
    def action(self) -> str:
        [action] = self.model_fields_set
        return action


def _code(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise fail(f"{describe(value)}; give Twilio's error code, e.g. code: 11200")
    return str(value)


class OutcomeValue(_Section):
    """How the call must end; every field optional."""

    kind: Annotated[str | None, BeforeValidator(_outcome_kind)] = None
    target: Annotated[str | None, BeforeValidator(_text)] = None
    state: Annotated[str | None, BeforeValidator(_text)] = None
    language: Annotated[str | None, BeforeValidator(_text)] = None
    code: Annotated[str | None, BeforeValidator(_code)] = None

    @model_validator(mode="after")
    def _code_is_for_errors(self) -> OutcomeValue:
        if self.code is not None and self.kind not in (None, "error"):
            raise fail(f"code goes with kind error, not {self.kind}", "code")
        return self


def _method(value: Any) -> str:
    text = _text(value).upper()
    if text not in ("GET", "POST"):
        raise fail(f"{value!r} is not GET or POST")
    return text


def _events(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise fail(f"{describe(value)}; list the events, e.g. [initiated, ringing, answered, completed]")
    bad = [e for e in items if e not in CALL_EVENTS]
    if bad:
        raise fail(f"{bad[0]!r} is not a call event; use {', '.join(CALL_EVENTS)}")
    return tuple(items)


class NumberValue(_Section):
    """`number:` the Twilio number's voice settings, as the console sets them."""

    voice_url: Annotated[str | None, _absent_or(_text)] = None
    voice_method: Annotated[str | None, _absent_or(_method)] = None
    status_callback: Annotated[str | None, _absent_or(_text)] = None
    status_callback_method: Annotated[str | None, _absent_or(_method)] = None
    status_callback_events: Annotated[
        tuple[str, ...] | None, BeforeValidator(lambda v: None if v is None else _events(v))
    ] = None
    fallback_url: Annotated[str | None, _absent_or(_text)] = None
    fallback_method: Annotated[str | None, _absent_or(_method)] = None


def _caller_fields(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise fail(f"{describe(value)}; write e.g. caller_fields: {{from_state: CA, from_city: Oakland}}")
    bad = [k for k, v in value.items() if isinstance(v, dict | list) or v is None]
    if bad:
        raise fail(f"{bad[0]!r} needs a text value, e.g. {bad[0]}: CA")
    return {k: str(v) for k, v in value.items()}


class ScenarioFile(_Section):
    """A whole scenario file."""

    name: Annotated[str | None, BeforeValidator(_text)] = None
    line: Annotated[str | None, _absent_or(_text)] = None
    to: Annotated[str | None, _absent_or(lambda v: _phone(v, "to"))] = None
    caller: Annotated[str | None, BeforeValidator(lambda v: _phone(v, "from"))] = Field(
        default=None, alias="from"
    )
    now: Annotated[str | None, _absent_or(_now)] = None
    tags: Annotated[tuple[str, ...], BeforeValidator(_tags)] = ()
    number: Annotated[
        NumberValue | None,
        _a(
            lambda v: v is None or isinstance(v, dict),
            "number is a mapping such as {voice_url: /ivr/welcome}",
        ),
    ] = None
    caller_fields: Annotated[
        dict[str, str] | None, BeforeValidator(lambda v: None if v is None else _caller_fields(v))
    ] = None
    steps: Annotated[
        list[Step], _a(lambda v: isinstance(v, list), "steps is a list, one `- ` item per step")
    ] = []
    outcome: Annotated[
        OutcomeValue | None,
        _a(
            lambda v: v is None or isinstance(v, dict),
            "outcome is a mapping such as {kind: enqueue, target: sim-representative}",
        ),
    ] = None
