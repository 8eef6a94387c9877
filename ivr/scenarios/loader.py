"""Read scenario files and folders (docs/scenarios.md); refuse anything malformed, saying where."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import FlowError, IvrError
from ..flow_registry import shipped_numbers
from ..yaml_source import load_yaml
from .model import (
    CHECK_KINDS,
    DEFAULT_CALLER,
    DEFAULT_CONFIDENCE,
    DEFAULT_THRESHOLD,
    OUTCOME_KINDS,
    Check,
    Expect,
    ExpectedOutcome,
    ExpectLanguage,
    ExpectState,
    Hangup,
    Press,
    Say,
    Scenario,
    ScenarioStep,
    Silence,
    Suite,
    Wait,
)  # fmt: skip

#: Our lines, by name, and the number that reaches each (`line: tty` means `to: "+18007114041"`).
SUFFIXES = (".yaml", ".yml")
PHONE_KEYS = frozenset("0123456789*#")
ACTIONS = ("press", "say", "silence", "hangup", "wait", "expect", "expect_state", "expect_language")
_TOP_KEYS = ("name", "line", "to", "from", "now", "tags", "steps", "outcome")
_OUTCOME_KEYS = ("kind", "target", "state", "language")


class ScenarioError(IvrError):
    """A scenario file is malformed; names the file, the step (1-based) and the field."""

    def __init__(
        self, file: str, message: str, *, step: int | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.step = step
        self.field = field
        self.detail = message
        where = file
        if step is not None:
            where += f": step {step}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class ScenarioErrors(IvrError):
    """The problems of several scenario files, reported together."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# -- files and folders -------------------------------------------------------------------


def scenario_files(path: Path) -> list[Path]:
    """A file as itself; a folder as its `*.yaml`/`*.yml` files, recursively, hidden ones skipped."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ScenarioError(str(path), "no such file or folder; give a scenario file or a folder")
    return sorted(
        p for p in path.rglob("*")
        if p.suffix in SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )  # fmt: skip


def load_paths(paths: Iterable[Path]) -> list[Suite]:
    """Load files and folders into suites: one per file given, one per folder holding files.

    Every file is read before anything is refused, so one ScenarioErrors lists all bad files.
    """
    suites: dict[str, list[Scenario]] = {}
    errors: list[ScenarioError] = []
    for path in paths:
        try:
            files = scenario_files(path)
        except ScenarioError as exc:
            errors.append(exc)
            continue
        if not files:
            errors.append(ScenarioError(str(path), "no scenario files (*.yaml, *.yml) in this folder"))
        for file in files:
            suite = str(file) if path.is_file() else str(file.parent)
            try:
                scenario = load_scenario(file)
            except ScenarioError as exc:
                errors.append(exc)
                continue
            taken = next((s for s in suites.get(suite, []) if s.name == scenario.name), None)
            if taken is not None:
                errors.append(ScenarioError(
                    str(file), f"{scenario.name!r} is also the name of {taken.file}; give each "
                    "scenario of a folder its own name", field="name",
                ))  # fmt: skip
                continue
            suites.setdefault(suite, []).append(scenario)
    if errors:
        raise ScenarioErrors(errors)
    return [Suite(name, tuple(scenarios)) for name, scenarios in suites.items()]


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; a problem raises ScenarioError naming where it is."""
    file = str(path)
    try:
        data = load_yaml(path)
    except FlowError as exc:
        raise ScenarioError(file, exc.detail) from exc
    if not isinstance(data, dict):
        raise ScenarioError(
            file, f"the file holds {_kind(data)}; a scenario file holds one mapping with "
            "name, line (or to), steps and outcome (see docs/scenarios.md)"
        )  # fmt: skip
    _refuse_unknown(file, data, _TOP_KEYS, None, "")
    return _scenario(file, path, data)


# -- the top level -----------------------------------------------------------------------


def _scenario(file: str, path: Path, data: dict[Any, Any]) -> Scenario:
    name = _text(file, data, "name", None, "") if "name" in data else path.stem
    line, to = data.get("line"), data.get("to")
    if line is not None and to is not None:
        raise ScenarioError(file, "give either `line:` or `to:`, not both", field="to")
    if line is None and to is None:
        raise ScenarioError(
            file, "which number does this call dial? Add `line: main` (main, specialty, tty) "
            "or `to: \"+18002372765\"`", field="line"
        )  # fmt: skip
    if line is not None:
        numbers = shipped_numbers()
        if line not in numbers:
            raise ScenarioError(
                file, f"{line!r} is not one of our lines; use {', '.join(numbers)}, or "
                "`to:` with a number", field="line"
            )  # fmt: skip
        to = numbers[line]
    else:
        to = _phone_number(file, data, "to")
    steps_raw = data.get("steps", [])
    if not isinstance(steps_raw, list):
        raise ScenarioError(file, f"{_kind(steps_raw)}; steps is a list, one `- ` item per step",
                            field="steps")  # fmt: skip
    steps = tuple(_step(file, number, raw) for number, raw in enumerate(steps_raw, start=1))
    outcome = _outcome(file, data["outcome"]) if data.get("outcome") is not None else None
    if not steps and outcome is None:
        raise ScenarioError(file, "the scenario checks nothing; add steps or an outcome",
                            field="steps")  # fmt: skip
    return Scenario(
        name=name, file=path, to=to, line=line,
        caller=_phone_number(file, data, "from") if "from" in data else DEFAULT_CALLER,
        now=_now(file, data["now"]) if data.get("now") is not None else None,
        tags=_tags(file, data.get("tags", [])), steps=steps, outcome=outcome,
    )  # fmt: skip


def _phone_number(file: str, data: dict[Any, Any], key: str) -> str:
    value = data[key]
    if isinstance(value, int) and not isinstance(value, bool):
        raise ScenarioError(
            file, f"{value} was read as a number (YAML drops a leading +); quote it: "
            f"{key}: \"+{value}\"", field=key
        )  # fmt: skip
    return _text(file, data, key, None, "")


def _now(file: str, value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # YAML reads an unquoted timestamp as a datetime
    if isinstance(value, date) or not isinstance(value, str):
        raise ScenarioError(
            file, f"{value!r} is not a date and time; use ISO 8601 such as "
            "\"2026-11-23T21:30:00-06:00\" (a time without offset is Central)", field="now"
        )  # fmt: skip
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise ScenarioError(
            file, f"{value!r} is not an ISO 8601 time; use e.g. \"2026-11-23T21:30:00-06:00\"",
            field="now",
        ) from exc
    return value


def _tags(file: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise ScenarioError(file, f"{value!r} is not a list of words; write e.g. [billing, smoke]",
                            field="tags")  # fmt: skip
    return tuple(value)


def _outcome(file: str, value: Any) -> ExpectedOutcome:
    if not isinstance(value, dict):
        raise ScenarioError(file, f"{_kind(value)}; outcome is a mapping such as "
                            "{kind: enqueue, target: sim-representative}", field="outcome")  # fmt: skip
    _refuse_unknown(file, value, _OUTCOME_KEYS, None, "outcome.")
    fields = {key: _text(file, value, key, None, "outcome.") for key in _OUTCOME_KEYS if key in value}
    kind = fields.get("kind")
    if kind is not None and kind not in OUTCOME_KINDS:
        raise ScenarioError(file, f"{kind!r} is not a way a call ends; use one of "
                            f"{', '.join(OUTCOME_KINDS)}", field="outcome.kind")  # fmt: skip
    return ExpectedOutcome(**fields)


# -- steps -------------------------------------------------------------------------------


def _step(file: str, number: int, raw: Any) -> ScenarioStep:
    if isinstance(raw, str):
        if raw == "silence":
            return Silence(number)
        if raw == "hangup":
            return Hangup(number)
        raise ScenarioError(
            file, f"{raw!r} is not a step; only silence and hangup stand alone; write e.g. "
            "`- press: \"1\"` or `- expect: Billing`", step=number
        )  # fmt: skip
    if not isinstance(raw, dict) or not raw:
        raise ScenarioError(file, f"{_kind(raw)}; a step is a mapping with one action: "
                            f"{', '.join(ACTIONS)}", step=number)  # fmt: skip
    for key in raw:
        if key not in ACTIONS:
            raise ScenarioError(file, f"unknown action{_did_you_mean(key, ACTIONS)}; use one of "
                                f"{', '.join(ACTIONS)}", step=number, field=str(key))  # fmt: skip
    if len(raw) > 1:
        names = ", ".join(repr(k) for k in raw)
        raise ScenarioError(file, f"two actions in one step ({names}); give each its own `- ` item",
                            step=number, field=str(list(raw)[1]))  # fmt: skip
    action, value = next(iter(raw.items()))
    if action in ("silence", "hangup"):
        if value not in (None, True):
            raise ScenarioError(file, f"{action} takes no value; write `- {action}`",
                                step=number, field=action)  # fmt: skip
        return Silence(number) if action == "silence" else Hangup(number)
    if action == "press":
        return Press(number, _keys(file, number, value))
    if action == "say":
        return _say(file, number, value)
    if action == "wait":
        return Wait(number, _number(file, number, value, "wait", 0.0, None))
    if action == "expect":
        return Expect(number, _check(file, number, value))
    text = _text(file, raw, action, number, "")
    return ExpectState(number, text) if action == "expect_state" else ExpectLanguage(number, text)


def _keys(file: str, number: int, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ScenarioError(
            file, f"{value} was read as a number (YAML drops leading zeros); quote the keys: "
            f"press: \"{value}\"", step=number, field="press"
        )  # fmt: skip
    if not isinstance(value, str) or not value:
        raise ScenarioError(file, f"{_kind(value)}; press takes keys as text, e.g. press: \"1\"",
                            step=number, field="press")  # fmt: skip
    bad = [k for k in value if k not in PHONE_KEYS]
    if bad:
        raise ScenarioError(file, f"{bad[0]!r} is not a phone key; use 0-9, * and #",
                            step=number, field="press")  # fmt: skip
    return value


def _say(file: str, number: int, value: Any) -> Say:
    if isinstance(value, dict):
        _refuse_unknown(file, value, ("text", "confidence"), number, "say.")
        if "text" not in value:
            raise ScenarioError(file, "missing; write say: {text: representative, confidence: 0.6}",
                                step=number, field="say.text")  # fmt: skip
        text = _text(file, value, "text", number, "say.")
        confidence = DEFAULT_CONFIDENCE
        if "confidence" in value:
            confidence = _number(file, number, value["confidence"], "say.confidence", 0.0, 1.0)
        return Say(number, text, confidence)
    return Say(number, _text(file, {"say": value}, "say", number, ""))


def _check(file: str, number: int, value: Any) -> Check:
    if not isinstance(value, dict):
        return Check("contains", _text(file, {"expect": value}, "expect", number, ""))
    _refuse_unknown(file, value, (*CHECK_KINDS, "threshold"), number, "expect.")
    kinds = [k for k in CHECK_KINDS if k in value]
    if len(kinds) != 1:
        found = f"{' and '.join(kinds)} together" if kinds else "no check"
        raise ScenarioError(file, f"{found}; give exactly one of {', '.join(CHECK_KINDS)}",
                            step=number, field="expect")  # fmt: skip
    kind = kinds[0]
    text = _text(file, value, kind, number, "expect.")
    threshold = DEFAULT_THRESHOLD
    if "threshold" in value:
        if kind != "fuzzy":
            raise ScenarioError(file, f"threshold only goes with fuzzy, not {kind}",
                                step=number, field="expect.threshold")  # fmt: skip
        threshold = _number(file, number, value["threshold"], "expect.threshold", 0.0, 1.0)
    pattern = None
    if kind == "regex":
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise ScenarioError(
                file, f"{text!r} does not compile ({exc}); escape special characters with a "
                "backslash, e.g. \\? or \\(", step=number, field="expect.regex"
            ) from exc  # fmt: skip
    return Check(kind, " ".join(text.split()) if kind != "regex" else text, threshold, pattern)


# -- values ------------------------------------------------------------------------------


def _text(file: str, data: dict[Any, Any], key: str, step: int | None, prefix: str) -> str:
    value = data[key]
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ScenarioError(file, f"{_kind(value)}; write some text here", step=step,
                            field=prefix + key)  # fmt: skip
    text = str(value).strip()
    if not text:
        raise ScenarioError(file, "empty; write some text here", step=step, field=prefix + key)
    return text


def _number(
    file: str, step: int, value: Any, field: str, low: float, high: float | None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(file, f"{value!r} is not a number", step=step, field=field)
    if value < low or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ScenarioError(file, f"{value!r} is out of range; use a number {span}",
                            step=step, field=field)  # fmt: skip
    return float(value)


def _refuse_unknown(
    file: str, data: dict[Any, Any], known: tuple[str, ...], step: int | None, prefix: str
) -> None:
    for key in data:
        if key not in known:
            raise ScenarioError(
                file, f"unknown key{_did_you_mean(key, known)}; use {', '.join(known)}",
                step=step, field=prefix + str(key),
            )


def _did_you_mean(key: Any, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r} ({type(value).__name__})"
