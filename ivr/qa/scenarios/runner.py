"""Run scenarios as simulated calls: each step passes or fails with a reason, never a crash."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivr.qa.scenarios.checks import check_heard, check_sounds
from ivr.qa.scenarios.model import (
    SOUND_KINDS,
    Dequeue,
    Expect,
    ExpectedOutcome,
    ExpectLanguage,
    ExpectState,
    FarEndPlan,
    Hangup,
    JoinConference,
    Press,
    RecordMessage,
    Say,
    Scenario,
    ScenarioStep,
    Silence,
    Wait,
)
from ivr.sim import SimulatedCall, SimulationError, Transcript, Transport, WsgiTransport, main_language
from ivr.sim.caller import error_summary
from ivr.sim.signing import Signer
from ivr.sim.switch import DEFAULT_RING, DEFAULT_TALK, Agent, FarEnd, Participant

log = logging.getLogger(__name__)

PASS, FAIL, SKIP = "pass", "fail", "skip"
DEFAULT_WORKERS = 4


class CallTarget(Protocol):
    """Where calls go (ivr.commands.target.Target): a transport, a base URL, maybe our app."""

    transport: Transport
    base_url: str
    in_process: bool
    app: Any

    def engine(self) -> Any: ...


@dataclass
class StepResult:
    """One step (or the dial, or the outcome) of a scenario: pass, fail or skip, and why."""

    where: str  # "dial", "step 3" or "outcome"
    label: str  # what the step does, e.g. "press 2"
    status: str = PASS
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class ScenarioResult:
    """How one scenario went: its steps, the call's transcript and how long it took."""

    scenario: Scenario
    transcript: Transcript
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    #: An unexpected exception in the run (a bug, not a failed expectation): a JUnit <error>.
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not any(s.failed for s in self.steps)

    @property
    def first_failure(self) -> StepResult | None:
        return next((s for s in self.steps if s.failed), None)

    @property
    def message(self) -> str:
        """One line for a failing scenario: where it first failed and why ('' when it passed)."""
        failure = self.first_failure
        if failure is None:
            return self.error or ""
        return f"{failure.where} ({failure.label}): {failure.reason}"


def run_scenarios(
    scenarios: Sequence[Scenario],
    target: CallTarget,
    *,
    workers: int = DEFAULT_WORKERS,
    signer: Signer | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run scenarios on `workers` threads (in-process runs share the target's one app).

    Results come back in the order of `scenarios`; `on_result` sees each as it finishes.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    results: list[ScenarioResult | None] = [None] * len(scenarios)
    if workers == 1 or len(scenarios) <= 1:
        for index, scenario in enumerate(scenarios):
            result = run_scenario(scenario, target, signer=signer)
            results[index] = result
            if on_result:
                on_result(result)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(scenarios))) as pool:
            futures = {
                pool.submit(run_scenario, scenario, target, signer=signer): index
                for index, scenario in enumerate(scenarios)
            }
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if on_result:
                    on_result(result)
    return [r for r in results if r is not None]


def run_scenario(scenario: Scenario, target: CallTarget, *, signer: Signer | None = None) -> ScenarioResult:
    """Place one scenario's call and check it step by step; stop at the first failing step."""
    started = time.perf_counter()
    call = SimulatedCall(
        _transport(target),
        to=_number(scenario, target),
        caller=scenario.caller,
        base_url=target.base_url,
        signer=signer,
        simulated_now=scenario.now,
        **call_settings(scenario, target),
    )
    result = ScenarioResult(scenario, call.transcript)
    current = StepResult("dial", f"dial {call.to}")
    # A scenario that expects the call to fail lets the failure happen: the step that causes
    # it passes, and the steps after it are skipped as the call is over.
    wants_error = scenario.outcome is not None and scenario.outcome.kind == "error"
    try:
        result.steps.append(current)
        for step in scenario.steps:  # far ends, agents, participants: set up before the call
            if isinstance(step, FarEndPlan | Dequeue | JoinConference):
                _plan(call, step)
        _dial(call, current, wants_error)
        for step in scenario.steps:
            current = StepResult(f"step {step.number}", step.describe())
            result.steps.append(current)
            if any(s.failed for s in result.steps[:-1]):
                current.status, current.reason = SKIP, "not run: an earlier step failed"
                continue
            ended = call.outcome if call.outcome is not None and call.outcome.kind == "error" else None
            if wants_error and ended and not isinstance(step, Expect | ExpectState | ExpectLanguage):
                current.status = SKIP
                current.reason = f"not run: the call had ended ({error_summary(ended)})"
                continue
            _run_step(call, step, current, wants_error)
        current = StepResult("outcome", scenario.outcome.describe() if scenario.outcome else "outcome")
        if scenario.outcome is not None or call.outcome is not None:
            result.steps.append(current)
            if result.first_failure is not None:
                current.status, current.reason = SKIP, "not checked: an earlier step failed"
            else:
                _check_outcome(call, scenario.outcome or ExpectedOutcome(), current)
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the others
        log.exception("scenario %r crashed at %s", scenario.name, current.where)
        result.error = f"{type(exc).__name__}: {exc}"
        current.status, current.reason = FAIL, f"the run crashed: {result.error}"
    if not call.ended:
        try:
            call.hangup()  # the caller leaves, and the app hears the final status callback
        except Exception:  # noqa: BLE001 - the verdict is in; a failing goodbye must not hide it
            log.warning("scenario %r: hanging up failed", scenario.name, exc_info=True)
    result.seconds = time.perf_counter() - started
    return result


# -- steps -------------------------------------------------------------------------------


def call_settings(scenario: Scenario, target: CallTarget) -> dict[str, Any]:
    """SimulatedCall keywords for the number's settings: the target's (--url with a path,
    --voice-method, ...), then the scenario's `number:`; request fields likewise."""
    settings: dict[str, Any] = dict(getattr(target, "number", None) or {})
    settings.update(scenario.number)
    fields = {**(getattr(target, "fields", None) or {}), **dict(scenario.caller_fields)}
    if fields:
        settings["fields"] = fields
    return settings


def _dial(call: SimulatedCall, result: StepResult, wants_error: bool = False) -> None:
    try:
        call.dial()
    except SimulationError as exc:
        result.status, result.reason = FAIL, str(exc)
        return
    if call.outcome is not None and call.outcome.kind == "error":
        if wants_error:
            result.reason = f"the call failed, as expected: {error_summary(call.outcome)}"
            return
        result.status, result.reason = FAIL, f"the call failed: {error_summary(call.outcome)}"


def _run_step(call: SimulatedCall, step: ScenarioStep, result: StepResult, wants_error: bool = False) -> None:
    passed, reason = True, ""
    try:
        if isinstance(step, Press):
            call.press(step.keys)
        elif isinstance(step, Say):
            call.say(step.text, step.confidence)
        elif isinstance(step, Silence):
            call.silence()
        elif isinstance(step, Hangup):
            call.hangup()
        elif isinstance(step, Wait):
            call.clock += step.seconds
        elif isinstance(step, Expect) and step.check.kind in SOUND_KINDS:
            passed, reason = check_sounds(step.check, call.heard_items)
        elif isinstance(step, Expect):
            passed, reason = check_heard(step.check, call.heard)
        elif isinstance(step, ExpectState):
            passed, reason = _same("state", step.state, call.state)
        elif isinstance(step, ExpectLanguage):
            passed, reason = _same_language(step.language, call.language)
        elif isinstance(step, RecordMessage):
            call.record(step.say, step.seconds, step.finish)
    except SimulationError as exc:
        passed, reason = False, str(exc)
    if passed and call.outcome is not None and call.outcome.kind == "error":
        if wants_error:
            reason = f"the call failed, as expected: {error_summary(call.outcome)}"
        else:
            passed, reason = False, f"the call failed: {error_summary(call.outcome)}"
    if not passed and call.outcome is not None and call.outcome.detail:
        reason += f" (the call ended: {call.outcome}: {call.outcome.detail})"
    result.status, result.reason = (PASS if passed else FAIL), reason


def _plan(call: SimulatedCall, step: ScenarioStep) -> None:
    """Plan what a far end, an agent or a participant does (ivr.sim.switch), in file order."""
    if isinstance(step, FarEndPlan):
        ring = DEFAULT_RING if step.ring is None else step.ring
        talk = DEFAULT_TALK if step.talk is None else step.talk
        far = FarEnd(step.answer, ring, talk, step.caller_hangs_up, step.star_after, step.answered_by)
        if step.dial is not None:
            call.switch.nth_dial(step.dial, far)
        elif step.to is not None:
            call.switch.far_end(step.to, far)
        else:
            call.switch.next_dial(far)
    elif isinstance(step, Dequeue):
        talk = DEFAULT_TALK if step.talk is None else step.talk
        call.switch.dequeue(
            Agent(step.after, talk, step.queue, step.url, step.caller_hangs_up, step.transfer)
        )
    elif isinstance(step, JoinConference):
        talk = DEFAULT_TALK if step.talk is None else step.talk
        call.switch.join(Participant(step.after, talk, step.start, step.end_on_exit), step.room)


def _check_outcome(call: SimulatedCall, expected: ExpectedOutcome, result: StepResult) -> None:
    actual = call.outcome
    if actual is None:
        if expected.kind is not None or expected.target is not None:
            result.status = FAIL
            result.reason = (
                f"the call was still waiting for input after the last step (state "
                f"{call.state or 'unknown'}); add the steps that end it, or drop `outcome.kind`"
            )
            return
    elif actual.kind == "error" and expected.kind != "error":
        result.status, result.reason = FAIL, f"the call failed: {error_summary(actual)}"
        return
    problems: list[str] = []
    if expected.kind is not None and actual is not None and actual.kind != expected.kind:
        problems.append(f"ended with {actual.kind}, expected {expected.kind}")
    elif expected.code is not None and actual is not None and actual.code != expected.code:
        got = f"Twilio error {actual.code}" if actual.code else "no Twilio error code"
        problems.append(f"{got} ({error_summary(actual)}), expected {expected.code}")
    if expected.target is not None and not _same_target(expected.target, actual.target if actual else None):
        problems.append(f"target {actual.target if actual else None!r}, expected {expected.target!r}")
    if expected.state is not None and call.state != expected.state:
        problems.append(f"last state {call.state!r}, expected {expected.state!r}")
    last_language = _last_language(call)
    if expected.language is not None and not _same_language(expected.language, last_language)[0]:
        problems.append(f"language {last_language!r}, expected {expected.language!r}")
    if problems:
        result.status, result.reason = FAIL, "; ".join(problems)
    else:
        if actual is not None and actual.kind == "error":
            result.reason = f"ended with {error_summary(actual)}"
        else:
            result.reason = f"ended with {actual}" if actual is not None else "the call is still up"


def _same(what: str, expected: str, actual: str | None) -> tuple[bool, str]:
    if actual is None:
        return False, f"the app does not report its {what} (no X-IVR-State header)"
    if actual == expected:
        return True, ""
    return False, f"{what} is {actual!r}, expected {expected!r}"


def _same_language(expected: str, actual: str | None) -> tuple[bool, str]:
    """'en-US' matches en-US exactly; 'en' (no region) matches en-US and en-GB too."""
    if actual is None:
        return False, "heard nothing with a language since the last input"
    want, have = expected.casefold(), actual.casefold()
    if want == have or ("-" not in want and have.split("-")[0] == want):
        return True, ""
    return False, f"language is {actual!r}, expected {expected!r}"


def _same_target(expected: str, actual: str | None) -> bool:
    """A queue name as it is; a Dial target with or without its noun ('number:+1555...')."""
    return actual is not None and (actual == expected or actual.split(":", 1)[-1] == expected)


def _last_language(call: SimulatedCall) -> str | None:
    for step in reversed(call.transcript.steps):
        found = main_language(step.heard)
        if found is not None:
            return found
    return None


# -- where calls go ----------------------------------------------------------------------


def _transport(target: CallTarget) -> Transport:
    # In-process: one app shared by every thread, a transport per call (it keeps no state).
    return WsgiTransport(target.app) if target.in_process and target.app is not None else target.transport


def _number(scenario: Scenario, target: CallTarget) -> str:
    """`line:` dials the number our app's configuration gives that line (IVR_LINE_*), if any."""
    engine = target.engine() if target.in_process else None
    if scenario.line is None or engine is None:
        return scenario.to
    number: str = engine.flows.numbers().get(scenario.line, scenario.to)
    return number
