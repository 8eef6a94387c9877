"""A scenario as data: one scripted call, its steps and the outcome it must reach."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.sim.callers import TEST_CALLER

#: How a call may end (`Outcome.kind` of the simulator).
OUTCOME_KINDS = ("enqueue", "dial", "hangup", "reject", "completed", "caller-hangup", "error")
#: The ways `expect` can check what was heard.
CHECK_KINDS = ("contains", "not_contains", "regex", "fuzzy", "play", "play_regex", "pause")
#: Checks of the sounds heard (ivr.sim.Heard), not of the words.
SOUND_KINDS = ("play", "play_regex", "pause")
DEFAULT_THRESHOLD = 0.8
DEFAULT_CONFIDENCE = 0.92
DEFAULT_CALLER = TEST_CALLER


@dataclass(frozen=True)
class Check:
    """What an `expect` step looks for in what was heard since the last input."""

    kind: str  # one of CHECK_KINDS
    text: str
    threshold: float = DEFAULT_THRESHOLD
    pattern: re.Pattern[str] | None = None  # compiled `regex` or `play_regex`

    def describe(self) -> str:
        if self.kind == "pause":
            return f"a pause of {self.text}s"
        if self.kind == "fuzzy":
            return f"fuzzy {self.text!r} (threshold {self.threshold:g})"
        return f"{self.kind.replace('_', ' ')} {self.text!r}"


@dataclass(frozen=True)
class Press:
    number: int
    keys: str

    def describe(self) -> str:
        return f"press {self.keys}"


@dataclass(frozen=True)
class Say:
    number: int
    text: str
    confidence: float = DEFAULT_CONFIDENCE

    def describe(self) -> str:
        extra = "" if self.confidence == DEFAULT_CONFIDENCE else f" (confidence {self.confidence:g})"
        return f"say {self.text!r}{extra}"


@dataclass(frozen=True)
class Silence:
    number: int

    def describe(self) -> str:
        return "silence"


@dataclass(frozen=True)
class Hangup:
    number: int

    def describe(self) -> str:
        return "hangup"


@dataclass(frozen=True)
class Wait:
    number: int
    seconds: float

    def describe(self) -> str:
        return f"wait {self.seconds:g}s"


@dataclass(frozen=True)
class Expect:
    number: int
    check: Check

    def describe(self) -> str:
        return f"expect {self.check.describe()}"


@dataclass(frozen=True)
class ExpectState:
    number: int
    state: str

    def describe(self) -> str:
        return f"expect state {self.state}"


@dataclass(frozen=True)
class ExpectLanguage:
    number: int
    language: str

    def describe(self) -> str:
        return f"expect language {self.language}"


@dataclass(frozen=True)
class FarEndPlan:
    """What a far end does (ivr.sim.switch.FarEnd fields): of the call's `dial`-th <Dial>, of
    every <Dial> that rings `to`, or (neither) of the next <Dial> no other plan claims."""

    number: int
    answer: str = "answer"
    ring: float | None = None
    talk: float | None = None
    caller_hangs_up: float | None = None
    star_after: float | None = None
    answered_by: str | None = None
    dial: int | None = None
    to: str | None = None

    def describe(self) -> str:
        which = f" (dial {self.dial})" if self.dial else f" ({self.to})" if self.to else ""
        by = f", answered by {self.answered_by}" if self.answered_by else ""
        talks = f", talks {self.talk:g}s" if self.talk is not None else ""
        return f"far end {self.answer}{which}{by}{talks}"


@dataclass(frozen=True)
class Dequeue:
    """An agent dequeues the next caller to enter a queue (`queue`, or any), `after` seconds
    later: maybe with a <Queue url>, the caller hanging up, or a transfer after the talk."""

    number: int
    after: float = 0.0
    talk: float | None = None
    queue: str | None = None
    url: str | None = None
    caller_hangs_up: float | None = None
    transfer: str | None = None

    def describe(self) -> str:
        where = f" from {self.queue}" if self.queue else ""
        return f"dequeue{where} after {self.after:g}s"


@dataclass(frozen=True)
class RecordMessage:
    """What the caller records at the current <Record>."""

    number: int
    say: str = ""
    seconds: float | None = None
    finish: str | None = None

    def describe(self) -> str:
        return f"record {self.say!r}" + (f" (finish {self.finish})" if self.finish else "")


@dataclass(frozen=True)
class JoinConference:
    """A participant joins the conference the call joins (or `room`), `after` seconds in."""

    number: int
    after: float = 0.0
    talk: float | None = None
    start: bool = True
    end_on_exit: bool = False
    room: str | None = None

    def describe(self) -> str:
        return f"join conference after {self.after:g}s"


ScenarioStep = (
    Press
    | Say
    | Silence
    | Hangup
    | Wait
    | Expect
    | ExpectState
    | ExpectLanguage
    | FarEndPlan
    | Dequeue
    | RecordMessage
    | JoinConference
)


@dataclass(frozen=True)
class ExpectedOutcome:
    """How the call must end; a field left as None is not checked."""

    kind: str | None = None
    target: str | None = None
    state: str | None = None
    language: str | None = None
    code: str | None = None  # Twilio's error code, for kind error

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("kind", self.kind),
                ("target", self.target),
                ("state", self.state),
                ("language", self.language),
                ("code", self.code),
            )
            if value is not None
        ]
        return "outcome " + ", ".join(parts)


@dataclass(frozen=True)
class Scenario:
    """One scripted call from a scenario file."""

    name: str
    file: Path
    to: str  # the number called (from `to:`, or the number of `line:`)
    line: str | None = None  # our line name, when the file gave `line:`
    caller: str = DEFAULT_CALLER
    now: str | None = None
    tags: tuple[str, ...] = ()
    steps: tuple[ScenarioStep, ...] = ()
    outcome: ExpectedOutcome | None = None
    #: The number's settings (`number:`), as SimulatedCall keywords: voice_url, voice_method, ...
    number: tuple[tuple[str, Any], ...] = ()
    #: Request fields to add or change (`caller_fields:`), in Twilio's names.
    caller_fields: tuple[tuple[str, str], ...] = ()

    def matches(self, expression: str) -> bool:
        """Say whether `expression` is a substring (any case) of the name or of a tag."""
        needle = expression.casefold()
        return needle in self.name.casefold() or any(needle in t.casefold() for t in self.tags)


@dataclass(frozen=True)
class Suite:
    """The scenarios of one file or one folder: a JUnit testsuite."""

    name: str
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)
