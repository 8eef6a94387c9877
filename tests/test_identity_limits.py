"""Identity checks are limited per call and per source: a caller's number across calls (over
every worker: the counts live in the store), a trainer page's browser and address.

Five failures in fifteen minutes from one source and it is told, in its language, that it
cannot be verified now, and is sent to a representative, even with the right date of birth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask

from ivr.sim import HttpTransport, SimulatedCall
from ivr.sim.twiml_rules import validate_twiml

from .flow_text import message, prompt
from .phone import CALLER, MAIN, Phone
from .servers import gunicorn
from .test_store_contract import MEMBER_DOB, MEMBER_ID

WRONG_DOB = "01011990"
LOCKED = message("identity_locked")
LOCKED_ES = message("identity_locked", "es")
FAILED = message("identity_failed")


def said(twiml: str) -> list[str]:
    """The text of every <Say> of a TwiML document, in order."""
    root: ElementTree.Element = validate_twiml(twiml)
    return [" ".join("".join(say.itertext()).split()) for say in root.iter("Say")]


def transferred(twiml: str) -> bool:
    root = validate_twiml(twiml)
    return root.find("Enqueue") is not None or root.find("Dial") is not None


def fail_twice(phone: Phone) -> Phone:
    """One call's two tries with a wrong date of birth (the per-call limit), then a person."""
    phone.press("1").press(MEMBER_ID + "#").press(WRONG_DOB)
    assert FAILED in said(phone.history[-1]) and phone.state == "verify_id"
    phone.press(MEMBER_ID + "#").press(WRONG_DOB)
    assert phone.state == "representative" and LOCKED not in said(phone.history[-1])
    return phone


def test_five_failures_from_one_number_across_calls_lock_it_out(
    call: Callable[..., Phone], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fail_twice(call())
    fail_twice(call())
    third = call().press("1").press(MEMBER_ID + "#").press(WRONG_DOB)  # the fifth failure
    words = said(third.history[-1])
    assert words[0] == LOCKED, words
    assert third.state == "representative" and transferred(third.history[-1])
    # The next call is told at once, when it asks for refills: no ID and date of birth asked
    # for that could not be checked, a person.
    fourth = call().press("1")
    words = said(fourth.history[-1])
    assert words[0] == LOCKED and fourth.state == "representative", words
    assert transferred(fourth.history[-1])
    assert prompt("verify_id") not in " ".join(words) and prompt("refill_menu") not in " ".join(words)
    locked = [r for r in caplog.records if "locked out" in r.getMessage()]
    assert locked and all(r.levelno == logging.WARNING for r in locked)
    digits = CALLER.lstrip("+")
    assert digits not in caplog.text and digits[-7:] not in caplog.text, "the number is never logged"


def test_a_locked_out_number_is_refused_even_with_the_right_date_of_birth(call: Callable[..., Phone]) -> None:
    fail_twice(call())
    fail_twice(call())
    other = call().press("1").press(MEMBER_ID + "#")
    assert other.state == "verify_dob"
    fail = call().press("1").press(MEMBER_ID + "#").press(WRONG_DOB)  # the fifth, in another call
    assert said(fail.history[-1])[0] == LOCKED
    right = other.press(MEMBER_DOB)
    assert said(right.history[-1])[0] == LOCKED and right.state == "representative"


def test_another_number_is_not_locked_out(call: Callable[..., Phone]) -> None:
    fail_twice(call())
    fail_twice(call())
    assert said(call().press("1").press(MEMBER_ID + "#").press(WRONG_DOB).history[-1])[0] == LOCKED
    verified = call(caller="+15557654321").press("1").press(MEMBER_ID + "#").press(MEMBER_DOB)
    assert verified.state == "refill_menu"


def test_the_lockout_is_spoken_in_spanish(call: Callable[..., Phone]) -> None:
    fail_twice(call())
    fail_twice(call())
    spanish = call().press("9").press("1").press(MEMBER_ID + "#").press(WRONG_DOB)
    assert said(spanish.history[-1])[0] == LOCKED_ES
    assert validate_twiml(spanish.history[-1]).find("Say").attrib["language"].startswith("es")  # type: ignore[union-attr]
    again = call().press("9").press("1")  # locked out now: told at once, in Spanish
    assert said(again.history[-1])[0] == LOCKED_ES and again.state == "representative"
    assert validate_twiml(again.history[-1]).find("Say").attrib["language"].startswith("es")  # type: ignore[union-attr]


def test_a_locked_out_caller_who_says_refill_is_told_at_once(call: Callable[..., Phone]) -> None:
    fail_twice(call())
    fail_twice(call())
    call().press("1").press(MEMBER_ID + "#").press(WRONG_DOB)  # the fifth failure
    spoken = call().say("refill")
    assert said(spoken.history[-1])[0] == LOCKED and spoken.state == "representative"
    # Every other choice is untouched by the lockout.
    assert call().press("2").state == "billing_menu"


def test_a_call_verified_before_its_source_was_locked_keeps_its_refills(call: Callable[..., Phone]) -> None:
    """Verified in this call: the refill menu again, not a lockout another call caused."""
    verified = call().press("1").press(MEMBER_ID + "#").press(MEMBER_DOB)
    assert verified.state == "refill_menu"
    fail_twice(call())
    fail_twice(call())
    call().press("1").press(MEMBER_ID + "#").press(WRONG_DOB)  # the fifth failure: locked
    back = verified.press("#").press("1")  # back to the main menu, then refills again
    assert back.state == "refill_menu" and LOCKED not in said(back.history[-1])


def test_the_limit_and_window_are_settings(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDENTITY_LOCKOUT_ATTEMPTS="2", IDENTITY_LOCKOUT_WINDOW="60")
    first = Phone(app).dial().press("1").press(MEMBER_ID + "#").press(WRONG_DOB)
    assert said(first.history[-1])[0] == FAILED, "one failure: a second try"
    second = first.press(MEMBER_ID + "#").press(WRONG_DOB)
    assert said(second.history[-1])[0] == message("identity_locked")


def test_no_number_in_clear_in_the_store(app: Flask, call: Callable[..., Phone]) -> None:
    fail_twice(call())
    texts = list(app.extensions["ivr"].store.iter_raw_text())
    assert not [t for t in texts if CALLER.lstrip("+") in t]


# -- trainer page calls: per browser and per address ------------------------------------------


def _page_call_fails(client: Any) -> dict[str, Any]:
    placed = client.post("/trainer/api/calls", json={"line": "main"})
    assert placed.status_code == 201, placed.get_data(as_text=True)
    sid = placed.get_json()["call"]["call_sid"]
    detail: dict[str, Any] = {}
    for keys in ["1", MEMBER_ID + "#", WRONG_DOB]:
        answer = client.post(f"/trainer/api/calls/{sid}/press", json={"keys": keys})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        detail = answer.get_json()
    return detail


def _heard(detail: dict[str, Any]) -> str:
    return " ".join(line["text"] for line in detail["live"]["transcript"] if line["who"] == "ivr")


def test_a_page_is_locked_out_after_five_failures_but_phones_are_not(
    app: Flask, call: Callable[..., Phone]
) -> None:
    client = app.test_client()
    for _ in range(4):
        assert LOCKED not in _heard(_page_call_fails(client))
    fifth = _page_call_fails(client)
    assert LOCKED in _heard(fifth) and fifth["call"]["state"] == "representative"
    # Page calls all come from one test number: that number, and real callers, are not locked.
    verified = call(caller="+15005550006").press("1").press(MEMBER_ID + "#").press(MEMBER_DOB)
    assert verified.state == "refill_menu"
    assert call().press("1").state == "verify_id"


def test_a_phones_failures_do_not_lock_out_the_page(app: Flask, call: Callable[..., Phone]) -> None:
    fail_twice(call())
    fail_twice(call())
    assert said(call().press("1").press(MEMBER_ID + "#").press(WRONG_DOB).history[-1])[0] == LOCKED
    assert LOCKED not in _heard(_page_call_fails(app.test_client()))


# -- real processes: one number calling two gunicorn workers ----------------------------------


def test_the_lockout_holds_across_gunicorn_workers(tmp_path: Path) -> None:
    """Failures counted by one worker lock the number out on the other (SQLite, shared file)."""
    token = "identity-limits-token"
    settings = {
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
        "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "IVR_NOW": "2026-11-23T10:00:00-06:00",
        "TWILIO_AUTH_TOKEN": token,
        "IVR_TRAINER": "0",
    }
    plans = [["1", MEMBER_ID + "#", WRONG_DOB, MEMBER_ID + "#", WRONG_DOB]] * 2 + [
        ["1", MEMBER_ID + "#", WRONG_DOB],
        ["1"],  # locked out: told at once, by whichever worker answers
    ]
    with gunicorn(settings, tmp_path, workers=2) as server:
        answers: list[str] = []
        for n, keys in enumerate(plans):
            if n == 2:
                server.reload()  # new worker processes: what they know comes from the store
            phone = SimulatedCall(HttpTransport(), MAIN, caller=CALLER, base_url=server.url, auth_token=token)
            phone.dial()
            for key in keys:
                phone.press(key)
            documents = [s for s in phone.transcript.steps if s.kind == "action"]
            assert documents and all(s.status == 200 for s in documents), phone.transcript.render()
            answers.append(documents[-1].twiml)
        assert [LOCKED in said(answer) for answer in answers] == [False, False, True, True]
        assert said(answers[2])[0] == LOCKED and transferred(answers[2])
        assert said(answers[3])[0] == LOCKED and transferred(answers[3])
    log = server.text()
    assert "identity checks locked out" in log
    assert CALLER.lstrip("+") not in log
