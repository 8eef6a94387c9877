"""Read scenario files and folders (docs/scenarios.md); refuse anything malformed, saying where."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivr.engine.errors import FileError, FileErrors, FlowError
from ivr.engine.flow_registry import shipped_numbers
from ivr.engine.schema_errors import Issue, issues
from ivr.engine.yaml_source import Marks, load_yaml
from ivr.qa.scenarios.model import DEFAULT_CALLER, ExpectedOutcome, Scenario, Suite
from ivr.qa.scenarios.schema import ACTIONS, ScenarioFile, describe
from ivr.qa.scenarios.steps import scenario_step
from ivr.sim.callers import numbered_caller

SUFFIXES = (".yaml", ".yml")


class ScenarioError(FileError):
    """A scenario file is malformed; names the file, the line, the step (1-based) and the field."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        step: int | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.step = step
        part = f"step {step}" if step is not None else None
        super().__init__(file, message, part=part, field=field, line=line)


class ScenarioErrors(FileErrors):
    """The problems of several scenario files, reported together."""

    errors: list[ScenarioError]  # type: ignore[assignment]

    def __init__(self, errors: Sequence[ScenarioError]) -> None:
        super().__init__(errors)


# -- files and folders -------------------------------------------------------------------


def scenario_files(path: Path) -> list[Path]:
    """A file as itself; a folder as its `*.yaml`/`*.yml` files, recursively, hidden ones skipped."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ScenarioError(str(path), "no such file or folder; give a scenario file or a folder")
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix in SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def load_paths(paths: Iterable[Path]) -> list[Suite]:
    """Load files and folders into suites: one per file given, one per folder holding files.

    Every file is read before anything is refused, so one ScenarioErrors lists all bad files.
    A scenario without `from:` calls from a number of its own (numbered_caller, in load order).
    """
    suites: dict[str, list[Scenario]] = {}
    errors: list[ScenarioError] = []
    loaded = 0
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
                scenario = load_scenario(file, default_caller=numbered_caller(loaded))
            except ScenarioError as exc:
                errors.append(exc)
                continue
            loaded += 1
            taken = next((s for s in suites.get(suite, []) if s.name == scenario.name), None)
            if taken is not None:
                errors.append(
                    ScenarioError(
                        str(file),
                        f"{scenario.name!r} is also the name of {taken.file}; give each "
                        "scenario of a folder its own name",
                        field="name",
                        line=_line_of_name(file),
                    )
                )
                continue
            suites.setdefault(suite, []).append(scenario)
    if errors:
        raise ScenarioErrors(errors)
    return [Suite(name, tuple(scenarios)) for name, scenarios in suites.items()]


def load_scenario(path: Path, *, default_caller: str = DEFAULT_CALLER) -> Scenario:
    """Read and validate one scenario file; a problem raises ScenarioError naming where it is.

    `default_caller` is the calling number when the file gives no `from:`.
    """
    file = str(path)
    marks = Marks()
    try:
        data = load_yaml(path, marks)
    except FlowError as exc:
        raise ScenarioError(file, exc.detail, line=exc.line) from exc
    if not isinstance(data, dict):
        raise ScenarioError(
            file,
            f"the file holds {describe(data)}; a scenario file holds one mapping with "
            "name, line (or to), steps and outcome (see docs/scenarios.md)",
            line=1,
        )
    try:
        model = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        found = issues(exc, ScenarioFile, _unknown)
        # The first problem in the file, from the top: the one a person meets first.
        first = min(found, key=lambda i: _line(marks, data, i.path) or 0)
        raise _error(file, marks, data, first) from None
    return _scenario(file, path, marks, data, model, default_caller)


def _scenario(
    file: str, path: Path, marks: Marks, data: dict[Any, Any], model: ScenarioFile, default_caller: str
) -> Scenario:
    def refuse(message: str, key: str) -> ScenarioError:
        return _error(file, marks, data, Issue((key,), message))

    line, to = model.line, model.to
    if line is not None and to is not None:
        raise refuse("give either `line:` or `to:`, not both", "to")
    if line is None and to is None:
        raise refuse(
            "which number does this call dial? Add `line: main` (main, specialty, tty) "
            'or `to: "+18002372765"`',
            "line",
        )
    if line is not None:
        numbers = shipped_numbers()
        if line not in numbers:
            raise refuse(
                f"{line!r} is not one of our lines; use {', '.join(numbers)}, or `to:` with a number", "line"
            )
        to = numbers[line]
    assert to is not None
    steps = tuple(scenario_step(number, step) for number, step in enumerate(model.steps, start=1))
    if not steps and model.outcome is None:
        raise refuse("the scenario checks nothing; add steps or an outcome", "steps")
    outcome = None if model.outcome is None else ExpectedOutcome(**model.outcome.model_dump())
    return Scenario(
        name=model.name if model.name is not None else path.stem,
        file=path,
        to=to,
        line=line,
        caller=model.caller if model.caller is not None else default_caller,
        now=model.now,
        tags=model.tags,
        steps=steps,
        outcome=outcome,
        number=tuple(model.number.model_dump(exclude_none=True).items()) if model.number else (),
        caller_fields=tuple((model.caller_fields or {}).items()),
    )


def _unknown(key: Any, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    did_you_mean = f" (did you mean '{close[0]}'?)" if close else ""
    if set(known) == set(ACTIONS):
        return f"unknown action{did_you_mean}; use one of {', '.join(known)}"
    return f"unknown key{did_you_mean}; use {', '.join(known)}"


def _line(marks: Marks, data: Any, path: tuple[Any, ...]) -> int | None:
    spot = marks.locate(data, path)
    return spot[1] if spot else None


def _error(file: str, marks: Marks, data: dict[Any, Any], issue: Issue) -> ScenarioError:
    """The error for one problem: steps by number, fields as dotted paths below the step."""
    path = issue.path
    step = path[1] + 1 if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int) else None
    rest = path[2:] if step is not None else path
    field = ".".join(str(p) for p in rest) or None
    return ScenarioError(file, issue.message, step=step, field=field, line=_line(marks, data, path))


def _line_of_name(path: Path) -> int | None:
    marks = Marks()
    try:
        data = load_yaml(path, marks)
    except FlowError:
        return None
    return _line(marks, data, ("name",))
