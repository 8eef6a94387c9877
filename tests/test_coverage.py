"""Flow coverage: states and transitions exercised by transcripts, counted exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.engine.flow import Edge, Flow, StateSpec
from ivr.qa.coverage import (
    CoverageReport,
    Transition,
    conditional_transitions,
    flow_transitions,
    measure,
    render_summary,
)
from ivr.sim import Outcome, SimulatedCall, Step, Transcript, WsgiTransport

from .phone import MAIN


def _state(name: str, kind: str) -> StateSpec:
    return StateSpec(name, kind, {"en": name}, {"en": name}, {}, None)


# A small flow, so the figures below do not move when the shipped menus change.
STATES = {
    name: _state(name, kind)
    for name, kind in [
        ("incoming", "start"),
        ("menu", "menu"),
        ("help", "menu"),
        ("rep", "transfer"),
        ("bye", "goodbye"),
    ]
}
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
    pytest.param(
        [_call(("menu", None))],
        ["incoming", "menu"],
        [T("start", "incoming", "menu")],
        id="dial-without-trigger-header-is-start",
    ),
    pytest.param(
        [_call(("menu", "start"), ("help", "press_1"), ("help", "press_star"))],
        ["incoming", "menu", "help"],
        [T("start", "incoming", "menu"), T("press_1", "menu", "help"), T("press_star", "help", "help")],
        id="one-call",
    ),
    pytest.param(
        [_call(("menu", "start"), (None, None), ("rep", "press_0"), (None, None))],
        ["incoming", "menu", "rep"],
        [T("start", "incoming", "menu"), T("press_0", "menu", "rep")],
        id="steps-without-state-are-skipped",
    ),
    pytest.param(
        [
            _call(("menu", "start"), ("menu", "no_input")),
            _call(("menu", "start"), ("menu", "no_input"), ("rep", "no_input")),
            _call(("menu", "start"), ("bye", "press_9")),
        ],
        ["incoming", "menu", "rep", "bye"],
        [
            T("start", "incoming", "menu"),
            T("press_9", "menu", "bye"),
            T("no_input", "menu", "menu"),
            T("no_input", "menu", "rep"),
        ],
        id="three-calls-repeats-counted-once",
    ),
]


@pytest.mark.parametrize(("transcripts", "states", "transitions"), CASES)
def test_measure_counts_exactly(
    transcripts: list[Transcript], states: list[str], transitions: list[Transition]
) -> None:
    report = measure(FLOW, transcripts)
    assert report.calls == len(transcripts)
    assert list(report.covered_states) == [s for s in FLOW.states if s in states]
    assert list(report.missed_states) == [s for s in FLOW.states if s not in states]
    assert set(report.covered_transitions) == set(transitions)
    assert len(report.missed_transitions) == 10 - len(transitions)
    assert report.state_ratio == len(states) / 5
    assert report.transition_ratio == len(transitions) / 10
    assert report.unknown_transitions == ()


def test_transitions_the_flow_does_not_have_are_reported_apart() -> None:
    report = measure(FLOW, [_call(("menu", "start"), ("help", "press_2"), ("gone", "press_3"))])
    assert report.unknown_transitions == (T("press_2", "menu", "help"), T("press_3", "help", "gone"))
    assert report.covered_transitions == (T("start", "incoming", "menu"),)
    assert report.covered_states == ("incoming", "menu", "help")  # 'gone' is no state of the flow
    assert "transitions not in the flow (2)" in report.render()


def test_fallbacks_after_a_condition_count_as_conditional() -> None:
    assert conditional_transitions(FLOW) == {T("no_input", "menu", "menu"), T("no_input", "menu", "rep")}


def test_render_and_to_dict_show_percentages_and_missed_lists() -> None:
    report = measure(FLOW, [_call(("menu", "start"), ("help", "press_1"))])
    text = report.render(detail=True)
    assert text.startswith("coverage of flow 'tiny' by 1 call\n")
    assert "states          3/5      60.0%" in text
    assert "transitions     2/10     20.0%" in text
    assert "missed states (2):\n  rep\n  bye\n" in text
    assert "  menu --no_input--> rep  (conditional)" in text
    assert "  menu --press_0--> rep\n" in text
    data = report.to_dict()
    assert (data["state_ratio"], data["transition_ratio"]) == (0.6, 0.2)
    assert data["states"] == {"total": 5, "covered": ["incoming", "menu", "help"], "missed": ["rep", "bye"]}
    assert data["transitions"]["covered"][1] == {
        "trigger": "press_1",
        "source": "menu",
        "dest": "help",
        "conditional": False,
    }
    assert len(data["transitions"]["missed"]) == 8


def test_the_short_render_names_the_missed_states_and_counts_the_missed_transitions() -> None:
    report = measure(FLOW, [_call(("menu", "start"), ("help", "press_1"))])
    assert report.render() == (
        "not reached on 'tiny': 2 states, 8 transitions (2 conditional)\n  states: rep, bye"
    )
    everything = measure(FLOW, [])
    assert everything.render().startswith("not reached on 'tiny': 5 states, 10 transitions")
    assert "-->" not in report.render()  # the transitions themselves are --coverage-detail's


def test_the_short_render_of_a_flow_reached_entirely_is_one_line() -> None:
    reached = CoverageReport(
        "tiny", 2, ("a", "b"), ("a", "b"), (T("start", "a", "b"),), (T("start", "a", "b"),), frozenset()
    )
    assert reached.render() == "'tiny': every state and transition reached"


def test_the_summary_has_a_row_per_line_with_reached_of_all() -> None:
    tiny = measure(FLOW, [_call(("menu", "start"), ("help", "press_1"))])
    text = render_summary({"main": tiny, "tty": measure(FLOW, [])})
    header, main_row, tty_row = text.splitlines()
    assert header.split() == ["coverage:", "line", "calls", "states", "reached", "transitions", "reached"]
    assert main_row.split() == ["main", "1", "3/5", "60.0%", "2/10", "20.0%"]
    assert tty_row.split() == ["tty", "0", "0/5", "0.0%", "0/10", "0.0%"]


def _ivr_test(runner: CliRunner, tmp_path: Path, *args: str) -> str:
    from ivr.cli import main

    result = runner.invoke(
        main,
        ["test", "scenarios", "--database", str(tmp_path / "ivr.sqlite3"), *args],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout.split(" of calls\n", 1)[1]  # what follows the scenarios' summary


def test_ivr_test_coverage_prints_the_summary_first_then_only_what_was_missed(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = _ivr_test(runner, tmp_path, "--coverage")
    blocks = text.strip().split("\n\n")
    assert blocks[0].startswith("coverage: line")
    assert [row.split()[0] for row in blocks[0].splitlines()[1:]] == ["main", "specialty", "tty"]
    assert all(
        re.fullmatch(r"\s+\w+\s+\d+\s+\d+/\d+\s+[\d.]+%\s+\d+/\d+\s+[\d.]+%", row)
        for row in blocks[0].splitlines()[1:]
    )
    assert [b.split(":")[0] for b in blocks[1:4]] == [
        "not reached on 'main'",
        "not reached on 'specialty'",
        "not reached on 'tty'",
    ]
    assert blocks[-1] == "(ivr test --coverage-detail lists every transition not reached)"
    assert "-->" not in text
    assert len(text.splitlines()) < 30


def test_ivr_test_coverage_detail_lists_every_missed_transition(runner: CliRunner, tmp_path: Path) -> None:
    short = _ivr_test(runner, tmp_path, "--coverage")
    text = _ivr_test(runner, tmp_path, "--coverage-detail")
    assert text.startswith("\ncoverage: line")  # the summary comes first here too
    missed = re.findall(r"^  (\w+ --\w+--> \w+)", text, re.M)
    counted = [int(n) for n in re.findall(r"^not reached on '\w+': .*?(\d+) transitions?", short, re.M)]
    assert len(missed) == sum(counted) > 100
    assert "coverage-detail lists" not in text


def test_measure_reads_real_calls_of_the_main_line(app: Flask) -> None:
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
        T("start", "incoming", "main_menu"),
        T("press_2", "main_menu", "billing_menu"),
        T("press_1", "billing_menu", "billing_discrepancy"),
        T("press_0", "main_menu", "representative"),
        T("no_input", "main_menu", "main_menu"),
    }
    assert set(report.covered_states) == {
        "incoming",
        "main_menu",
        "billing_menu",
        "billing_discrepancy",
        "representative",
    }
    assert report.state_ratio == 5 / len(flow.states)
    assert report.transition_ratio == 5 / len(flow_transitions(flow))
