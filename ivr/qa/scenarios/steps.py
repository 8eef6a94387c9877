"""A validated step of a scenario file as the runner's step: press, say, expect, ..."""

from __future__ import annotations

import re

from ivr.qa.scenarios.model import (
    Check,
    Dequeue,
    Expect,
    ExpectLanguage,
    ExpectState,
    FarEndPlan,
    Hangup,
    JoinConference,
    Press,
    RecordMessage,
    Say,
    ScenarioStep,
    Silence,
    Wait,
)
from ivr.qa.scenarios.schema import ExpectValue, Step


def scenario_step(number: int, step: Step) -> ScenarioStep:
    """The runner's step for the `number`-th (1-based) step of a file."""
    action = step.action
    if action == "silence":
        return Silence(number)
    if action == "hangup":
        return Hangup(number)
    if action == "press" and step.press is not None:
        return Press(number, step.press)
    if action == "say" and step.say is not None and step.say.text is not None:
        return Say(number, step.say.text, step.say.confidence)
    if action == "wait" and step.wait is not None:
        return Wait(number, step.wait)
    if action == "expect" and step.expect is not None:
        return Expect(number, _check(step.expect))
    if action == "expect_state" and step.expect_state is not None:
        return ExpectState(number, step.expect_state)
    if action == "expect_language" and step.expect_language is not None:
        return ExpectLanguage(number, step.expect_language)
    if action == "far_end" and step.far_end is not None:
        return FarEndPlan(number, **step.far_end.model_dump())
    if action == "dequeue" and step.dequeue is not None:
        return Dequeue(number, **step.dequeue.model_dump())
    if action == "record" and step.record is not None:
        return RecordMessage(number, **step.record.model_dump())
    if action == "join_conference" and step.join_conference is not None:
        return JoinConference(number, **step.join_conference.model_dump())
    raise AssertionError(f"step {number}: no value for {action}")  # the schema refuses these


def _check(value: ExpectValue) -> Check:
    kind = value.kind
    text = getattr(value, kind)
    if kind == "pause":
        return Check(kind, f"{text:g}")
    if kind in ("regex", "play_regex"):
        return Check(kind, text, value.threshold_or_default, re.compile(text))
    return Check(kind, " ".join(text.split()), value.threshold_or_default)
