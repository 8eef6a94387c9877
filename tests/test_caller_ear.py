"""What a caller hears, walked as a caller through the real app: language first, every choice
confirmed, numbers in SSML, one meaning per key, a patient TTY line.

Each test asserts on the parsed TwiML (elements, attributes, SSML) and on the words heard, as
the simulated caller turns SSML into speech.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask

from ivr.engine.engine import Engine
from ivr.engine.flow import Flow
from ivr.sim import SimulatedCall, WsgiTransport

from .phone import MAIN, SPECIALTY, TTY

LINES = [pytest.param(MAIN, id="main"), pytest.param(SPECIALTY, id="specialty"), pytest.param(TTY, id="tty")]
MONDAY_NIGHT = "2026-11-23T22:30:00-06:00"
VOICES = {"en-US": "Polly.Joanna", "es-US": "Polly.Lupe"}


@pytest.fixture
def dial(app: Flask) -> Callable[..., SimulatedCall]:
    def place(to: str = MAIN, **kwargs: Any) -> SimulatedCall:
        return SimulatedCall(WsgiTransport(app), to=to, **kwargs).dial()

    return place


def flow_of(app: Flask, line: str) -> Flow:
    engine: Engine = app.extensions["ivr"]
    return engine.flow(line)


def doc(call: SimulatedCall) -> ElementTree.Element:
    """The last document the caller got (the answer to the last input)."""
    answers = [s for s in call.transcript.steps if s.kind not in ("status", "wait")]
    return ElementTree.fromstring(answers[-1].twiml)


def says(root: ElementTree.Element) -> list[ElementTree.Element]:
    return list(root.iter("Say"))


def words(say: ElementTree.Element) -> str:
    from ivr.engine.ssml import spoken_text

    return spoken_text(say)


# -- language first ------------------------------------------------------------------------


@pytest.mark.parametrize("to", LINES)
def test_spanish_is_offered_in_spanish_in_the_first_seconds(
    dial: Callable[..., SimulatedCall], to: str
) -> None:
    call = dial(to, simulated_now="2026-11-23T10:00:00-06:00")
    spoken = says(doc(call))
    # The second <Say> of the call, after a short welcome: Spanish, in the Spanish voice.
    offer = spoken[1]
    assert offer.get("language") == "es-US"
    assert offer.get("voice") == "Polly.Lupe"
    assert words(offer) == "Para español, oprima 9."
    assert len(words(spoken[0]).split()) <= 15
    assert all(say.get("voice") == VOICES[say.get("language", "")] for say in spoken)


@pytest.mark.parametrize("to", LINES)
def test_pressing_9_first_plays_greeting_warning_and_menu_in_spanish(
    dial: Callable[..., SimulatedCall], app: Flask, to: str
) -> None:
    call = dial(to, simulated_now="2026-11-23T10:00:00-06:00")
    call.press("9")
    spoken = says(doc(call))
    spanish = [s for s in spoken if s.get("language") == "es-US"]
    english = [s for s in spoken if s.get("language") == "en-US"]
    line = app.extensions["ivr"].line_for(to)
    flow = flow_of(app, line)
    heard_es = " ".join(words(s) for s in spanish)
    assert "Gracias" in heard_es and "Seguro Social" in heard_es  # greeting and anti-scam warning
    assert "oprima 1" in heard_es
    # Only the English offer is English, in its own <Say>.
    assert [words(s) for s in english] == ["For English, press 9."]
    assert call.state is not None
    assert call.state == flow.states[call.state].name
    assert call.language == "en-US" or call.language == "es-US"


def test_nine_in_a_submenu_switches_language_and_stays(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("2")
    assert call.state == "billing_menu"
    call.press("9")
    assert call.state == "billing_menu" and not call.ended
    spanish = [s for s in says(doc(call)) if words(s) != "For English, press 9."]
    assert spanish and {s.get("language") for s in spanish} == {"es-US"}
    # The first Spanish a caller hears is the greeting and warning, then this same menu.
    assert words(spanish[0]).startswith("Gracias")
    call.press("9")
    assert call.state == "billing_menu"
    english = [s for s in says(doc(call)) if words(s) != "Para español, oprima 9."]
    assert english and {s.get("language") for s in english} == {"en-US"}
    assert words(english[0]) == "English."
    call.press("9")  # Spanish again: now just confirmed
    assert words(says(doc(call))[0]) == "Español."


def test_every_say_holds_one_language(dial: Callable[..., SimulatedCall]) -> None:
    call = dial()
    for keys in ("9", "2", "4"):
        call.press(keys)
        for say in says(doc(call)):
            text = words(say)
            if say.get("language") == "en-US":
                assert "oprima" not in text and "español" not in text, text
            else:
                assert "press" not in text and "English" not in text, text


# -- every choice confirmed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "state"),
    [
        ("1", "verify_id"),
        ("2", "billing_menu"),
        ("3", "medicare_menu"),
        ("5", "international_menu"),
        ("21", "billing_discrepancy"),
        ("54", None),
    ],
)
def test_a_choice_is_confirmed_before_what_follows(
    dial: Callable[..., SimulatedCall], app: Flask, keys: str, state: str | None
) -> None:
    flow = flow_of(app, "main")
    call = dial()
    for key in keys[:-1]:
        call.press(key)
    before = call.state
    call.press(keys[-1])
    if state is None:  # a key the menu does not have: no confirmation, a retry
        assert call.state == before
        assert "Sorry" in words(says(doc(call))[0])
        return
    assert call.state == state
    confirm = flow.states[state].confirm["en"]
    assert confirm and len(confirm.split()) <= 6
    first = says(doc(call))[0]
    assert words(first) == confirm
    # A beat after the confirmation, before the menu.
    assert first.find("break") is not None


def test_speech_choice_is_confirmed_too(dial: Callable[..., SimulatedCall], app: Flask) -> None:
    call = dial().say("billing")
    assert call.state == "billing_menu"
    assert words(says(doc(call))[0]) == flow_of(app, "main").states["billing_menu"].confirm["en"]


def test_repeat_is_not_a_new_choice(dial: Callable[..., SimulatedCall], app: Flask) -> None:
    call = dial().press("2").press("*")
    assert call.state == "billing_menu"
    assert words(says(doc(call))[0]) != flow_of(app, "main").states["billing_menu"].confirm["en"]


# -- one meaning per key; no key hangs up ---------------------------------------------------


def _menus(flow: Flow) -> list[str]:
    return [name for name, spec in flow.states.items() if spec.type in ("menu", "info")]


@pytest.mark.parametrize("line", ["main", "specialty", "tty"])
def test_no_key_ends_a_call_and_the_key_map_holds_everywhere(app: Flask, line: str) -> None:
    flow = flow_of(app, line)
    assert set(flow.keys) == {"0", "*", "#", "9"}
    for state in _menus(flow):
        for edge in flow.edges_from(state):
            if edge.trigger.startswith("press_"):
                assert flow.states[edge.dest].type not in ("goodbye", "closed"), (state, edge)
        by_key = {e.trigger: e for e in flow.edges_from(state) if e.trigger.startswith("press_")}
        assert flow.states[by_key["press_0"].dest].type == "transfer", state
        assert by_key["press_star"].dest == state
        assert by_key["press_9"].dest == state and "toggle_language" in by_key["press_9"].actions


def test_zero_in_missing_package_reaches_a_person(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("1").press("10203040#").press("03071956").press("3")
    assert call.state == "missing_package"
    call.press("0")
    assert call.ended and call.outcome is not None and call.outcome.kind == "enqueue"
    assert call.outcome.target == "sim-representative"


def test_pound_returns_to_the_main_menu_with_its_confirmation(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("5").press("1").press("#")
    assert call.state == "main_menu"
    assert not call.ended


def test_silence_at_an_information_leaf_ends_politely_with_the_reference(
    dial: Callable[..., SimulatedCall],
) -> None:
    call = dial().press("2").press("2")
    assert call.state == "billing_cost"
    for _ in range(3):
        call.silence()
    assert call.ended and call.outcome is not None and call.outcome.kind == "hangup"
    assert call.state == "goodbye"
    hangup = doc(call)
    digits = [e for e in hangup.iter("say-as") if e.get("interpret-as") == "digits"]
    assert digits and len("".join(digits[0].itertext())) == 8  # the reference number, as digits


# -- numbers spoken right (SSML) -------------------------------------------------------------


def _say_as(root: ElementTree.Element, kind: str) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter("say-as") if e.get("interpret-as") == kind]


def test_fax_and_mailing_address_are_read_as_digits(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("2").press("4")
    root = doc(call)
    assert "1-866-224-2741" in _say_as(root, "telephone")
    assert "52058" in _say_as(root, "digits")
    assert "85072-2058" in _say_as(root, "digits")
    heard = call.heard
    assert "1, 8 6 6, 2 2 4, 2 7 4 1" in heard
    assert "5 2 0 5 8" in heard and "8 5 0 7 2, 2 0 5 8" in heard
    assert "52058" not in heard  # never read as "fifty-two thousand fifty-eight"


def test_date_of_birth_example_is_a_date_and_its_digits(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("1").press("10203040#")
    assert call.state == "verify_dob"
    root = doc(call)
    dates = [e for e in root.iter("say-as") if e.get("interpret-as") == "date"]
    assert dates and dates[0].get("format") == "mdy" and "".join(dates[0].itertext()) == "05/09/1962"
    assert "05091962" in _say_as(root, "digits")
    assert "May 9, 1962" in call.heard and "0 5 0 9 1 9 6 2" in call.heard
    call.press("9")  # 9 at an entry is a digit, not a language switch
    assert call.state != "verify_dob" or "Sorry" in call.heard


def test_spanish_date_is_spoken_in_spanish(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("9").press("1").press("10203040#")
    assert call.state == "verify_dob"
    assert "9 de mayo de 1962" in call.heard


def test_reference_number_is_spoken_as_digits_before_a_transfer(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("0")
    root = doc(call)
    reference = _say_as(root, "digits")
    assert len(reference) == 2 and reference[0] == reference[1]  # said twice, as digits
    assert " ".join(reference[0]) in call.heard
    assert root.find("Enqueue") is not None


def test_prescription_digits_are_read_one_by_one(dial: Callable[..., SimulatedCall]) -> None:
    call = dial().press("1").press("10203040#").press("03071956").press("1").press("123456789#")
    assert call.state == "refill_submitted"
    assert "6789" in _say_as(doc(call), "digits")
    assert "6 7 8 9" in call.heard


# -- the TTY / relay line ----------------------------------------------------------------------


def test_tty_line_waits_longer_and_speaks_slower(dial: Callable[..., SimulatedCall], app: Flask) -> None:
    call = dial(TTY, simulated_now="2026-11-23T10:00:00-06:00")
    root = doc(call)
    gather = root.find("Gather")
    assert gather is not None
    assert int(gather.get("timeout", "0")) >= 10
    assert set(gather.get("input", "").split()) == {"dtmf", "speech"}
    for say in says(root):
        prosody = say.find("prosody")
        assert prosody is not None and prosody.get("rate") == flow_of(app, "tty").pace.rate
    call.press("1")
    entry = doc(call).find("Gather")
    assert entry is not None and int(entry.get("timeout", "0")) >= 15


def test_main_line_keeps_the_brisk_pace(dial: Callable[..., SimulatedCall]) -> None:
    gather = doc(dial()).find("Gather")
    assert gather is not None and int(gather.get("timeout", "0")) < 10
    assert doc(dial()).find(".//prosody") is None


def test_tty_closed_message_in_both_languages(dial: Callable[..., SimulatedCall]) -> None:
    call = dial(TTY, simulated_now=MONDAY_NIGHT)
    root = doc(call)
    assert root.find("Gather") is None and root.find("Hangup") is not None
    languages = [s.get("language") for s in says(root)]
    assert "en-US" in languages and "es-US" in languages
    english = " ".join(words(s) for s in says(root) if s.get("language") == "en-US")
    spanish = " ".join(words(s) for s in says(root) if s.get("language") == "es-US")
    assert "8 a.m." in english and "8 p.m." in english and "Saturday" in english
    assert "sábado" in spanish
    assert call.outcome is not None and call.outcome.kind == "hangup"


def test_the_call_language_is_not_the_closing_offer(dial: Callable[..., SimulatedCall]) -> None:
    """A menu that ends with "Para español, oprima 9" is still an English menu."""
    call = dial().press("9").press("9")
    assert says(doc(call))[-1].get("language") == "es-US"  # the offer comes last
    assert call.language == "en-US"
    call.press("9")
    assert says(doc(call))[-1].get("language") == "en-US"
    assert call.language == "es-US"
