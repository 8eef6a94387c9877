"""choose_trigger: one webhook's Digits or SpeechResult onto the trigger the state declares."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ivr.engine.engine import Engine
from ivr.engine.inputs import MAX_DIGITS, Input, choose_trigger


@pytest.fixture
def choose(engine: Engine) -> Callable[..., Input]:
    """choose_trigger at one state of the main line: `choose(state, digits=..., speech=..., lang=...)`."""
    fm = engine.flows.get("main").machine

    def at(state: str, digits: str = "", speech: str = "", lang: str = "en") -> Input:
        return choose_trigger(fm, fm.flow.states[state], lang, digits, speech)

    return at


@pytest.mark.parametrize(
    ("digits", "trigger", "shown"),
    [
        pytest.param("2", "press_2", "2", id="a-menu-key"),
        pytest.param("0", "press_0", "0", id="zero"),
        pytest.param("8", "invalid", "8", id="a-key-the-menu-lacks"),
        pytest.param("12", "invalid", "12", id="two-keys"),
        pytest.param("2a", "invalid", "2?", id="not-a-key-masked"),
    ],
)
def test_keys_at_a_menu(choose: Callable[..., Input], digits: str, trigger: str, shown: str) -> None:
    assert choose("main_menu", digits=digits) == Input(trigger, "", shown)


@pytest.mark.parametrize(
    ("speech", "lang", "trigger"),
    [
        pytest.param("billing please", "en", "press_2", id="english"),
        pytest.param("  Billing  ", "en", "press_2", id="spaces-and-case"),
        pytest.param("farmacéutico", "es", "press_4", id="spanish"),
        pytest.param("farmacéutico", "en", "press_4", id="spanish-on-an-english-call"),
        pytest.param("pharmacist", "es", "press_4", id="english-on-a-spanish-call"),
        pytest.param("the weather", "en", "invalid", id="nothing-matches"),
    ],
)
def test_speech_in_either_language(
    choose: Callable[..., Input], speech: str, lang: str, trigger: str
) -> None:
    chosen = choose("main_menu", speech=speech, lang=lang)
    assert chosen.trigger == trigger
    assert chosen.shown == f'said "{speech.strip()}"' and chosen.digits == ""


def test_keys_win_over_speech_and_nothing_is_no_input(choose: Callable[..., Input]) -> None:
    assert choose("main_menu", digits="2", speech="pharmacist").trigger == "press_2"
    assert choose("main_menu") == Input("no_input", "", "")
    assert choose("main_menu", speech="   ") == Input("no_input", "", "")


@pytest.mark.parametrize(
    ("state", "digits", "speech", "expected"),
    [
        pytest.param(
            "verify_id",
            "10203040",
            "",
            Input("entry", "10203040", "[8 digits hidden]"),
            id="secret-keys-masked",
        ),
        pytest.param(
            "verify_id",
            "",
            "one 0 2 0 3 0 4 0",
            Input("entry", "0203040", "[7 digits hidden]"),
            id="secret-digits-in-speech",
        ),
        pytest.param(
            "refill_request", "7654321", "", Input("entry", "7654321", "7654321"), id="plain-entry-shown"
        ),
        pytest.param("refill_request", "76*5", "", Input("entry", "76*5", "76*5"), id="star-kept"),
        pytest.param("verify_id", "", "", Input("no_input", "", ""), id="nothing"),
        pytest.param("verify_id", "", "no idea", Input("no_input", "", ""), id="speech-without-digits"),
    ],
)
def test_entries(choose: Callable[..., Input], state: str, digits: str, speech: str, expected: Input) -> None:
    assert choose(state, digits=digits, speech=speech) == expected


def test_an_over_long_entry_is_cut_and_marked_so_it_cannot_pass(choose: Callable[..., Input]) -> None:
    chosen = choose("refill_request", digits="7" * (MAX_DIGITS + 40))
    assert chosen.trigger == "entry"
    assert chosen.digits == "7" * MAX_DIGITS + "x"
    assert len(chosen.shown) == MAX_DIGITS + 1


def test_over_long_keys_at_a_menu_are_invalid_and_shown_cut(choose: Callable[..., Input]) -> None:
    chosen = choose("main_menu", digits="2" * 500)
    assert chosen == Input("invalid", "", "2" * MAX_DIGITS)


def test_over_long_speech_is_shown_cut(choose: Callable[..., Input]) -> None:
    chosen = choose("main_menu", speech="la " * 300)
    assert chosen.trigger == "invalid"
    assert chosen.shown == 'said "' + ("la " * 300)[:80] + '"'
