"""Calls exported as scenarios (ivr.call_export) replay on a fresh app and pass."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from ivr.commands.target import Target
from ivr.engine.engine import Engine
from ivr.engine.hours import is_open
from ivr.engine.store import CallRecord
from ivr.qa.call_export import call_to_scenario, scenario_yaml
from ivr.qa.scenarios import ScenarioResult, load_scenario, run_scenario
from ivr.sim import WsgiTransport

from .phone import MAIN, SPECIALTY, TTY, Phone

TOP_KEYS = ("name", "line", "to", "from", "now", "tags", "steps", "outcome")
STEP_ACTIONS = {"press", "say", "silence", "hangup", "wait", "expect", "expect_state", "expect_language"}
AFTER_HOURS = "2026-11-23T21:30:00-06:00"

Action = str  # "1" presses, "say ..." speaks, "" is silence
CALLS: list[Any] = [
    pytest.param("main", ("1", "10203040", "03071956", "2"), True, id="identity-success"),
    pytest.param(
        "main", ("1", "12", "10203040", "01011990", "10203040", "01011990"), False, id="identity-failure"
    ),
    pytest.param("main", ("9", "say facturación", "", "7", "0"), False, id="spanish-speech"),
    pytest.param("main", ("1", "10203040", "03071956", "1", "7654321", "9"), False, id="refill-request"),
    pytest.param("main", ("say bananas", "say representative"), False, id="speech-invalid"),
    pytest.param("main", ("1", "", "", ""), False, id="silent-entry"),
    pytest.param("main", ("2", "4", "", "", ""), False, id="finished-by-silence"),
    pytest.param("main", ("2", "4", "*", "9", "0"), False, id="appeals-markup-and-language"),
    pytest.param("specialty", ("3", "*", "#", "4"), False, id="specialty"),
    pytest.param("tty", ("4",), False, id="tty-open"),
]


def place(app: Flask, line: str, actions: tuple[Action, ...], hang_up: bool) -> Phone:
    to = {"specialty": SPECIALTY, "tty": TTY}.get(line)
    phone = Phone(app, to=to or MAIN).dial()
    for action in actions:
        phone.act(action)
    if hang_up:
        phone.hangup()
    return phone


@pytest.fixture
def replay(
    make_app: Callable[..., Flask], tmp_path: Path
) -> Iterator[Callable[[dict[str, Any]], ScenarioResult]]:
    """Run a scenario dict, written as a file and loaded, against a fresh app of its own."""
    app = make_app(DATABASE=str(tmp_path / "replay.sqlite3"))
    target = Target(WsgiTransport(app), "http://localhost", in_process=True, app=app)

    def run(scenario: dict[str, Any]) -> ScenarioResult:
        path = tmp_path / "exported.yaml"
        path.write_text(scenario_yaml(scenario), encoding="utf-8")
        return run_scenario(load_scenario(path), target)

    yield run
    app.extensions["ivr"].store.close()


def export(engine: Engine, phone: Phone) -> tuple[CallRecord, dict[str, Any]]:
    record = engine.store.get_call(phone.sid)
    assert record is not None and record.events
    return record, call_to_scenario(record, engine.flows.get(record.line).machine.flow)


def actions_of(scenario: dict[str, Any]) -> list[Any]:
    return [
        s
        for s in scenario["steps"]
        if s in ("silence", "hangup") or (isinstance(s, dict) and not any(k.startswith("expect") for k in s))
    ]


@pytest.mark.parametrize(("line", "actions", "hang_up"), CALLS)
def test_an_exported_call_replays_and_passes(
    app: Flask,
    engine: Engine,
    replay: Callable[[dict[str, Any]], ScenarioResult],
    line: str,
    actions: tuple[Action, ...],
    hang_up: bool,
) -> None:
    record, scenario = export(engine, place(app, line, actions, hang_up))
    assert list(scenario) == [k for k in TOP_KEYS if k in scenario]
    assert scenario["line"] == line
    assert scenario["outcome"]["state"] == record.state
    for step in scenario["steps"]:
        assert step in ("silence", "hangup") or (
            isinstance(step, dict) and len(step) == 1 and set(step) <= STEP_ACTIONS
        )
    assert len(actions_of(scenario)) == len(actions) + hang_up
    result = replay(scenario)
    assert result.passed, f"{result.message}\n\n{scenario_yaml(scenario)}\n{result.transcript.render()}"


EXPORTS: list[Any] = [
    pytest.param(
        ("1", "10203040", "03071956", "2"),
        True,
        [{"press": "1"}, {"press": "10203040#"}, {"press": "03071956"}, {"press": "2"}, "hangup"],
        {"kind": "caller-hangup", "state": "track_shipment", "language": "en"},
        [
            "For refills or delivery status, press 1",
            "For your security",
            "Thank you. Now enter your date of birth as eight digits",
            "To request a refill, press 1",
            "Your most recent order",
        ],
        id="identity-success",
    ),
    pytest.param(
        ("1", "12", "10203040", "01011990", "10203040", "01011990"),
        False,
        [
            {"press": "1"},
            {"press": "12#"},
            {"press": "10203040#"},
            {"press": "01011990"},
            {"press": "10203040#"},
            {"press": "01011990"},
        ],
        {"state": "representative", "language": "en"},
        [
            "For refills or delivery status, press 1",
            "For your security",
            "Sorry, that entry is not valid",
            "Thank you. Now enter your date of birth as eight digits",
            "Sorry, we could not verify those details",
            "Thank you. Now enter your date of birth as eight digits",
            "Sorry, we could not verify those details",
        ],
        id="identity-failure",
    ),
    pytest.param(
        ("9", "say facturación", "", "0"),
        False,
        [{"press": "9"}, {"say": "facturación"}, "silence", {"press": "0"}],
        {"state": "representative", "language": "es"},
        [
            "For refills or delivery status, press 1",
            "Para resurtidos o entregas, oprima 1",
            "Para una diferencia en su factura, oprima 1",
            "Disculpe, no escuché nada",
            "Lo comunico con un representante",
        ],
        id="spanish",
    ),
    pytest.param(
        ("1", "", "", ""),
        False,
        [{"press": "1"}, "silence", "silence", "silence"],
        {"state": "representative", "language": "en"},
        [
            "For refills or delivery status, press 1",
            "For your security",
            "Sorry, I didn't hear anything",
            "Sorry, I didn't hear anything",
            "I'm having trouble with your entries",
        ],
        id="failover",
    ),
    pytest.param(
        ("4",),
        True,
        [{"press": "4"}],
        {"state": "pharmacist", "language": "en"},
        ["For refills or delivery status, press 1", "Connecting you with a licensed clinical pharmacist"],
        id="transfer-then-hangup",
    ),
    pytest.param(
        ("5", "1", "", "", ""),
        False,
        [{"press": "5"}, {"press": "1"}, "silence", "silence", "silence"],
        {"kind": "hangup", "state": "goodbye", "language": "en"},
        [
            "For refills or delivery status, press 1",
            "We do not ship outside the United States and its territories",
            "Before you travel",
            "Sorry, I didn't hear anything",
            "Sorry, I didn't hear anything",
            "Thank you for calling Caremark mail order pharmacy",
        ],
        id="goodbye",
    ),
]


@pytest.mark.parametrize(("actions", "hang_up", "inputs", "outcome", "phrases"), EXPORTS)
def test_exported_steps_inputs_and_phrases(
    app: Flask,
    engine: Engine,
    actions: tuple[Action, ...],
    hang_up: bool,
    inputs: list[Any],
    outcome: dict[str, str],
    phrases: list[str],
) -> None:
    record, scenario = export(engine, place(app, "main", actions, hang_up))
    assert actions_of(scenario) == inputs
    assert scenario["outcome"] == outcome
    expects = [s["expect"] for s in scenario["steps"] if isinstance(s, dict) and "expect" in s]
    assert len(expects) == len(phrases) == len(record.events)
    for expect, phrase, event in zip(expects, phrases, record.events, strict=True):
        assert phrase in _words(expect), (phrase, expect)
        if isinstance(expect, str):  # the whole of what was heard, word for word
            assert expect == event.heard
    states = [s["expect_state"] for s in scenario["steps"] if isinstance(s, dict) and "expect_state" in s]
    assert states == [e.dest for e in record.events]
    assert scenario["name"] == f"Call {record.reference} on the main line: {record.outcome or 'in progress'}"
    assert scenario["tags"] == ["exported"] and "now" not in scenario


def _words(expect: Any) -> str:
    """The words an expectation asks for: a string as it is, a regex without its escapes."""
    return expect if isinstance(expect, str) else re.sub(r"\\(.)", r"\1", expect["regex"])


def test_exports_expect_the_exact_words_with_the_reference_left_open(app: Flask, engine: Engine) -> None:
    record, scenario = export(engine, place(app, "main", ("0",), False))
    expects = [s["expect"] for s in scenario["steps"] if isinstance(s, dict) and "expect" in s]
    assert expects[0].startswith("Thanks for calling the Caremark mail order pharmacy simulator.")
    assert expects[0].endswith("To repeat, press star.")
    transfer = expects[1]["regex"]
    assert " ".join(record.reference) not in transfer  # a replay gets a reference of its own
    assert re.fullmatch(transfer, record.events[1].heard)


def test_a_replay_fails_when_the_words_differ(
    app: Flask, engine: Engine, replay: Callable[[dict[str, Any]], ScenarioResult]
) -> None:
    _, scenario = export(engine, place(app, "main", ("2",), False))
    assert replay(scenario).passed
    steps = scenario["steps"]
    at = next(i for i, s in enumerate(steps) if isinstance(s, dict) and isinstance(s.get("expect"), str))
    steps[at] = {"expect": steps[at]["expect"].replace("press 2", "press 7")}
    result = replay(scenario)
    assert not result.passed and "did not hear" in result.message


def test_secret_entries_never_reach_the_file_and_are_test_values(app: Flask, engine: Engine) -> None:
    record, scenario = export(engine, place(app, "main", ("1", "55501234", "11231948"), False))
    assert [e.input for e in record.events[2:]] == ["[8 digits hidden]", "[8 digits hidden]"]
    text = scenario_yaml(scenario)
    assert "hidden" not in text and "55501234" not in text and "11231948" not in text
    assert actions_of(scenario) == [{"press": "1"}, {"press": "10203040#"}, {"press": "03071956"}]


def test_spanish_is_checked_where_it_changes(app: Flask, engine: Engine) -> None:
    _, scenario = export(engine, place(app, "main", ("9", "9", "9"), False))
    languages = [
        (i, s["expect_language"])
        for i, s in enumerate(scenario["steps"])
        if isinstance(s, dict) and "expect_language" in s
    ]
    assert [lang for _, lang in languages] == ["es", "en", "es"]


@pytest.mark.parametrize(
    ("now", "closed"), [(AFTER_HOURS, True), ("2026-11-23T10:00:00-06:00", False)], ids=["closed", "open"]
)
def test_a_line_with_hours_gets_a_clock_on_the_same_side(
    make_app: Callable[..., Flask],
    replay: Callable[[dict[str, Any]], ScenarioResult],
    tmp_path: Path,
    now: str,
    closed: bool,
) -> None:
    app = make_app(NOW=now, DATABASE=str(tmp_path / "hours.sqlite3"))
    engine: Engine = app.extensions["ivr"]
    phone = Phone(app, to=TTY).dial()
    _, scenario = export(engine, phone)
    app.extensions["ivr"].store.close()
    assert scenario["steps"][1] == {"expect_state": "closed" if closed else "main_menu"}
    flow = engine.flows.get("tty").machine.flow
    assert flow.hours is not None
    assert is_open(flow.hours, datetime.fromisoformat(scenario["now"])) is not closed
    result = replay(scenario)  # the replay app's own clock says open: the scenario's wins
    assert result.passed, result.message


def test_a_changed_input_makes_the_replay_fail(
    app: Flask, engine: Engine, replay: Callable[[dict[str, Any]], ScenarioResult]
) -> None:
    _, scenario = export(engine, place(app, "main", ("2", "1"), False))
    scenario["steps"][2] = {"press": "3"}
    result = replay(scenario)
    assert not result.passed
    assert result.first_failure is not None and result.first_failure.label.startswith("expect")


def test_the_yaml_reads_back_as_the_same_scenario(app: Flask, engine: Engine) -> None:
    _, scenario = export(engine, place(app, "main", ("9", "say facturación"), False))
    text = scenario_yaml(scenario)
    assert yaml.safe_load(text) == scenario
    assert "facturación" in text and text.startswith("name: ")
