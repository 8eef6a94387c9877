"""SimulatedCall.snapshot() and resume(): a call put away as JSON and taken up by another worker.

Against the real app in-process: the kept call goes on as an unbroken one would, an ended call
keeps how it ended, and a call that cannot be kept (held in a queue, at a <Record>, in an
endless prompt) says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from ivr import Outcome, SimulatedCall, SimulationError, WsgiTransport
from ivr.sim.switch import Switch

from .phone import MAIN
from .twiml_apps import TwimlApp


@pytest.fixture
def other_worker(make_app: Callable[..., Flask], app: Flask) -> Iterator[Flask]:
    """A second app on the same database and key: another worker taking up the next request."""
    worker = make_app()
    yield worker
    worker.extensions["ivr"].store.close()


def placed(app: Flask, **options: Any) -> SimulatedCall:
    return SimulatedCall(WsgiTransport(app), MAIN, **options).dial()


def kept(call: SimulatedCall) -> dict[str, Any]:
    """The call's snapshot as a store would hold it: through JSON text and back."""
    data: dict[str, Any] = json.loads(json.dumps(call.snapshot()))
    return data


def test_a_call_at_a_menu_goes_on_after_resume_as_an_unbroken_call(app: Flask, other_worker: Flask) -> None:
    unbroken = placed(app).press("2")
    call = placed(app).press("2")
    assert call.state == "billing_menu" and call.gather is not None
    data = kept(call)

    resumed = SimulatedCall.resume(WsgiTransport(other_worker), call.call_sid, data, None)

    assert resumed.call_sid == call.call_sid
    assert resumed.snapshot() == data  # everything kept is taken up
    assert resumed.state == "billing_menu" and resumed.waiting and not resumed.ended
    assert resumed.heard == call.heard and "For a billing discrepancy, press 1" in resumed.heard
    assert resumed.clock == call.clock
    # One step stands for the call so far: where the app last said it was.
    (stand_in,) = resumed.transcript.steps
    last = call.transcript.steps[-1]
    assert stand_in.kind == "resumed"
    assert (stand_in.state, stand_in.trigger, stand_in.language) == (last.state, last.trigger, last.language)
    assert (last.state, last.trigger, last.language) == ("billing_menu", "press_2", "en")

    resumed.press("1")
    unbroken.press("1")
    assert resumed.state == unbroken.state == "billing_discrepancy"
    assert resumed.heard_items == unbroken.heard_items and resumed.heard
    assert resumed.clock == unbroken.clock
    assert resumed.transcript.steps[-1].url == unbroken.transcript.steps[-1].url
    assert [s.error for s in resumed.transcript.steps] == [None, None]
    assert resumed.snapshot() == unbroken.snapshot()


@pytest.mark.parametrize(
    ("walk", "outcome", "state"),
    [
        (lambda c: c.press("4"), Outcome("enqueue", target="sim-pharmacist"), "pharmacist"),
        (lambda c: c.press("2").hangup(), Outcome("caller-hangup"), "billing_menu"),
    ],
    ids=["transferred", "caller-hung-up"],
)
def test_an_ended_call_keeps_how_it_ended(
    app: Flask,
    other_worker: Flask,
    walk: Callable[[SimulatedCall], SimulatedCall],
    outcome: Outcome,
    state: str,
) -> None:
    call = walk(placed(app))
    assert call.outcome == outcome
    data = kept(call)

    resumed = SimulatedCall.resume(WsgiTransport(other_worker), call.call_sid, data, None)

    assert resumed.ended and resumed.outcome == outcome
    assert resumed.state == state
    assert not resumed.waiting and resumed.gather is None
    assert resumed.snapshot() == data  # its status, callbacks sent and clock too
    with pytest.raises(SimulationError, match="the call has ended"):
        resumed.press("1")


def test_a_call_held_in_a_queue_cannot_be_kept(app: Flask) -> None:
    # A switch that parks: the pharmacist transfer (<Enqueue>) keeps the caller in the queue.
    call = placed(app, switch=Switch()).press("4")
    assert call.state == "pharmacist" and not call.ended and not call.waiting

    with pytest.raises(SimulationError, match="held in a queue"):
        call.snapshot()


@pytest.mark.parametrize(
    "twiml",
    [
        '<Response><Say>Leave a message.</Say><Record action="/saved"/></Response>',
        '<Response><Say loop="0">Please hold.</Say></Response>',
    ],
    ids=["recording", "endless-prompt"],
)
def test_a_call_at_a_record_or_in_an_endless_prompt_cannot_be_kept(twiml: str) -> None:
    served = TwimlApp({"/": twiml})
    call = SimulatedCall(WsgiTransport(served), MAIN, voice_url="/").dial()
    assert not call.ended and call.gather is None

    with pytest.raises(SimulationError, match="a recording or a loop"):
        call.snapshot()


def test_the_format_keeps_the_keys_stored_calls_have(app: Flask) -> None:
    # Page calls kept in a store before an upgrade are taken up after it: no key is renamed or dropped.
    data = kept(placed(app).press("2"))

    assert sorted(data) == [
        "answered",
        "base_url",
        "caller",
        "clock",
        "header_language",
        "outcome",
        "sequence",
        "simulated_now",
        "since_input",
        "state",
        "status",
        "to",
        "trigger",
        "waiting",
    ]
    assert sorted(data["waiting"]) == ["gather", "rest", "url"]
