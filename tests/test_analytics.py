"""Figures for trainers (ivr.analytics) from calls placed through the app and read back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

import ivr.engine.engine
from ivr.engine.engine import Engine
from ivr.engine.flow import Flow
from ivr.qa.analytics import line_analytics

from .phone import MAIN, TTY, Phone

STEP_SECONDS = 10.0


class Clock:
    """Stands in for the engine's `time` module: each call of time() is a moment we chose."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


def walk(phone: Phone, clock: Clock, *actions: str, hang_up: bool = True) -> Phone:
    """Dial, then press keys, 'say ...' or '' (silence), STEP_SECONDS apart; then hang up.

    A call that ends itself (a transfer, a goodbye) has its final status posted at once, as Twilio
    does; one still up is hung up STEP_SECONDS after the last input.
    """
    phone.dial()
    for action in actions:
        clock.now += STEP_SECONDS
        phone.act(action)
    if hang_up:
        clock.now += STEP_SECONDS
        assert phone.hangup().status_code == 204
    return phone


#: The calls of the main line (and one of the tty line, which the main figures leave out).
CALLS: list[tuple[str, tuple[str, ...], bool]] = [
    ("main", ("2", "1", "0"), True),  # billing, discrepancy, representative: 3 steps, 30 s
    ("main", ("say billing", "", "7"), True),  # hangs up in billing_menu after two retries
    # Spanish, Medicare, the coverage gap, then silent three times: goodbye ("finished"), 60 s
    ("main", ("9", "3", "1", "", "", ""), True),
    # a bad ID, then verified; Spanish in the refill menu (9 stays), delivery times, silent: 90 s
    ("main", ("1", "12", "10203040", "03071956", "9", "4", "", "", ""), True),
    ("main", ("1", "", "", ""), True),  # silent at verify_id three times: a representative, 40 s
    ("main", ("5",), False),  # still in the international menu: no end, no duration
    ("tty", ("2", "0"), True),
]


@pytest.fixture
def figures(app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    clock = Clock()
    monkeypatch.setattr(ivr.engine.engine, "time", clock)
    phones = [
        walk(Phone(app, to=TTY if line == "tty" else MAIN), clock, *keys, hang_up=up)
        for line, keys, up in CALLS
    ]
    records = [engine.store.get_call(p.sid) for p in phones]
    assert all(r is not None and r.events for r in records)
    return line_analytics(records, _main(engine))  # type: ignore[arg-type]


def _main(engine: Engine) -> Flow:
    return engine.flows.get("main").machine.flow


EXPECTED: list[Any] = [
    pytest.param("line", "main", id="line"),
    pytest.param("calls", 6, id="calls"),
    pytest.param("calls_with_events", 6, id="calls-with-events"),
    pytest.param(
        "outcomes",
        {"transfer:representative": 2, "goodbye": 2, "hung up in billing_menu": 1, "in progress": 1},
        id="outcomes",
    ),
    pytest.param(
        "outcome_kinds", {"transfer": 2, "goodbye": 2, "hung up": 1, "in progress": 1}, id="outcome-kinds"
    ),
    pytest.param("transfers", {"representative": 2}, id="transfers"),
    pytest.param("hangups", {"billing_menu": 1}, id="hangups"),
    pytest.param(
        "retries",
        {  # silence after an information leaf ends the call: no failover
            "verify_id": {"no_input": 3, "invalid": 0, "invalid_entry": 1, "failover": 1},
            "delivery_info": {"no_input": 3, "invalid": 0, "invalid_entry": 0, "failover": 0},
            "billing_menu": {"no_input": 1, "invalid": 1, "invalid_entry": 0, "failover": 0},
            "medicare_gap": {"no_input": 3, "invalid": 0, "invalid_entry": 0, "failover": 0},
        },
        id="retries",
    ),
    pytest.param("steps", {"average": 4.33, "min": 1, "max": 9}, id="steps"),
    pytest.param(
        "duration_seconds", {"average": 52.0, "min": 30.0, "max": 90.0, "measured": 5}, id="durations"
    ),
    pytest.param("languages", {"en": 4, "es": 2}, id="languages"),
    pytest.param("switched_language", 2, id="switched"),
]


@pytest.mark.parametrize(("key", "expected"), EXPECTED)
def test_figures_of_the_main_line(figures: dict[str, Any], key: str, expected: Any) -> None:
    assert figures[key] == expected


def _option(count: int, dests: dict[str, int], label: str, spoken: int = 0) -> dict[str, Any]:
    return {"count": count, "spoken": spoken, "dests": dests, "label": label}


CHOICES: list[Any] = [
    pytest.param(
        "main_menu",
        7,
        {
            "1": _option(2, {"verify_id": 2}, "1 → verify_id"),
            "2": _option(2, {"billing_menu": 2}, "2 → billing_menu", spoken=1),
            "3": _option(1, {"medicare_menu": 1}, "3 → medicare_menu"),
            "5": _option(1, {"international_menu": 1}, "5 → international_menu"),
            "9": _option(1, {"main_menu": 1}, "9 (stays)"),
        },
        id="main-menu",
    ),
    pytest.param(
        "billing_menu",
        1,
        {"1": _option(1, {"billing_discrepancy": 1}, "1 → billing_discrepancy")},
        id="billing",
    ),
    pytest.param(
        "billing_discrepancy", 1, {"0": _option(1, {"representative": 1}, "0 → representative")}, id="leaf"
    ),
    pytest.param(
        "medicare_menu", 1, {"1": _option(1, {"medicare_gap": 1}, "1 → medicare_gap")}, id="spanish"
    ),
    pytest.param(
        "refill_menu",
        2,
        {
            "4": _option(1, {"delivery_info": 1}, "4 → delivery_info"),
            "9": _option(1, {"refill_menu": 1}, "9 (stays)"),
        },
        id="verified",
    ),
]


@pytest.mark.parametrize(("state", "total", "options"), CHOICES)
def test_choices_per_menu(figures: dict[str, Any], state: str, total: int, options: dict[str, Any]) -> None:
    assert figures["choices"][state] == {"total": total, "options": options}
    assert list(figures["choices"][state]["options"]) == list(options)  # in key order


def test_choices_cover_only_menus_where_a_key_was_chosen(figures: dict[str, Any]) -> None:
    assert list(figures["choices"]) == [
        "main_menu",
        "refill_menu",
        "billing_menu",
        "billing_discrepancy",
        "medicare_menu",
    ]


def test_figures_are_plain_json(figures: dict[str, Any]) -> None:
    assert json.loads(json.dumps(figures)) == figures


def test_records_without_events_count_only_as_calls(
    app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(ivr.engine.engine, "time", clock)
    for line, keys, up in CALLS:
        walk(Phone(app, to=TTY if line == "tty" else MAIN), clock, *keys, hang_up=up)
    recent = engine.store.recent_calls(limit=50)
    assert len(recent) == len(CALLS) and not any(r.events for r in recent)
    figures = line_analytics(recent, _main(engine))
    assert (figures["calls"], figures["calls_with_events"]) == (6, 0)
    assert figures["outcomes"]["goodbye"] == 2
    assert (figures["choices"], figures["retries"], figures["steps"]) == ({}, {}, None)
    assert figures["duration_seconds"] == {"average": 52.0, "min": 30.0, "max": 90.0, "measured": 5}


def test_no_calls_no_figures(engine: Engine) -> None:
    figures = line_analytics([], _main(engine))
    assert figures == {
        "line": "main",
        "title": "Mail-order pharmacy main line",
        "calls": 0,
        "calls_with_events": 0,
        "outcomes": {},
        "outcome_kinds": {},
        "transfers": {},
        "choices": {},
        "hangups": {},
        "retries": {},
        "steps": None,
        "duration_seconds": None,
        "languages": {},
        "switched_language": 0,
    }
