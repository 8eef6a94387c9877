"""No TwiML the app produces dials a number from the guide; transfers go to simulated queues."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from xml.etree import ElementTree

import pytest
from flask import Flask

from ivr.engine.config import FORBIDDEN_NUMBERS
from ivr.engine.errors import ConfigError
from ivr.qa.crawl import crawl
from ivr.sim import HttpReply, WsgiTransport

from .phone import MAIN, SPECIALTY, TTY, Phone

LINES = [
    pytest.param(MAIN, "2026-11-23T10:00:00-06:00", "main", id="main"),
    pytest.param(SPECIALTY, "2026-11-23T10:00:00-06:00", "specialty", id="specialty"),
    pytest.param(TTY, "2026-11-23T10:00:00-06:00", "tty", id="tty-open"),
    pytest.param(TTY, "2026-11-23T22:00:00-06:00", "tty", id="tty-closed"),
]


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


class _Recording:
    """A transport that keeps every answer the app gave, to read each TwiML document afterwards."""

    def __init__(self, app: Flask) -> None:
        self._inner = WsgiTransport(app)
        self.answers: list[HttpReply] = []

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        reply = self._inner.request(method, url, fields, headers)
        self.answers.append(reply)
        return reply


@pytest.mark.parametrize(("to", "now", "line"), LINES)
def test_every_reachable_state_is_safe_by_default(
    make_app: Callable[..., Flask], to: str, now: str, line: str
) -> None:
    app = make_app(NOW=now)
    flow = app.extensions["ivr"].flows.get(line).machine.flow
    transport = _Recording(app)
    report = crawl(transport, to, flow=flow, line=line)  # the real crawler: every key, every state
    documents = [a for a in transport.answers if a.content_type == "text/xml" and a.body]
    assert len(documents) >= report.calls
    for answer in documents:
        root = ElementTree.fromstring(answer.body)
        state = answer.headers.get("x-ivr-state")
        assert root.find(".//Dial") is None and root.find(".//Number") is None, state
        # Prompts may speak the guide's numbers (as text or in their SSML, e.g. a fax number in
        # <say-as interpret-as="telephone">); nothing else may carry them.
        spoken = {id(e) for say in root.iter("Say") for e in say.iter()}
        for element in root.iter():
            dialable = " ".join(element.attrib.values())
            if id(element) not in spoken:
                dialable += " " + (element.text or "")
            for number in FORBIDDEN_NUMBERS:
                assert _digits(number)[1:] not in _digits(dialable), (state, element.tag)
        if state in flow.states and flow.states[state].type == "transfer":
            enqueue = root.find("Enqueue")
            assert enqueue is not None and (enqueue.text or "").startswith("sim-"), state
    visited = {p.state for p in report.paths}
    if line == "tty" and "22:00" in now:
        assert visited == {"closed"}
    else:
        expected = {name for name, spec in flow.states.items() if spec.type != "start"}
        expected.discard("closed")
        assert visited == expected


def _dial_document(phone: Phone) -> ElementTree.Element:
    """The document that answered the last key press (before Twilio requested the Dial's action)."""
    return ElementTree.fromstring(phone.history[-2])


def test_configured_transfer_number_is_dialled(make_app: Callable[..., Flask]) -> None:
    app = make_app(TRANSFER_NUMBER="+15005550006")
    phone = Phone(app).dial().press("0")
    answer = _dial_document(phone)
    dial = answer.find("Dial")
    assert dial is not None and answer.find("Enqueue") is None
    assert [n.text for n in dial.iter("Number")] == ["+15005550006"]
    assert dial.attrib["action"].startswith("/voice/after-transfer")
    # Twilio requests the Dial's action when the dialled call ends: the goodbye after a transfer.
    assert phone.transcript.steps[-2].url.split("?")[0].endswith("/voice/after-transfer")
    assert phone.hung_up


def test_per_desk_number_overrides(make_app: Callable[..., Flask]) -> None:
    app = make_app(TRANSFER_PHARMACIST="+1 (500) 555-0001")
    pharmacist = Phone(app).dial().press("4")
    assert [n.text for n in _dial_document(pharmacist).iter("Number")] == ["+15005550001"]
    representative = Phone(app).dial().press("0")
    assert representative.enqueue is not None and representative.enqueue.text == "sim-representative"


@pytest.mark.parametrize("number", sorted(FORBIDDEN_NUMBERS) + ["1-800-237-2765"])
def test_a_number_from_the_guide_is_refused_at_start_up(make_app: Callable[..., Flask], number: str) -> None:
    with pytest.raises(ConfigError, match="never dials it"):
        make_app(TRANSFER_REPRESENTATIVE=number)


def test_a_malformed_transfer_number_is_refused(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigError, match="IVR_TRANSFER_NUMBER.*not a phone number"):
        make_app(TRANSFER_NUMBER="call-me")
