"""A readable report of a run: each scenario passed or failed, each step ✓ or ✗ and why."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.qa.scenarios.runner import FAIL, PASS, ScenarioResult

MARKS = {PASS: "✓", FAIL: "✗"}
SKIPPED_MARK = "·"


def render_report(results: Sequence[ScenarioResult], *, steps_of_passing: bool = True) -> str:
    """The whole run: every scenario, its steps, the transcript of each failing call, a summary.

    With `steps_of_passing=False` a passing scenario is one line (for a terminal).
    """
    blocks = [scenario_block(r, steps=steps_of_passing or not r.passed) for r in results]
    return "\n".join([*blocks, summary(results)]) + "\n"


def scenario_block(result: ScenarioResult, *, steps: bool = True) -> str:
    """One scenario: a head line, then (if asked) its steps, then the transcript if it failed."""
    scenario = result.scenario
    verdict = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
    mark = MARKS[PASS] if result.passed else MARKS[FAIL]
    lines = [f"{mark} {verdict}  {scenario.name}  ({scenario.file}, {result.seconds:.2f}s)"]
    if steps:
        lines.extend("    " + line for line in step_lines(result))
    if not result.passed:
        lines.append("    transcript:")
        lines.extend("      " + line for line in result.transcript.render().splitlines())
    return "\n".join(lines)


def step_lines(result: ScenarioResult) -> list[str]:
    """One line per step: ✓/✗/· where, what, and the reason when there is one."""
    width = max((len(s.where) for s in result.steps), default=0)
    lines = []
    for step in result.steps:
        line = f"{MARKS.get(step.status, SKIPPED_MARK)} {step.where:<{width}}  {step.label}"
        if step.reason:
            line += f"  -- {step.reason}"
        lines.append(line)
    if result.error:
        lines.append(f"{MARKS[FAIL]} error: {result.error}")
    return lines


def summary(results: Sequence[ScenarioResult]) -> str:
    """'12 scenarios: 11 passed, 1 failed (0 errors) in 0.84s of calls'."""
    failed = sum(1 for r in results if not r.passed)
    errors = sum(1 for r in results if r.error)
    seconds = sum(r.seconds for r in results)
    noun = "scenario" if len(results) == 1 else "scenarios"
    text = f"{len(results)} {noun}: {len(results) - failed} passed, {failed} failed"
    if errors:
        text += f" ({errors} with errors)"
    return f"{text} in {seconds:.2f}s of calls"
