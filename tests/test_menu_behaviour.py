"""What callers of a real IVR expect: retries, no input, speech, identity checks, hours."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.engine.engine import Engine
from ivr.engine.ssml import say_as, spoken_text
from ivr.sim.twiml_rules import validate_twiml

from .flow_text import confirm, first, flow, greeting, message, prompt, reprompt
from .narrowing import stored
from .phone import MAIN, TTY, Phone

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"
FULL_MAIN = prompt("main_menu")
SHORT_MAIN = reprompt("main_menu")


def arrival(state: str, lang: str = "en") -> str:
    """What a caller hears first on choosing `state`: its confirmation, then its first sentence."""
    said = [confirm(state, lang)] if flow().states[state].confirm else []
    return " ".join([*said, first(prompt(state, lang))])


def test_first_prompt_then_shorter_reprompt_after_a_failure(call: Callable[..., Phone]) -> None:
    phone = call()
    assert FULL_MAIN in phone.heard
    phone.silence()
    assert SHORT_MAIN in phone.heard and FULL_MAIN not in phone.heard
    assert len(phone.heard) < len(call().heard)


def test_no_input_and_invalid_input_have_distinct_messages(call: Callable[..., Phone]) -> None:
    silent = call().silence().heard
    wrong = call().press("7").heard
    assert "didn't hear anything" in silent and "not one of the options" not in silent
    assert "not one of the options" in wrong and "didn't hear anything" not in wrong


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param(["silence", "silence", "silence"], id="three-silences"),
        pytest.param(["7", "8", "6"], id="three-bad-keys"),
        pytest.param(["silence", "7", "say:banana"], id="mixed"),
    ],
)
def test_three_failures_then_a_representative(
    call: Callable[..., Phone], engine: Engine, failures: list[str]
) -> None:
    phone = call()
    for index, failure in enumerate(failures):
        if failure == "silence":
            phone.silence()
        elif failure.startswith("say:"):
            phone.say(failure[4:])
        else:
            phone.press(failure)
        if index < 2:
            assert phone.gather is not None, f"hung up after {index + 1} failures"
    assert phone.enqueue is not None and phone.enqueue.text == "sim-representative"
    assert "let me get you to a representative" in phone.heard
    assert stored(engine.store, phone.sid).outcome == "transfer:representative"


def test_a_good_key_resets_the_failure_count(call: Callable[..., Phone]) -> None:
    phone = call().silence().silence().press("2")  # two failures, then billing
    phone.silence().silence()
    assert phone.gather is not None  # still two chances at the billing menu
    assert reprompt("billing_menu") in phone.heard


def test_several_digits_where_one_is_expected_are_invalid(
    call: Callable[..., Phone], client: FlaskClient, engine: Engine
) -> None:
    phone = call()  # Twilio stops at numDigits=1: only a raw request can carry "12"
    response = client.post(phone.action, data={**phone._fields(), "Digits": "12"})
    assert response.status_code == 200
    heard = " ".join(spoken_text(s) for s in validate_twiml(response.data).iter("Say"))
    assert "not one of the options" in heard
    assert stored(engine.store, phone.sid).state == "main_menu"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("I need a refill", arrival("verify_id")),
        ("billing please", arrival("billing_menu")),
        ("Medicare", arrival("medicare_menu")),
        ("can I talk to a pharmacist", arrival("pharmacist")),
        ("international", arrival("international_menu")),
        ("representative", arrival("representative")),
        ("Español", f"{greeting('es')} {message('language_offer', 'en')}"),
        ("two", arrival("billing_menu")),
        ("repeat", FULL_MAIN),
    ],
    ids=[
        "refill",
        "billing",
        "medicare",
        "pharmacist",
        "international",
        "representative",
        "espanol",
        "number-word",
        "repeat",
    ],
)
def test_speech_picks_the_same_options(call: Callable[..., Phone], words: str, expected: str) -> None:
    heard = call().say(words).heard
    assert expected in heard
    if words == "Español":
        assert prompt("main_menu", "es") in heard


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("facturación", arrival("billing_menu", "es")),
        ("quiero un resurtido", arrival("verify_id", "es")),
        ("farmacéutico", arrival("pharmacist", "es")),
        ("representante", arrival("representative", "es")),
        ("english", f"{message('language_set')} {FULL_MAIN}"),
    ],
    ids=["facturacion", "resurtido", "farmaceutico", "representante", "english"],
)
def test_spanish_speech(call: Callable[..., Phone], words: str, expected: str) -> None:
    assert expected in call().press("9").say(words).heard


def test_speech_that_matches_nothing_is_invalid_not_silence(call: Callable[..., Phone]) -> None:
    heard = call().say("the weather in Paris").heard
    assert "not one of the options" in heard


def test_menus_listen_for_keys_and_speech_with_hints(call: Callable[..., Phone]) -> None:
    gather = call().gather
    assert gather is not None
    assert gather.attrib["input"] == "dtmf speech"
    assert gather.attrib["numDigits"] == "1"
    assert "refill" in gather.attrib["hints"] and "representative" in gather.attrib["hints"]
    assert gather.attrib["actionOnEmptyResult"] == "true"


def test_identity_success_reaches_refills_and_stays_verified(call: Callable[..., Phone]) -> None:
    phone = call().press("1")
    assert "enter your Caremark member ID" in phone.heard
    phone.press(MEMBER_ID)
    assert "date of birth" in phone.heard
    phone.press(MEMBER_DOB)
    assert spoken_text(phone.says[0]) == message("verified")
    assert prompt("refill_menu") in phone.heard
    phone.press("#").press("1")  # back to the main menu and into refills: no second check
    assert phone.heard == f"{confirm('refill_menu')} {prompt('refill_menu')}"


@pytest.mark.parametrize(
    ("member_id", "dob"),
    [(MEMBER_ID, MEMBER_DOB), ("55501234", "11231948"), ("123456789012", "07041976")],
    ids=["member-1", "member-2", "member-3"],
)
def test_member_id_is_never_spoken_back(
    call: Callable[..., Phone], engine: Engine, member_id: str, dob: str
) -> None:
    phone = call().press("1").press(member_id).press(dob)
    assert message("verified") in phone.heard
    # The date-of-birth prompt's example is no member's date of birth.
    assert dob not in engine.flow("main").states["verify_dob"].prompt["en"]
    for index, document in enumerate(phone.history):
        assert member_id not in document and " ".join(member_id) not in document
        assert dob not in document and " ".join(dob) not in document, index


def test_wrong_identity_gets_one_retry_then_a_representative(
    call: Callable[..., Phone], engine: Engine
) -> None:
    phone = call().press("1").press(MEMBER_ID).press("01011990")
    assert "could not verify those details" in phone.heard
    assert "enter your Caremark member ID" in phone.heard
    phone.press("99999999").press("01011990")
    assert phone.enqueue is not None and phone.enqueue.text == "sim-representative"
    assert "could not verify" in phone.heard
    assert stored(engine.store, phone.sid).outcome == "transfer:representative"


def test_malformed_member_id_is_retried_without_a_lookup(call: Callable[..., Phone], engine: Engine) -> None:
    phone = call().press("1").press("12")
    assert "that entry is not valid" in phone.heard and "six to twelve digits" in phone.heard
    assert stored(engine.store, phone.sid).state == "verify_id"


def test_identity_in_spanish(call: Callable[..., Phone]) -> None:
    phone = call().press("9").press("1")
    assert "número de miembro" in phone.heard
    phone.press(MEMBER_ID).press(MEMBER_DOB)
    assert "identidad está verificada" in phone.heard
    assert "Su pedido más reciente" in phone.press("2").heard


# -- TTY hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        ("2026-11-23T08:00:00-06:00", True),  # Monday 8:00 Central, opening time
        ("2026-11-23T19:59:00-06:00", True),  # Monday just before 8 p.m.
        ("2026-11-23T20:00:00-06:00", False),  # Monday 8 p.m.: closed
        ("2026-11-23T07:59:00-06:00", False),  # Monday before 8 a.m.
        ("2026-11-28T12:00:00-06:00", True),  # Saturday noon
        ("2026-11-29T12:00:00-06:00", False),  # Sunday noon
        ("2026-11-23T14:30:00+00:00", True),  # 8:30 Central given in UTC
        ("2026-07-06T13:30:00+00:00", True),  # summer: 8:30 CDT given in UTC
        ("2026-07-06T12:30:00+00:00", False),  # summer: 7:30 CDT given in UTC
        ("2026-11-23T09:00:00", True),  # naive times are Central
    ],
    ids=lambda v: str(v),
)
def test_tty_hours(make_app: Callable[..., Flask], now: str, open_: bool) -> None:
    from .phone import Phone

    app = make_app(NOW=now)
    phone = Phone(app, to=TTY).dial()
    if open_:
        assert greeting(line="tty") in phone.heard and FULL_MAIN in phone.heard
        assert phone.gather is not None and phone.gather.attrib["timeout"] == "15"  # its pace
    else:
        assert "The TTY line is closed now" in phone.heard
        assert "8 a.m. to 8 p.m. Central time, Monday through Saturday" in phone.heard
        # No language has been chosen yet: the closed message in Spanish too, in its own voice.
        spanish = " ".join(spoken_text(s) for s in phone.says if s.attrib["language"] == "es-US")
        assert "La línea TTY está cerrada ahora" in spanish and "de lunes a sábado" in spanish
        assert phone.hung_up and phone.gather is None
        record = app.extensions["ivr"].store.get_call(phone.sid)
        assert record.outcome == "closed"
        # The reference number, as digits, in each language's part of the message.
        english = " ".join(spoken_text(s) for s in phone.says if s.attrib["language"] == "en-US")
        assert f"your reference number is {say_as('digits', record.reference, 'en')}" in english
        assert f"su número de referencia es {say_as('digits', record.reference, 'es')}" in spanish


def test_main_line_is_open_when_tty_is_closed(make_app: Callable[..., Flask]) -> None:
    from .phone import Phone

    app = make_app(NOW="2026-11-29T03:00:00-06:00")
    assert FULL_MAIN in Phone(app, to=MAIN).dial().heard
