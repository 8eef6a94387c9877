"""The engine without HTTP: CallParams in, Reply out, the store's record checked after each step.

These tests were written against a mutation pass (mutmut on ivr/engine/engine.py): each one pins a
behaviour that a surviving mutant changed without any other test noticing.
"""

from __future__ import annotations

import logging
import secrets
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask

from ivr.engine import engine as engine_module
from ivr.engine.call import CallSession
from ivr.engine.config import FLOWS_DIR, EngineConfig
from ivr.engine.engine import FINAL_STATUSES, PURGE_EVERY, CallParams, Engine, Reply, mask_number
from ivr.engine.errors import StoreError
from ivr.engine.render import heard
from ivr.engine.ssml import spoken_text
from ivr.engine.store import Purged
from ivr.stores.memory_store import MemoryStore

from .narrowing import found, stored

# Numbers the shipped flow files list (data only: the simulator never dials them).
MAIN = "+18002372765"
TTY = "+18007114041"
# Sunday 2026-11-22, 10:00 Central: the TTY line is closed on Sundays.
SUNDAY = "2026-11-22T10:00:00-06:00"
# Members from ivr/data/members.yaml (fictional).
MEMBER_ID, MEMBER_DOB = "10203040", "03071956"


class Dialled:
    """One call driven straight through the engine; keeps every Reply."""

    def __init__(self, engine: Engine, sid: str, to: str = MAIN, **fields: str) -> None:
        self.engine = engine
        self.sid = sid
        self.to = to
        self.fields = fields
        self.replies: list[Reply] = []

    def start(self) -> Reply:
        return self._keep(self.engine.start_call(self._params()))

    def press(self, digits: str = "", *, step: int | None | str = "current", speech: str = "") -> Reply:
        """Send a Gather result; `step` defaults to the step of the last document's action."""
        at = action_step(self.replies[-1]) if step == "current" else step
        assert at is None or isinstance(at, int)
        return self._keep(self.engine.handle_input(self._params(digits=digits, speech=speech), at))

    def session(self) -> CallSession:
        with self.engine.store.call(self.sid, engine_time()) as slot:
            assert slot.session is not None
            return slot.session

    def edit(self, **changes: object) -> None:
        """Change the stored session, as a flow edit or a lost document would."""
        now = engine_time()
        with self.engine.store.call(self.sid, now) as slot:
            session = slot.session
            assert session is not None
            for name, value in changes.items():
                setattr(session, name, value)
            slot.save(session, now=now)

    def _params(self, **extra: str) -> CallParams:
        fields: dict[str, Any] = {**self.fields, **extra}
        return CallParams(call_sid=self.sid, to=self.to, **fields)

    def _keep(self, reply: Reply) -> Reply:
        self.replies.append(reply)
        return reply


def engine_time() -> float:
    """The engine's wall clock: `time.time()`, or the stand-in the `clock` fixture put in its place."""
    clock: Any = vars(engine_module)["time"]
    now: float = clock.time()
    return now


def parse(reply: Reply | str) -> ElementTree.Element:
    return ElementTree.fromstring(reply.twiml if isinstance(reply, Reply) else reply)


def said(reply: Reply | str) -> str:
    return " ".join(spoken_text(s) for s in parse(reply).iter("Say"))


def where(reply: Reply) -> tuple[str, str, str, str | None]:
    """Where a reply says the call is: line, state, language and the trigger fired."""
    return (reply.line, reply.state, reply.lang, reply.trigger)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The engine's own log lines, formatted."""
    return [r.getMessage() for r in caplog.records if r.name == "ivr.engine.engine"]


def action_step(reply: Reply) -> int:
    gather = parse(reply).find("Gather")
    assert gather is not None, f"no Gather in {reply.twiml}"
    action = gather.attrib["action"]
    assert action.startswith("/voice/input?step="), action
    return int(action.rsplit("=", 1)[1])


def text(engine: Engine, name: str, lang: str = "en", *, line: str = "main") -> str:
    """A flow message as a caller hears it."""
    return heard(engine.flow(line).messages[name][lang], lang)


def prompt(engine: Engine, state: str, field: str = "prompt", lang: str = "en") -> str:
    return heard(getattr(engine.flow("main").states[state], field)[lang], lang)


@pytest.fixture
def dial(engine: Engine) -> Iterator[Callable[..., Dialled]]:
    count = iter(range(1, 10_000))

    def make(to: str = MAIN, **fields: str) -> Dialled:
        return Dialled(engine, f"CAengine{next(count):024d}", to, **fields)

    yield make


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the engine's wall clock (session expiry), never sleeping."""

    def set_to(now: float) -> None:
        monkeypatch.setattr(engine_module, "time", types.SimpleNamespace(time=lambda: now))

    return set_to


# -- answering -------------------------------------------------------------------------------


def test_a_new_call_is_greeted_on_its_line_at_step_zero(engine: Engine, dial: Callable[..., Dialled]) -> None:
    call = dial(caller="+15551234567")
    reply = call.start()
    assert (reply.line, reply.state, reply.lang, reply.trigger) == ("main", "main_menu", "en", "start")
    assert action_step(reply) == 0
    words = said(reply)
    assert words.startswith(heard(engine.flow("main").greeting["en"], "en"))
    assert prompt(engine, "main_menu") in words
    record = engine.store.get_call(call.sid)
    assert record is not None
    assert (record.line, record.state, record.lang, record.caller) == ("main", "main_menu", "en", "***4567")
    assert [(e.step, e.trigger, e.input, e.source, e.dest, e.lang) for e in record.events] == [
        (0, "start", "", "incoming", "main_menu", "en")
    ]
    session = call.session()
    assert (session.step, session.greeted, session.last_twiml) == (0, "en", reply.twiml)


def test_twilio_retrying_the_first_request_gets_the_same_document_and_no_second_call(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    first = call.start()
    again = call.start()
    assert again.twiml == first.twiml
    assert (again.line, again.state, again.lang, again.trigger) == ("main", "main_menu", "en", None)
    record = engine.store.get_call(call.sid)
    assert record is not None
    assert len(record.events) == 1 and record.reference == call.session().reference


def test_the_first_webhook_again_mid_call_repeats_where_the_call_is_without_the_greeting(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("2")
    reply = call.start()
    assert (reply.line, reply.state, reply.lang, reply.trigger) == ("main", "billing_menu", "en", None)
    assert action_step(reply) == 1
    words = said(reply)
    assert prompt(engine, "billing_menu") in words
    assert heard(engine.flow("main").greeting["en"], "en") not in words
    assert prompt(engine, "billing_menu", "confirm") not in words
    assert len(stored(engine.store, call.sid).events) == 2


def test_a_call_that_ended_and_calls_in_again_with_the_same_sid_starts_afresh(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("2")
    assert engine.call_status(CallParams(call.sid, call_status="completed")) is True
    reply = call.start()
    assert (reply.state, reply.trigger) == ("main_menu", "start")
    assert action_step(reply) == 0
    session = call.session()
    assert (session.ended, session.step, session.state) == (False, 0, "main_menu")


def test_the_flow_losing_the_calls_state_sends_it_back_to_the_start(
    engine: Engine, dial: Callable[..., Dialled], caplog: pytest.LogCaptureFixture
) -> None:
    call = dial()
    call.start()
    call.press("2")
    call.edit(state="a_state_since_deleted")
    with caplog.at_level(logging.WARNING, logger="ivr.engine.engine"):
        reply = call.press("3", step=None)
    assert (reply.state, reply.trigger) == ("medicare_menu", "press_3")
    assert f"call {call.sid} was in 'a_state_since_deleted', which no longer exists" in logged(caplog)


def test_a_repeat_after_the_flow_lost_the_state_renders_the_start(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("2")
    call.edit(state="a_state_since_deleted")
    reply = call.start()
    assert reply.state == "main_menu" and prompt(engine, "main_menu") in said(reply)


# -- step numbers: retries and stale documents -----------------------------------------------


def test_a_retried_input_for_the_step_before_gets_the_stored_document(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    moved = call.press("2", step=0)
    retried = call.press("2", step=0)
    assert retried.twiml == moved.twiml
    assert where(moved) == ("main", "billing_menu", "en", "press_2")
    assert where(retried) == ("main", "billing_menu", "en", None)
    assert call.session().step == 1 and len(stored(engine.store, call.sid).events) == 2


@pytest.mark.parametrize("step", [0, 3], ids=["older-than-the-step-before", "ahead-of-the-call"])
def test_an_input_for_another_step_re_renders_the_current_state(
    engine: Engine, dial: Callable[..., Dialled], step: int
) -> None:
    call = dial()
    call.start()
    call.press("2")
    call.press("1")  # billing_menu -> billing_discrepancy, step 2
    before = call.session()
    reply = call.press("0", step=step)
    assert (reply.state, reply.trigger) == ("billing_discrepancy", None)
    assert reply.twiml != before.last_twiml  # no confirmation: the caller did not just choose it
    assert action_step(reply) == 2
    assert prompt(engine, "billing_discrepancy") in said(reply)
    assert call.session().step == 2 and len(stored(engine.store, call.sid).events) == 3


def test_the_step_before_without_a_stored_document_is_re_rendered(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("2")
    call.edit(last_twiml=None)
    reply = call.press("2", step=0)
    assert (reply.state, reply.trigger) == ("billing_menu", None)
    assert action_step(reply) == 1 and prompt(engine, "billing_menu") in said(reply)


def test_input_without_a_step_is_applied_to_the_call(dial: Callable[..., Dialled]) -> None:
    call = dial()
    call.start()
    reply = call.press("2", step=None)
    assert (reply.state, reply.trigger) == ("billing_menu", "press_2")
    assert action_step(reply) == 1


# -- calls the store does not have -----------------------------------------------------------


def test_input_for_an_unknown_call_starts_it_afresh(
    engine: Engine, dial: Callable[..., Dialled], caplog: pytest.LogCaptureFixture
) -> None:
    call = dial(to=TTY)
    with caplog.at_level(logging.WARNING, logger="ivr.engine.engine"):
        reply = engine.handle_input(CallParams(call.sid, to=TTY, digits="3"), 5)
    assert (reply.line, reply.state, reply.trigger) == ("tty", "main_menu", "start")
    assert action_step(reply) == 0
    assert stored(engine.store, call.sid).line == "tty"
    assert f"input for unknown call {call.sid}: starting it afresh" in logged(caplog)


@pytest.mark.parametrize("to, line", [(TTY, "tty"), ("", "main")], ids=["tty-line", "no-To"])
def test_input_after_the_session_expired_is_told_the_call_ended(
    engine: Engine, dial: Callable[..., Dialled], clock: Callable[[float], None], to: str, line: str
) -> None:
    call = dial(to=to)
    now = engine_time()
    clock(now)
    call.start()
    clock(now + engine.config.session_ttl + 60)
    reply = call.press("1")
    assert (reply.line, reply.state, reply.lang, reply.trigger) == (line, "ended", "en", None)
    root = parse(reply)
    assert said(reply) == text(engine, "ended", line=line)
    assert [child.tag for child in root] == ["Say", "Hangup"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_input_after_twilio_said_the_call_ended_hears_so_in_the_calls_language(
    engine: Engine, dial: Callable[..., Dialled], lang: str
) -> None:
    call = dial()
    call.start()
    if lang == "es":
        call.press("9")
    engine.call_status(CallParams(call.sid, call_status="completed"))
    reply = call.press("2")
    assert (reply.state, reply.lang, reply.trigger) == ("main_menu", lang, None)
    assert said(reply) == text(engine, "ended", lang)
    assert parse(reply).find("Hangup") is not None


# -- terminal states ---------------------------------------------------------------------------


def test_input_after_a_transfer_repeats_the_transfer_document(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    transfer = call.press("0")
    assert transfer.state == "representative"
    again = engine.handle_input(CallParams(call.sid, to=MAIN, digits="1"), None)
    assert again.twiml == transfer.twiml and (again.state, again.trigger) == ("representative", None)
    call.edit(last_twiml=None)
    rebuilt = engine.handle_input(CallParams(call.sid, to=MAIN, digits="1"), None)
    assert rebuilt.state == "representative"
    enqueue = parse(rebuilt).find("Enqueue")
    assert enqueue is not None and enqueue.text == "sim-representative"
    assert len(stored(engine.store, call.sid).events) == 2


# -- failures, notices and confirmations ----------------------------------------------------


def test_a_key_press_that_stays_put_still_clears_the_failures(dial: Callable[..., Dialled]) -> None:
    call = dial()
    call.start()
    call.press("")
    call.press("")
    assert call.session().failures == 2
    reply = call.press("*")  # repeat: press_star, back to the same menu
    assert (reply.state, reply.trigger) == ("main_menu", "press_star")
    assert call.session().failures == 0
    call.press("")
    call.press("")
    assert call.replies[-1].state == "main_menu"  # two more silences: still one retry left


def test_a_move_without_a_key_clears_the_failures(dial: Callable[..., Dialled]) -> None:
    call = dial()
    call.start()
    call.press("1")  # verify_id
    call.press("12")  # too short: invalid entry, one failure
    assert call.session().failures == 1
    reply = call.press(MEMBER_ID)
    assert reply.state == "verify_dob" and call.session().failures == 0


def test_failures_run_out_into_the_failover_transfer(engine: Engine, make_app: Callable[..., Flask]) -> None:
    app = make_app(MAX_FAILURES="2")
    try:
        call = Dialled(app.extensions["ivr"], "CAfailover")
        call.start()
        first = call.press("")
        assert first.state == "main_menu"
        last = call.press("")
        assert (last.state, last.trigger) == ("representative", "no_input")
        assert said(last).startswith(text(engine, "failover"))
        assert app.extensions["ivr"].store.get_call(call.sid).outcome == "transfer:representative"
    finally:
        app.extensions["ivr"].store.close()


@pytest.mark.parametrize(
    "keys, notice, field",
    [
        ("", "no_input", "reprompt"),
        ("7", "invalid", "reprompt"),
        ("*", None, "prompt"),
    ],
    ids=["silence", "a-key-with-no-option", "repeat"],
)
def test_a_menu_retry_says_why_then_the_short_prompt(
    engine: Engine, dial: Callable[..., Dialled], keys: str, notice: str | None, field: str
) -> None:
    call = dial()
    call.start()
    words = said(call.press(keys))
    expected = prompt(engine, "main_menu", field)
    if notice:
        expected = f"{text(engine, notice)} {expected}"
        assert prompt(engine, "main_menu") not in words
    assert words.startswith(expected)
    for other in ("no_input", "invalid", "invalid_entry", "failover"):
        if other != notice:
            assert text(engine, other) not in words


def test_a_bad_entry_says_it_is_not_valid_then_the_short_prompt(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("1")
    reply = call.press("12")
    assert (reply.state, reply.trigger) == ("verify_id", "entry")
    expected = f"{text(engine, 'invalid_entry')} {prompt(engine, 'verify_id', 'reprompt')}"
    assert said(reply).startswith(expected)


def test_silence_after_an_information_leaf_says_goodbye_without_a_notice(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("2")
    call.press("1")  # billing_discrepancy, an information leaf
    call.press("")
    call.press("")
    reply = call.press("")
    assert (reply.state, reply.trigger) == ("goodbye", "no_input")
    words = said(reply)
    assert words.endswith(prompt(engine, "goodbye"))
    for notice in ("no_input", "failover"):
        assert text(engine, notice) not in words
    assert stored(engine.store, call.sid).outcome == "goodbye"


def test_a_choice_that_moves_is_confirmed_and_a_move_by_entry_is_not(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    chosen = said(call.press("1"))
    assert chosen.startswith(prompt(engine, "verify_id", "confirm"))
    call.press(MEMBER_ID)
    verified = said(call.press(MEMBER_DOB))
    assert call.replies[-1].state == "refill_menu"
    assert verified.startswith(text(engine, "verified"))  # the action's notice, not a retry
    assert prompt(engine, "refill_menu", "confirm") not in verified
    assert prompt(engine, "refill_menu") in verified


def test_a_second_language_is_greeted_once_then_only_named(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    spanish = call.press("9")
    assert (spanish.lang, spanish.trigger) == ("es", "press_9")
    assert said(spanish).startswith(heard(engine.flow("main").greeting["es"], "es"))
    english = call.press("9")
    assert english.lang == "en" and said(english).startswith(text(engine, "language_set", "en"))
    assert heard(engine.flow("main").greeting["en"], "en") not in said(english)
    again = call.press("9")
    assert said(again).startswith(text(engine, "language_set", "es"))
    assert call.session().greeted == "enes"


@pytest.mark.parametrize(
    "keys, logged_as",
    [("1" * 64, "[64 digits hidden]"), ("1" * 65, "[65 digits hidden]"), ("1" * 300, "[65 digits hidden]")],
    ids=["the-longest-entry", "one-key-too-many", "far-too-many"],
)
def test_an_over_long_entry_is_cut_to_64_keys_and_a_marker(
    engine: Engine, dial: Callable[..., Dialled], keys: str, logged_as: str
) -> None:
    call = dial()
    call.start()
    call.press("1")
    reply = call.press(keys)
    assert (reply.state, reply.trigger) == ("verify_id", "entry")  # no condition accepts it
    assert stored(engine.store, call.sid).events[-1].input == logged_as


@pytest.mark.parametrize("words", ["billing " + "x" * 200, "y" * 200], ids=["understood", "not-understood"])
def test_what_was_said_is_kept_to_eighty_characters(
    engine: Engine, dial: Callable[..., Dialled], words: str
) -> None:
    call = dial()
    call.start()
    call.press(speech=words)
    assert stored(engine.store, call.sid).events[-1].input == f'said "{words[:80]}"'


def test_a_line_whose_first_language_is_spanish_answers_in_spanish(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    source = (FLOWS_DIR / "main.yaml").read_text(encoding="utf-8")
    assert "languages: [en, es]" in source
    (flows / "main.yaml").write_text(source.replace("languages: [en, es]", "languages: [es, en]"))
    app = make_app(FLOWS_DIR=str(flows))
    try:
        call = Dialled(app.extensions["ivr"], "CAspanish")
        reply = call.start()
        assert (reply.line, reply.state, reply.lang) == ("main", "main_menu", "es")
        assert {s.attrib["language"] for s in parse(reply).iter("Say")} >= {"es-US"}
        session = call.session()
        assert (session.lang, session.greeted) == ("es", "es")
    finally:
        app.extensions["ivr"].store.close()


# -- the call record -------------------------------------------------------------------------


def test_each_step_is_logged_with_its_input_masked_where_secret(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial()
    call.start()
    call.press("9")
    call.press("1")
    call.press(MEMBER_ID)
    events = stored(engine.store, call.sid).events
    assert [(e.step, e.trigger, e.input, e.source, e.dest, e.lang) for e in events] == [
        (0, "start", "", "incoming", "main_menu", "en"),
        (1, "press_9", "9", "main_menu", "main_menu", "es"),
        (2, "press_1", "1", "main_menu", "verify_id", "es"),
        (3, "entry", "[8 digits hidden]", "verify_id", "verify_dob", "es"),
    ]
    record = engine.store.get_call(call.sid)
    assert record is not None
    assert (record.state, record.lang, record.outcome) == ("verify_dob", "es", None)


@pytest.mark.parametrize(
    "keys, outcome",
    [(("0",), "transfer:representative"), (("4",), "transfer:pharmacist"), (("2",), None)],
    ids=["representative", "pharmacist", "still-in-a-menu"],
)
def test_the_record_keeps_the_outcome_of_the_state_reached(
    engine: Engine, dial: Callable[..., Dialled], keys: tuple[str, ...], outcome: str | None
) -> None:
    call = dial()
    call.start()
    for key in keys:
        call.press(key)
    assert stored(engine.store, call.sid).outcome == outcome


def test_a_closed_line_is_its_outcome_from_the_first_request(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial(to=TTY, simulated_now=SUNDAY)
    reply = call.start()
    assert (reply.line, reply.state) == ("tty", "closed")
    record = engine.store.get_call(call.sid)
    assert record is not None
    assert record.outcome == "closed" and record.events[0].dest == "closed"


def test_the_log_tells_a_calls_path_without_the_callers_number(
    engine: Engine, dial: Callable[..., Dialled], caplog: pytest.LogCaptureFixture
) -> None:
    call = dial(caller="+15551234567")
    with caplog.at_level(logging.DEBUG, logger="ivr.engine.engine"):
        call.start()
        call.press("2")
        engine.call_status(CallParams(call.sid, call_status="busy"))
    assert logged(caplog) == [
        f"call {call.sid} started on main line: main_menu",
        f"call {call.sid}: main_menu --press_2--> billing_menu",
        f"call {call.sid} ended: busy",
    ]
    # At info (the servers' default) a call's start and end, not every step: a line a step
    # cost a webhook about 10% more CPU under gunicorn (the path is in the call's record).
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.DEBUG, logging.INFO]
    assert "1234567" not in caplog.text


# -- reference numbers -----------------------------------------------------------------------


def test_reference_numbers_never_start_with_zero_and_are_never_reused(
    engine: Engine, dial: Callable[..., Dialled], monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter([1_234_567, 12_345_678, 12_345_678, 7, 87_654_321])
    bounds: list[int] = []

    def randbelow(bound: int) -> int:
        bounds.append(bound)
        return next(drawn)

    monkeypatch.setattr(secrets, "randbelow", randbelow)  # the module the engine draws from
    first, second = dial(), dial()
    first.start()
    second.start()
    assert first.session().reference == "12345678"
    assert second.session().reference == "87654321"
    assert bounds == [10**8] * 5
    assert stored(engine.store, second.sid).reference == "87654321"


def test_the_reference_number_is_spoken_digit_by_digit(engine: Engine, dial: Callable[..., Dialled]) -> None:
    call = dial()
    call.start()
    reply = call.press("0")
    reference = call.session().reference
    assert len(reference) == 8 and reference.isdigit() and reference[0] != "0"
    spoken = [e.text for e in parse(reply).iter("say-as") if e.attrib.get("interpret-as") == "digits"]
    assert spoken == [reference, reference]


# -- clocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "allow, simulated, state, clock",
    [
        ("1", SUNDAY, "closed", SUNDAY),
        ("0", SUNDAY, "main_menu", None),
        ("1", "not a time", "main_menu", None),
        ("1", "", "main_menu", None),
    ],
    ids=["honoured", "ignored-by-config", "malformed", "absent"],
)
def test_a_simulated_clock_chooses_hours_only_when_allowed(
    make_app: Callable[..., Flask], allow: str, simulated: str, state: str, clock: str | None
) -> None:
    app = make_app(ALLOW_SIMULATED_CLOCK=allow)
    try:
        call = Dialled(app.extensions["ivr"], "CAclock", TTY, simulated_now=simulated)
        assert call.start().state == state
        assert call.session().clock == clock
    finally:
        app.extensions["ivr"].store.close()


def test_a_malformed_simulated_clock_is_logged(
    dial: Callable[..., Dialled], caplog: pytest.LogCaptureFixture
) -> None:
    call = dial(to=TTY, simulated_now="yesterday")
    with caplog.at_level(logging.WARNING, logger="ivr.engine.engine"):
        call.start()
    assert logged(caplog) == [f"call {call.sid}: ignoring a malformed SimulatedNow"]


def test_the_calls_own_clock_is_used_when_its_state_restarts(
    engine: Engine, dial: Callable[..., Dialled]
) -> None:
    call = dial(to=TTY)
    call.start()
    assert call.press("2").state == "billing_menu"
    call.edit(state="a_state_since_deleted", clock=SUNDAY)
    assert call.start().state == "closed"


# -- lines -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to, line",
    [
        (MAIN, "main"),
        ("(800) 711-4041", "tty"),
        ("+18006734828", "specialty"),
        ("", "main"),
        ("+15005550006", "main"),
    ],
    ids=["main", "tty-as-dialled", "specialty", "no-To", "unknown-number"],
)
def test_line_for_normalises_the_number_and_defaults_to_main(engine: Engine, to: str, line: str) -> None:
    assert engine.line_for(to) == line


@pytest.mark.parametrize(
    "number, masked",
    [
        ("+15551234567", "***4567"),
        ("555-0199", "***0199"),
        ("1234", "***1234"),
        ("123", "***"),
        ("anonymous", "***"),
        ("", ""),
    ],
    ids=["e164", "local", "four-digits", "three-digits", "no-digits", "empty"],
)
def test_mask_number_keeps_the_last_four_digits(number: str, masked: str) -> None:
    assert mask_number(number) == masked


# -- status callbacks --------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_final_status_closes_the_record(engine: Engine, dial: Callable[..., Dialled], status: str) -> None:
    call = dial()
    call.start()
    assert engine.call_status(CallParams(call.sid, call_status=status, duration=42)) is True
    record = engine.store.get_call(call.sid)
    assert record is not None
    assert record.status == status and record.ended_at is not None
    assert call.session().ended is True


@pytest.mark.parametrize("status", ["ringing", "in-progress", "queued", "", "Completed"])
def test_a_status_that_is_not_final_changes_nothing(
    engine: Engine, dial: Callable[..., Dialled], status: str
) -> None:
    call = dial()
    call.start()
    assert engine.call_status(CallParams(call.sid, call_status=status)) is False
    record = engine.store.get_call(call.sid)
    assert record is not None
    assert record.status == "in-progress" and record.ended_at is None


def test_a_final_status_for_an_unknown_call_closes_nothing(engine: Engine) -> None:
    assert engine.call_status(CallParams("CAnobody", call_status="completed")) is False
    assert engine.store.get_call("CAnobody") is None


# -- static documents --------------------------------------------------------------------------


def test_the_fallback_apologises_in_every_language_then_queues_for_a_representative(engine: Engine) -> None:
    root = parse(engine.fallback())
    assert [child.tag for child in root] == ["Say", "Say", "Enqueue"]
    assert [s.attrib["language"] for s in root.iter("Say")] == ["en-US", "es-US"]
    assert said(engine.fallback()).startswith(text(engine, "error"))
    enqueue = root.find("Enqueue")
    assert enqueue is not None
    assert enqueue.text == "sim-representative"
    assert enqueue.attrib["waitUrl"] == "/voice/hold?lang=en"


@pytest.mark.parametrize(
    "lang, expected, language",
    [("en", "en", "en-US"), ("es", "es", "es-US"), ("fr", "en", "en-US"), ("", "en", "en-US")],
    ids=["en", "es", "unknown", "empty"],
)
def test_hold_speaks_the_hold_message_then_pauses(
    engine: Engine, lang: str, expected: str, language: str
) -> None:
    root = parse(engine.hold(lang))
    assert [child.tag for child in root] == ["Say", "Pause"]
    assert found(root, "Say").attrib["language"] == language
    assert said(engine.hold(lang)) == text(engine, "hold", expected)
    assert found(root, "Pause").attrib["length"] == "20"


@pytest.mark.parametrize(
    "lang, expected", [("en", "en"), ("es", "es"), ("de", "en")], ids=["en", "es", "unknown"]
)
def test_after_a_transfer_the_caller_hears_goodbye_and_the_call_hangs_up(
    engine: Engine, lang: str, expected: str
) -> None:
    document = engine.after_transfer(lang)
    assert [child.tag for child in parse(document)] == ["Say", "Hangup"]
    assert said(document) == text(engine, "after_transfer", expected)


# -- the words kept with a step never hold what the caller typed for their identity ----------------


@pytest.mark.parametrize(
    ("heard", "secret", "expected"),
    [
        # The member ID as typed, as read back digit by digit, and in a sentence, any case.
        ("You entered 10203040. Thank you.", "10203040#", "You entered [hidden]. Thank you."),
        ("Keys 10203040# pressed", "10203040#", "Keys [hidden] pressed"),  # with its #, whole
        ("You entered 1 0 2 0 3 0 4 0, is that right?", "10203040", "You entered [hidden], is that right?"),
        # A date of birth read back as a date, in English and Spanish, and as digits.
        ("Born March 7, 1956.", "03071956", "Born [hidden]."),
        ("Born December 25, 1990.", "12251990", "Born [hidden]."),
        ("Nacido el 25 de diciembre de 1990.", "12251990", "Nacido el [hidden]."),
        ("MARCH 7, 1956 and 0 3 0 7 1 9 5 6", "03071956", "[hidden] and [hidden]"),
        # Not eight digits: no date form is looked for, the digits still are.
        ("Code 1 2 3 4 5 6 7, not March 7, 1956", "1234567", "Code [hidden], not March 7, 1956"),
        # Nothing of the secret in the words: they are kept as they are.
        ("Billing and insurance.", "10203040", "Billing and insurance."),
        # The longest form first: the spaced digits are hidden whole, not digit by digit.
        ("1 0 2 0 3 0 4 0", "10203040", "[hidden]"),
        # A secret with no digits (a spoken answer) is hidden as given, trimmed.
        ("I said blue moon today", "  blue moon ", "I said [hidden] today"),
    ],
)
def test_what_an_identity_step_heard_is_kept_with_the_secret_hidden(
    heard: str, secret: str, expected: str
) -> None:
    from ivr.engine.engine import HIDDEN, _masked

    assert HIDDEN == "[hidden]"
    assert _masked(heard, secret) == expected


class _Purges(MemoryStore):
    """A memory store that notes each purge it is asked for, and can fail one."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[float, float]] = []
        self.fail = False
        self.result = Purged(0, 0, 0)

    def purge(self, now: float, records_before: float) -> Purged:
        self.asked.append((now, records_before))
        if self.fail:
            raise StoreError("the disk is full")
        return self.result


def test_housekeeping_purges_at_most_every_ten_minutes_and_never_fails_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _Purges()
    engine = Engine(EngineConfig(retention_days=30), store)
    day = 24 * 3600
    caplog.set_level(logging.INFO, logger="ivr.engine.engine")
    assert engine.housekeeping(1000.0) == Purged(0, 0, 0)  # the first one is due at once
    assert store.asked == [(1000.0, 1000.0 - 30 * day)]
    assert engine.housekeeping(1000.0 + PURGE_EVERY - 1) is None  # not yet
    assert engine.housekeeping(1000.0 + PURGE_EVERY - 1, force=True) == Purged(0, 0, 0)
    assert len(store.asked) == 2
    assert engine.housekeeping(1000.0 + 2 * PURGE_EVERY - 2) is None  # the forced one moved it on
    assert "purged" not in caplog.text  # nothing was purged: nothing to say
    store.result = Purged(2, 3, 1)
    assert engine.housekeeping(1000.0 + 2 * PURGE_EVERY) == Purged(2, 3, 1)
    assert "purged 2 expired sessions, 3 call records older than 30 days, 1 page calls" in caplog.text
    store.fail = True
    assert engine.housekeeping(1000.0 + 3 * PURGE_EVERY) is None  # logged, never raised
    assert "could not purge old calls: " in caplog.text and "the disk is full" in caplog.text
    assert len(store.asked) == 4
