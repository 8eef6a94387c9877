"""The trainer API: page calls walk the real webhooks; history, follow, export and analytics."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr.sim import WsgiTransport
from web.live_calls import MAX_LINES, PageCalls

from .phone import MAIN, Phone

API = "/trainer/api"
AFTER_HOURS = "2026-11-24T21:30"  # a Tuesday, 9:30 pm Central: the TTY line is closed


def ok(response: TestResponse, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    data: dict[str, Any] = response.get_json()
    return data


def start(client: FlaskClient, **body: Any) -> dict[str, Any]:
    return ok(client.post(f"{API}/calls", json={"line": "main", **body}), 201)


def act(client: FlaskClient, sid: str, action: str, **body: Any) -> dict[str, Any]:
    return ok(client.post(f"{API}/calls/{sid}/{action}", json=body if body else None))


def sid_of(detail: dict[str, Any]) -> str:
    sid: str = detail["call"]["call_sid"]
    return sid


def spoken(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in detail["live"]["transcript"] if e["who"] == "ivr"]


def last_heard(detail: dict[str, Any]) -> dict[str, Any]:
    return spoken(detail)[-1]


# -- the page ------------------------------------------------------------------------------


def test_page_and_every_asset_are_served_by_the_app(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html) if not a.startswith("data:")]
    assert sorted(a.rsplit("/", 1)[-1] for a in assets) == [
        "audio.js",
        "charts.js",
        "classroom.js",
        "cytoscape-elk.js",
        "cytoscape.min.js",
        "diagram.js",
        "elk.bundled.js",
        "trainer.css",
        "trainer.js",
    ]
    for asset in assets:
        assert asset.startswith("/trainer/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        text = response.get_data(as_text=True).replace("http://www.w3.org/2000/svg", "")
        # Vendored libraries (web/static/vendor, checked by sha256) name URLs in comments and
        # strings; the browser tests prove they load nothing from outside.
        if "/vendor/" not in asset:
            assert not re.search(r"https?://|//cdn|@import|fonts\.googleapis", text), asset
        response.close()


# -- lines and diagram ---------------------------------------------------------------------


def test_lines_name_their_numbers_hours_and_voices(client: FlaskClient) -> None:
    lines = {line["name"]: line for line in ok(client.get(f"{API}/lines"))["lines"]}
    assert sorted(lines) == ["main", "specialty", "tty"]
    assert lines["main"]["number"] == MAIN
    assert lines["tty"]["hours"] == "Mon–Sat 08:00–20:00 (America/Chicago)"
    assert lines["main"]["hours"] is None
    assert lines["main"]["locales"] == {"en": "en-US", "es": "es-US"}


@pytest.mark.parametrize("line", ["main", "specialty", "tty"])
def test_diagram_is_the_lines_svg_with_one_node_per_state(
    client: FlaskClient, engine: Any, line: str
) -> None:
    response = client.get(f"{API}/lines/{line}/diagram.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(response.data)
    ids = {g.get("id") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id")}
    flow = engine.flows.get(line).machine.flow
    assert f"state-{flow.initial}" in ids
    assert "state-representative" in ids


# -- page calls ----------------------------------------------------------------------------


def test_a_page_call_answers_with_the_greeting_and_the_main_menu(client: FlaskClient) -> None:
    detail = start(client)
    assert detail["call"]["state"] == "main_menu"
    assert detail["call"]["page_call"] is True
    assert detail["call"]["in_progress"] is True
    assert detail["live"]["waiting"] is True
    assert detail["live"]["language"] == "en-US"
    first, offer, warning, menu = spoken(detail)
    assert first["text"] == "Thanks for calling the Caremark mail order pharmacy simulator."
    assert (offer["text"], offer["lang"]) == ("Para español, oprima 9.", "es-US")  # its own voice
    assert warning["text"].startswith("Never give Social Security") and warning["lang"] == "en-US"
    assert "For refills or delivery status, press 1." in menu["text"]
    assert menu["lang"] == "en-US"
    assert [s["trigger"] for s in detail["steps"]] == ["start"]
    assert detail["call"]["path"] == ["incoming", "main_menu"]


def test_pressing_1_reaches_the_identity_check(client: FlaskClient) -> None:
    sid = sid_of(start(client))
    detail = act(client, sid, "press", keys="1")
    assert detail["call"]["state"] == detail["live"]["state"] == "verify_id"
    caller = [e for e in detail["live"]["transcript"] if e["who"] == "caller"]
    assert caller == [{"who": "caller", "text": "pressed 1", "lang": "en-US", "state": "main_menu", "n": 4}]
    confirm, prompt = spoken(detail)[-2:]
    assert confirm["text"] == "Refills and delivery status."  # the choice confirmed first
    assert prompt["text"].startswith("For your security, I need to verify your identity.")
    step = detail["steps"][-1]
    assert (step["source"], step["trigger"], step["dest"]) == ("main_menu", "press_1", "verify_id")
    assert step["input"] == "pressed 1"
    assert detail["call"]["path"] == ["incoming", "main_menu", "verify_id"]


def test_pressing_9_switches_to_spanish(client: FlaskClient) -> None:
    detail = act(client, sid_of(start(client)), "press", keys="9")
    heard = last_heard(detail)
    assert heard["lang"] == "es-US"
    assert heard["text"].startswith("Para resurtidos o entregas, oprima 1.")
    greeting, offer, warning = spoken(detail)[-4:-1]  # the first Spanish: greeting and warning in it
    assert greeting["text"].startswith("Gracias por llamar") and greeting["lang"] == "es-US"
    assert (offer["text"], offer["lang"]) == ("For English, press 9.", "en-US")
    assert warning["text"].startswith("Nunca dé números") and warning["lang"] == "es-US"
    assert detail["live"]["language"] == "es-US"
    assert detail["call"]["lang"] == "es"
    assert detail["steps"][-1]["input_lang"] == "en" and detail["steps"][-1]["lang"] == "es"


def test_an_entry_collects_keys_until_pound_and_never_shows_them(client: FlaskClient) -> None:
    sid = sid_of(start(client))
    act(client, sid, "press", keys="1")
    waiting = act(client, sid, "press", keys="1020")
    assert waiting["live"]["pending"] == "••••"
    assert waiting["call"]["state"] == "verify_id"
    detail = act(client, sid, "press", keys="3040#")
    assert detail["live"]["pending"] == ""
    assert detail["call"]["state"] == "verify_dob"
    caller = [e["text"] for e in detail["live"]["transcript"] if e["who"] == "caller"]
    assert caller == ["pressed 1", "entered [8 digits hidden]"]
    assert detail["steps"][-1]["input"] == "entered [8 digits hidden]"
    assert "10203040" not in json.dumps(detail)
    detail = act(client, sid, "press", keys="03071956")  # eight digits: sent without pound
    assert detail["call"]["state"] == "refill_menu"
    assert "03071956" not in json.dumps(detail)


def test_silence_sends_the_keys_collected_so_far(client: FlaskClient) -> None:
    sid = sid_of(start(client))
    act(client, sid, "press", keys="1")
    act(client, sid, "press", keys="10203040")
    detail = act(client, sid, "silence")
    assert detail["call"]["state"] == "verify_dob"


def test_words_and_silence_are_input_too(client: FlaskClient) -> None:
    sid = sid_of(start(client))
    detail = act(client, sid, "say", text="billing")
    assert detail["call"]["state"] == "billing_menu"
    assert [e["text"] for e in detail["live"]["transcript"] if e["who"] == "caller"] == ['said "billing"']
    detail = act(client, sid, "silence")
    assert detail["call"]["state"] == "billing_menu"
    caller = [e for e in detail["live"]["transcript"] if e["who"] == "caller"]
    assert caller[-1]["text"] == "silence (no input)"
    after = detail["live"]["transcript"][caller[-1]["n"] + 1]
    assert after["text"] == "Sorry, I didn't hear anything."
    assert detail["steps"][-1]["input"] == "silence (no input)"


def test_the_tty_line_after_hours_plays_the_closed_message(client: FlaskClient) -> None:
    detail = start(client, line="tty", now=AFTER_HOURS)
    assert detail["call"]["state"] == "closed"
    assert detail["call"]["outcome_label"] == "closed (outside hours)"
    assert detail["live"]["ended"] is True
    assert detail["live"]["clock"] == AFTER_HOURS
    assert any(e["text"].startswith("The TTY line is closed now.") for e in spoken(detail))
    assert detail["live"]["transcript"][-1]["who"] == "system"


def test_the_tty_line_in_opening_hours_answers_with_its_menu(client: FlaskClient) -> None:
    detail = start(client, line="tty", now="2026-11-24T10:00")
    assert detail["call"]["state"] == "main_menu"
    assert spoken(detail)[0]["text"] == "Thanks for calling the Caremark TTY and relay line simulator."


def test_hanging_up_closes_the_record_and_later_input_is_refused(client: FlaskClient) -> None:
    sid = sid_of(start(client))
    detail = act(client, sid, "hangup")
    assert detail["call"]["in_progress"] is False
    assert detail["call"]["outcome"] == "hung up in main_menu"
    assert detail["live"]["ended"] is True
    refused = client.post(f"{API}/calls/{sid}/press", json={"keys": "1"})
    assert refused.status_code == 409
    assert "the call has ended" in refused.get_json()["error"]


def test_a_transfer_ends_the_call_with_the_reference_spoken(client: FlaskClient) -> None:
    sid = sid_of(start(client))
    detail = act(client, sid, "press", keys="0")
    reference = detail["call"]["reference"]
    assert detail["call"]["outcome"] == "transfer:representative"
    assert detail["live"]["outcome"] == "enqueue:sim-representative"
    spaced = " ".join(reference)  # SSML say-as digits: "4 8 2 1 9 3 0 7"
    assert [e["text"].count(spaced) for e in spoken(detail) if spaced in e["text"]] == [2]
    assert detail["call"]["in_progress"] is False


@pytest.mark.parametrize("base_url", [None, "https://ivr.example.test"], ids=["localhost", "public"])
@pytest.mark.parametrize(
    "secret", ["TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_SHARED_KEY"], ids=["auth-token", "shared-key-only"]
)
def test_signed_mode_page_calls_sign_like_twilio(
    make_app: Callable[..., Flask], base_url: str | None, secret: str
) -> None:
    app = make_app(**{secret: "trainer-secret"}, PUBLIC_BASE_URL=base_url)
    client = app.test_client()
    unsigned = client.post("/voice", data={"CallSid": "CA" + "9" * 32, "To": MAIN})
    assert unsigned.status_code == 403  # the webhooks do check signatures
    sid = sid_of(start(client))
    detail = act(client, sid, "press", keys="2")
    assert detail["call"]["state"] == "billing_menu"
    assert all(e["who"] != "system" for e in detail["live"]["transcript"])


def test_the_page_can_be_told_not_to_choose_clocks(make_app: Callable[..., Flask]) -> None:
    client = make_app(ALLOW_SIMULATED_CLOCK=False).test_client()
    response = client.post(f"{API}/calls", json={"line": "tty", "now": AFTER_HOURS})
    assert response.status_code == 400
    assert "ignores chosen clocks" in response.get_json()["error"]


def test_page_calls_on_many_threads_keep_to_their_own_path(app: Flask) -> None:
    results: dict[str, str] = {}

    def caller(keys: str) -> None:
        client = app.test_client()
        sid = sid_of(start(client))
        for key in keys:
            act(client, sid, "press", keys=key)
        results[keys] = act(client, sid, "hangup")["call"]["outcome"]

    walks = ["2", "21", "3", "5", "51", "9"]
    threads = [threading.Thread(target=caller, args=(keys,)) for keys in walks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {
        "2": "hung up in billing_menu",
        "21": "hung up in billing_discrepancy",
        "3": "hung up in medicare_menu",
        "5": "hung up in international_menu",
        "51": "hung up in intl_travel",
        "9": "hung up in main_menu",
    }


# -- history and following any call ---------------------------------------------------------


def test_history_lists_real_and_page_calls_newest_first(
    client: FlaskClient, call: Callable[..., Phone]
) -> None:
    page_sid = sid_of(start(client))
    act(client, page_sid, "press", keys="2")
    phone = call()
    phone.press("3")
    calls = ok(client.get(f"{API}/calls"))["calls"]
    assert [c["call_sid"] for c in calls] == [phone.sid, page_sid]
    real, page = calls
    assert (real["page_call"], page["page_call"]) == (False, True)
    assert real["caller"] == "***0000"
    assert real["path"] == ["incoming", "main_menu", "medicare_menu"]
    assert page["path"] == ["incoming", "main_menu", "billing_menu"]
    assert re.fullmatch(r"[1-9][0-9]{7}", page["reference"])
    assert page["in_progress"] is True and page["duration"] >= 0
    only_tty = ok(client.get(f"{API}/calls?line=tty"))["calls"]
    assert only_tty == []


def test_a_real_call_can_be_followed_but_not_driven(client: FlaskClient, call: Callable[..., Phone]) -> None:
    phone = call()
    before = ok(client.get(f"{API}/calls/{phone.sid}"))
    assert before["live"] is None
    assert before["call"]["in_progress"] is True
    assert [s["dest"] for s in before["steps"]] == ["main_menu"]
    assert before["steps"][0]["heard"].startswith("Thanks for calling the Caremark")
    phone.press("9")
    phone.press("2")
    after = ok(client.get(f"{API}/calls/{phone.sid}"))
    assert [s["dest"] for s in after["steps"]] == ["main_menu", "main_menu", "billing_menu"]
    assert after["steps"][1]["heard"].startswith("Gracias por llamar")  # Spanish, first time
    assert after["steps"][-1]["heard"].startswith("Facturación y seguro.")  # the confirmation
    assert after["steps"][-1]["lang"] == "es"
    refused = client.post(f"{API}/calls/{phone.sid}/press", json={"keys": "1"})
    assert refused.status_code == 404
    assert "not a live page call" in refused.get_json()["error"]
    phone.hangup()
    assert ok(client.get(f"{API}/calls/{phone.sid}"))["call"]["in_progress"] is False


# -- export and analytics -------------------------------------------------------------------


def test_export_yields_a_scenario_that_replays_the_call(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    from ivr.commands.target import Target
    from ivr.qa.scenarios import load_scenario, run_scenario

    sid = sid_of(start(client))
    act(client, sid, "press", keys="9")
    act(client, sid, "say", text="facturación")
    act(client, sid, "press", keys="0")
    response = client.get(f"{API}/calls/{sid}/scenario.yaml")
    assert response.status_code == 200
    assert response.mimetype == "application/x-yaml"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="call-')
    data = yaml.safe_load(response.get_data(as_text=True))
    assert data["line"] == "main"
    path = tmp_path / "exported.yaml"
    path.write_bytes(response.data)
    scenario = load_scenario(path)
    target = Target(WsgiTransport(app), "http://localhost", in_process=True, app=app)
    result = run_scenario(scenario, target)
    assert result.passed, result.message
    assert str(result.transcript.outcome) == "enqueue:sim-representative"


def test_analytics_count_outcomes_choices_hangups_and_retries(client: FlaskClient) -> None:
    for action in ("0", "2", "21", "silence"):
        sid = sid_of(start(client))
        if action == "silence":
            act(client, sid, "silence")
        else:
            for key in action:
                act(client, sid, "press", keys=key)
        act(client, sid, "hangup")
    start(client, line="tty", now=AFTER_HOURS)
    data = ok(client.get(f"{API}/lines/main/analytics"))
    figures = data["analytics"]
    assert data["line"] == "main" and figures["calls"] == 4
    assert figures["outcome_kinds"] == {"hung up": 3, "transfer": 1}
    assert figures["transfers"] == {"representative": 1}
    assert figures["hangups"] == {"billing_menu": 1, "billing_discrepancy": 1, "main_menu": 1}
    main_menu = figures["choices"]["main_menu"]
    assert main_menu["total"] == 3
    assert {k: o["count"] for k, o in main_menu["options"].items()} == {"0": 1, "2": 2}
    assert figures["retries"]["main_menu"]["no_input"] == 1
    tty = ok(client.get(f"{API}/lines/tty/analytics"))["analytics"]
    assert tty["calls"] == 1 and tty["outcome_kinds"] == {"closed": 1}


# -- bad input: 4xx JSON with a message, never a 500 ------------------------------------------

BAD: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/calls", "not json", 400, "send a JSON object"),
    ("POST", "/calls", [1, 2], 400, "send a JSON object"),
    ("POST", "/calls", {"line": "nope"}, 400, "choose one of main, specialty, tty"),
    ("POST", "/calls", {"line": 5}, 400, "does not exist"),
    ("POST", "/calls", {"now": "tomorrow"}, 400, "ISO 8601"),
    ("POST", "/calls", {"now": 1}, 400, "ISO 8601"),
    ("POST", "/calls/{sid}/press", {"keys": "A"}, 400, "not a sequence of phone keys"),
    ("POST", "/calls/{sid}/press", {"keys": ""}, 400, "not a sequence of phone keys"),
    ("POST", "/calls/{sid}/press", {"keys": "1" * 65}, 400, "not a sequence of phone keys"),
    ("POST", "/calls/{sid}/press", {"keys": 1}, 400, "as a string"),
    ("POST", "/calls/{sid}/press", None, 400, "as a string"),
    ("POST", "/calls/{sid}/say", {"text": "   "}, 400, "between 1 and 200"),
    ("POST", "/calls/{sid}/say", {"text": "word " * 60}, 400, "between 1 and 200"),
    ("POST", "/calls/{sid}/say", {"words": "billing"}, 400, "as a string"),
    ("POST", "/calls/CAnope/press", {"keys": "1"}, 404, "not a live page call"),
    ("POST", "/calls/CAnope/hangup", None, 404, "not a live page call"),
    ("GET", "/calls/CAnope", None, 404, "no call CAnope"),
    ("GET", "/calls/CA$x", None, 400, "is not a CallSid"),
    ("GET", "/calls/CAnope/scenario.yaml", None, 404, "no call CAnope"),
    ("GET", "/calls?limit=abc", None, 400, "limit='abc' must be a whole number"),
    ("GET", "/calls?limit=0", None, 400, "from 1 to 500"),
    ("GET", "/lines/nope/diagram.svg", None, 404, "line 'nope' does not exist"),
    ("GET", "/lines/main/diagram.svg?detail=huge", None, 400, "detail"),
    ("GET", "/lines/nope/analytics", None, 404, "line 'nope' does not exist"),
    ("GET", "/lines/main/analytics?limit=-1", None, 400, "limit"),
    ("GET", "/nope", None, 404, "is not part of the trainer API"),
    ("DELETE", "/calls", None, 404, "is not part of the trainer API"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    BAD,
    ids=[f"{m} {p} {json.dumps(b)[:30]}" for m, p, b, _, _ in BAD],
)
def test_bad_input_is_refused_with_a_json_message(
    client: FlaskClient, method: str, path: str, body: Any, status: int, message: str
) -> None:
    sid = sid_of(start(client))
    kwargs: dict[str, Any] = {}
    if isinstance(body, str):
        kwargs = {"data": body, "content_type": "application/json"}
    elif body is not None:
        kwargs = {"json": body}
    response = client.open(API + path.format(sid=sid), method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert message in data["error"]
    assert data["status"] == status


# -- page calls in the store: expiry and the cap per line ----------------------------------------


def test_idle_page_calls_expire_and_are_hung_up(app: Flask, client: FlaskClient) -> None:
    registry: PageCalls = app.extensions["trainer_calls"]
    registry.ttl = -1  # every click finds the call idle past its TTL
    sid = sid_of(start(client))
    gone = client.post(f"{API}/calls/{sid}/press", json={"keys": "1"})
    assert gone.status_code == 404 and "idle for more than" in gone.get_json()["error"]
    record = app.extensions["ivr"].store.get_call(sid)
    assert record is not None and record.outcome == "hung up in main_menu"


def test_a_line_keeps_at_most_max_per_line_live_page_calls(app: Flask, client: FlaskClient) -> None:
    registry: PageCalls = app.extensions["trainer_calls"]
    registry.max_per_line = 2
    first, _ = sid_of(start(client)), start(client)
    full = client.post(f"{API}/calls", json={"line": "main"})
    assert full.status_code == 429
    assert "already has 2 live page calls" in full.get_json()["error"]
    act(client, first, "hangup")  # an ended call makes room
    start(client)
    start(client, line="tty")  # another line has room of its own


def test_six_hundred_stars_never_grow_a_reply_past_a_bound(make_app: Callable[..., Flask]) -> None:
    # Both caps (200 transcript lines, 200 steps) are reached by press 200; the 400 after it must
    # leave the reply's size flat.
    client = make_app(DATABASE=":memory:").test_client()  # the store's speed is not the point here
    sid = client.post(f"{API}/calls", json={"line": "main"}).get_json()["call"]["call_sid"]
    sizes = []
    for count in range(600):
        response = client.post(f"{API}/calls/{sid}/press", json={"keys": "*"})
        assert response.status_code == 200
        if count >= 250 and count % 50 == 49:
            sizes.append(len(response.data))
    detail = response.get_json()
    assert len(detail["live"]["transcript"]) == MAX_LINES
    assert detail["live"]["omitted_lines"] > 1000
    assert len(detail["steps"]) == 200 and detail["omitted_steps"] == 401
    assert max(sizes) < 1.05 * min(sizes) and max(sizes) < 400_000
