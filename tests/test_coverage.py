"""Flow coverage: states and transitions exercised by transcripts, counted exactly."""

from __future__ import annotations

import pytest

from ivr.coverage import Transition, conditional_transitions, flow_transitions, measure
from ivr.flow import Edge, Flow, StateSpec
from ivr.sim import Outcome, SimulatedCall, Step, Transcript, WsgiTransport

from .phone import MAIN


def _state(name: str, kind: str) -> StateSpec:
    return StateSpec(name, kind, {"en": name}, {"en": name}, {}, None)


# A small flow, so the figures below do not move when the shipped menus change.
STATES = {name: _state(name, kind) for name, kind in [
    ("incoming", "start"), ("menu", "menu"), ("help", "menu"), ("rep", "transfer"), ("bye", "goodbye"),
]}  # fmt: skip
EDGES = (
    Edge("start", "incoming", "menu"),
    Edge("press_1", "menu", "help"),
    Edge("press_0", "menu", "rep"),
    Edge("press_9", "menu", "bye"),
    Edge("no_input", "menu", "menu", conditions=("can_retry",)),
    Edge("no_input", "menu", "rep"),  # a fallback: conditional too
    Edge("invalid", "menu", "menu"),
    Edge("press_star", "help", "help"),
    Edge("press_pound", "help", "menu"),
    Edge("no_input", "help", "rep"),
)
FLOW = Flow("tiny", "tiny.yaml", "Tiny", ("en",), "incoming", STATES, (), {}, {}, {}, edges=EDGES)


def _call(*steps: tuple[str | None, str | None]) -> Transcript:
    """A transcript whose steps report these (X-IVR-State, X-IVR-Trigger) pairs."""
    transcript = Transcript("CA" + "0" * 32, "+15005550006")
    for index, (state, trigger) in enumerate(steps):
        kind = "voice" if index == 0 else "action"
        transcript.steps.append(Step(index, kind, "POST", "http://x/voice", {}, state=state, trigger=trigger))
    return transcript


T = Transition
CASES = [
    pytest.param([], [], [], id="no-calls"),
    pytest.param([_call(("menu", None))], ["incoming", "menu"], [T("start", "incoming", "menu")],
                 id="dial-without-trigger-header-is-start"),
    pytest.param([_call(("menu", "start"), ("help", "press_1"), ("help", "press_star"))],
                 ["incoming", "menu", "help"],
                 [T("start", "incoming", "menu"), T("press_1", "menu", "help"),
                  T("press_star", "help", "help")],
                 id="one-call"),
    pytest.param([_call(("menu", "start"), (None, None), ("rep", "press_0"), (None, None))],
                 ["incoming", "menu", "rep"], [T("start", "incoming", "menu"), T("press_0", "menu", "rep")],
                 id="steps-without-state-are-skipped"),
    pytest.param([_call(("menu", "start"), ("menu", "no_input")),
                  _call(("menu", "start"), ("menu", "no_input"), ("rep", "no_input")),
                  _call(("menu", "start"), ("bye", "press_9"))],
                 ["incoming", "menu", "rep", "bye"],
                 [T("start", "incoming", "menu"), T("press_9", "menu", "bye"),
                  T("no_input", "menu", "menu"), T("no_input", "menu", "rep")],
                 id="three-calls-repeats-counted-once"),
]  # fmt: skip


@pytest.mark.parametrize(("transcripts", "states", "transitions"), CASES)
def test_measure_counts_exactly(transcripts, states, transitions):
    report = measure(FLOW, transcripts)
    assert report.calls == len(transcripts)
    assert list(report.covered_states) == [s for s in FLOW.states if s in states]
    assert list(report.missed_states) == [s for s in FLOW.states if s not in states]
    assert set(report.covered_transitions) == set(transitions)
    assert len(report.missed_transitions) == 10 - len(transitions)
    assert report.state_ratio == len(states) / 5
    assert report.transition_ratio == len(transitions) / 10
    assert report.unknown_transitions == ()


def test_transitions_the_flow_does_not_have_are_reported_apart():
    report = measure(FLOW, [_call(("menu", "start"), ("help", "press_2"), ("gone", "press_3"))])
    assert report.unknown_transitions == (T("press_2", "menu", "help"), T("press_3", "help", "gone"))
    assert report.covered_transitions == (T("start", "incoming", "menu"),)
    assert report.covered_states == ("incoming", "menu", "help")  # 'gone' is no state of the flow
    assert "transitions not in the flow (2)" in report.render()


def test_fallbacks_after_a_condition_count_as_conditional():
    assert conditional_transitions(FLOW) == {T("no_input", "menu", "menu"), T("no_input", "menu", "rep")}


def test_render_and_to_dict_show_percentages_and_missed_lists():
    report = measure(FLOW, [_call(("menu", "start"), ("help", "press_1"))])
    text = report.render()
    assert "states          3/5      60.0%" in text
    assert "transitions     2/10     20.0%" in text
    assert "missed states (2):\n  rep\n  bye\n" in text
    assert "  menu --no_input--> rep  (conditional)" in text
    assert "  menu --press_0--> rep\n" in text
    data = report.to_dict()
    assert (data["state_ratio"], data["transition_ratio"]) == (0.6, 0.2)
    assert data["states"] == {"total": 5, "covered": ["incoming", "menu", "help"], "missed": ["rep", "bye"]}
    assert data["transitions"]["covered"][1] == {
        "trigger": "press_1", "source": "menu", "dest": "help", "conditional": False,
    }  # fmt: skip
    assert len(data["transitions"]["missed"]) == 8


def test_measure_reads_real_calls_of_the_main_line(app):
    flow = app.extensions["ivr"].flows.get("main").machine.flow
    calls = []
    for keys in (["2", "1"], ["0"], [None]):
        call = SimulatedCall(WsgiTransport(app), MAIN).dial()
        for key in keys:
            call.silence() if key is None else call.press(key)
        calls.append(call.transcript)
    assert calls[1].outcome == Outcome("enqueue", target="sim-representative")
    report = measure(flow, calls)
    assert set(report.covered_transitions) == {
        T("start", "incoming", "main_menu"), T("press_2", "main_menu", "billing_menu"),
        T("press_1", "billing_menu", "billing_discrepancy"), T("press_0", "main_menu", "representative"),
        T("no_input", "main_menu", "main_menu"),
    }  # fmt: skip
    assert set(report.covered_states) == {
        "incoming", "main_menu", "billing_menu", "billing_discrepancy", "representative"
    }  # fmt: skip
    assert report.state_ratio == 5 / len(flow.states)
    assert report.transition_ratio == 5 / len(flow_transitions(flow))
