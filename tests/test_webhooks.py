"""The webhook edges: status callbacks, fallback, hold, bad requests, calls that come back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr.engine.engine import Engine
from ivr.engine.ssml import spoken_text
from ivr.sim.twiml_rules import validate_twiml

from .flow_text import prompt
from .narrowing import found, found_text, stored
from .phone import CALLER, MAIN, Phone


def _heard(response: TestResponse) -> str:
    """The words of every <Say> of one raw answer, after checking it is valid TwiML."""
    assert response.status_code == 200 and response.mimetype == "text/xml", response.data
    return " ".join(spoken_text(s) for s in validate_twiml(response.data).iter("Say"))


def test_status_callback_is_204_and_closes_the_record(
    call: Callable[..., Phone], client: FlaskClient, engine: Engine
) -> None:
    phone = call().press("2").hangup()  # the caller hangs up: Twilio posts the final status
    status = phone.transcript.steps[-1]
    assert (status.kind, status.fields["CallStatus"], status.status, status.twiml) == (
        "status",
        "completed",
        204,
        "",
    )
    record = engine.store.get_call(phone.sid)
    assert record is not None
    assert record.status == "completed" and record.ended_at is not None
    assert record.outcome == "hung up in billing_menu"
    response = client.post("/voice/status", data={"CallSid": phone.sid, "CallStatus": "completed"})
    assert response.status_code == 204 and response.data == b""


def test_progress_status_does_not_close(
    call: Callable[..., Phone], client: FlaskClient, engine: Engine
) -> None:
    phone = call()
    response = client.post("/voice/status", data={**phone._fields(), "CallStatus": "ringing"})
    assert response.status_code == 204
    assert stored(engine.store, phone.sid).ended_at is None


def test_a_call_that_hung_up_and_comes_back_is_told_it_ended(
    call: Callable[..., Phone], client: FlaskClient
) -> None:
    phone = call().press("2")
    stale = phone.action
    phone.hangup()
    response = client.post(stale, data={**phone._fields(), "Digits": "1"})  # after the hang-up
    assert "This call has already ended" in _heard(response)
    root = validate_twiml(response.data)
    assert root.find("Hangup") is not None and root.find("Gather") is None


def test_unknown_call_sid_at_input_starts_a_new_session(client: FlaskClient, engine: Engine) -> None:
    fields = {"CallSid": "CA" + "a" * 32, "To": MAIN, "From": CALLER, "Digits": "3"}
    assert prompt("main_menu") in _heard(client.post("/voice/input?step=5", data=fields))
    assert stored(engine.store, "CA" + "a" * 32).state == "main_menu"


@pytest.mark.parametrize("url", ["/voice", "/voice/input", "/voice/input?step=1"])
def test_missing_call_sid_is_a_clear_400(client: FlaskClient, url: str) -> None:
    response = client.post(url, data={"To": MAIN, "Digits": "1"})
    assert response.status_code == 400 and response.mimetype == "text/xml"
    root = validate_twiml(response.data)
    assert "has no CallSid" in found_text(root, "Say")


def test_fallback_is_static_bilingual_and_offers_a_representative(client: FlaskClient) -> None:
    first = client.post("/voice/fallback").get_data(as_text=True)
    assert client.get("/voice/fallback").get_data(as_text=True) == first
    root = validate_twiml(first)
    languages = [s.attrib["language"] for s in root.iter("Say")]
    assert languages == ["en-US", "es-US"]
    assert found(root, "Enqueue").text == "sim-representative"


def test_hold_and_after_transfer(client: FlaskClient) -> None:
    hold = validate_twiml(client.post("/voice/hold?lang=es").data)
    assert found(hold, "Say").attrib["language"] == "es-US" and hold.find("Pause") is not None
    after = validate_twiml(client.post("/voice/after-transfer?lang=en").data)
    assert "Goodbye" in found_text(after, "Say") and after.find("Hangup") is not None


def test_retried_webhook_returns_the_same_twiml_and_moves_once(
    call: Callable[..., Phone], client: FlaskClient, engine: Engine
) -> None:
    phone = call()
    action = phone.action
    fields = {**phone._fields(), "Digits": "2"}
    first = client.post(action, data=fields).get_data(as_text=True)
    again = client.post(action, data=fields).get_data(as_text=True)
    assert first == again
    record = engine.store.get_call(phone.sid)
    assert record is not None
    assert record.state == "billing_menu"
    assert [e.trigger for e in record.events] == ["start", "press_2"]


def test_a_retried_first_request_does_not_start_a_second_call(
    call: Callable[..., Phone], client: FlaskClient, engine: Engine
) -> None:
    phone = call()
    again = client.post("/voice", data=phone._fields()).get_data(as_text=True)
    assert again == phone.history[-1]
    assert len(stored(engine.store, phone.sid).events) == 1


def test_stale_action_repeats_the_current_menu_without_moving(
    call: Callable[..., Phone], client: FlaskClient, engine: Engine
) -> None:
    phone = call()
    stale = phone.action
    phone.press("2").press("1")
    response = client.post(stale, data={**phone._fields(), "Digits": "5"})
    says = [spoken_text(s) for s in validate_twiml(response.data).iter("Say")]
    assert says[0] == prompt("billing_discrepancy")  # the leaf again, not re-confirmed
    assert stored(engine.store, phone.sid).state == "billing_discrepancy"


def test_call_record_keeps_the_path(call: Callable[..., Phone], engine: Engine) -> None:
    phone = call().press("2").silence().press("1")
    record = engine.store.get_call(phone.sid)
    assert record is not None
    assert [(e.trigger, e.source, e.dest) for e in record.events] == [
        ("start", "incoming", "main_menu"),
        ("press_2", "main_menu", "billing_menu"),
        ("no_input", "billing_menu", "billing_menu"),
        ("press_1", "billing_menu", "billing_discrepancy"),
    ]
    assert record.caller == "***0000" and record.line == "main"
    assert len(record.reference) == 8 and record.reference.isdigit()


def test_every_call_gets_its_own_reference(call: Callable[..., Phone], engine: Engine) -> None:
    refs = {stored(engine.store, call().sid).reference for _ in range(20)}
    assert len(refs) == 20


def test_healthz_lists_lines(client: FlaskClient) -> None:
    data = client.get("/healthz").get_json()
    assert data["lines"] == ["main", "specialty", "tty"] and data["signed"] is False


def test_replies_say_where_the_call_is(client: FlaskClient) -> None:
    fields = {"CallSid": "CA" + "b" * 32, "To": MAIN, "From": "+15551230000"}
    first = client.post("/voice", data=fields)
    assert (first.headers["X-IVR-Line"], first.headers["X-IVR-State"]) == ("main", "main_menu")
    second = client.post("/voice/input?step=0", data={**fields, "Digits": "9"})
    assert second.headers["X-IVR-State"] == "main_menu"
    assert second.headers["X-IVR-Language"] == "es"


def test_a_bad_flow_stops_start_up_naming_file_state_and_field(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    import shutil

    from ivr.engine.config import FLOWS_DIR
    from ivr.engine.errors import FlowErrors

    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    main = flows / "main.yaml"
    main.write_text(main.read_text().replace("dest: billing_menu}", "dest: billing_menus}"))
    with pytest.raises(FlowErrors) as caught:
        make_app(FLOWS_DIR=str(flows))
    error = caught.value.errors[0]
    assert error.file is not None and error.field is not None and error.line is not None
    assert error.file.endswith("main.yaml") and error.state == "main_menu"
    assert error.field.endswith(": dest") and "billing_menus" in str(error)
    assert "billing_menus" in main.read_text().splitlines()[error.line - 1]


def test_the_trainer_page_can_be_turned_off(make_app: Callable[..., Flask]) -> None:
    on = make_app().test_client()
    assert on.get("/").status_code == 200
    off = make_app(TRAINER="0").test_client()
    assert off.get("/").status_code == 404
    assert off.get("/trainer/api/lines").status_code == 404
    assert off.post("/voice", data={"CallSid": "CA" + "c" * 32, "To": MAIN}).status_code == 200
