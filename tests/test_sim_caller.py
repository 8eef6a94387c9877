"""The simulated caller runs TwiML as Twilio does: same fields, same fall-throughs, same outcomes.

Most tests place a call to a tiny TwiML app (tests/twiml_apps.py) that records every request, so
they check both what the caller did and exactly what it sent. The last ones walk our own app,
in-process and over HTTP, signed and unsigned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from ivr.sim import (
    Heard,
    HttpReply,
    HttpTransport,
    Outcome,
    SimulatedCall,
    SimulationError,
    Transport,
    WsgiTransport,
)
from ivr.sim.caller import DEFAULT_ACCOUNT
from ivr.sim.fields import geographic
from ivr.sim.signing import SETTINGS_HEADER, SIMULATED_KEY_ID, Signer

from . import flow_text
from . import twiml_apps as apps
from .phone import MAIN, TTY
from .twiml_apps import ESCAPED_ACTION, NO_INPUT, PROMPT, TwimlApp

LINE = "+18005550100"
CALLER = "+15005550006"
SID = "CA" + "1" * 32
LOCAL = "http://localhost"
TOKEN = "tok"

Act = Callable[[SimulatedCall], object]  # something a caller does
Build = Callable[..., Flask]  # builds our app from extra config
Serve = Callable[[Any], str]  # serves a WSGI app over HTTP, returns its base URL

#: Virtual seconds to speak what follows a Gather (2.5 words a second).
SPOKEN = {NO_INPUT: 2.0, "Thanks.": 0.4}


def call_fields(status: str, to: str = LINE) -> dict[str, str]:
    """The fields Twilio posts on every request of an inbound call, geographic ones included
    ("Twilio also attempts to look up geographic data based on the 'To' and 'From' phone
    numbers": FromCountry/ToCountry US for +1 numbers, City/State/Zip empty unless configured)."""
    return {
        **geographic(CALLER, to, {}),
        "CallSid": SID,
        "AccountSid": DEFAULT_ACCOUNT,
        "From": CALLER,
        "To": to,
        "Caller": CALLER,
        "Called": to,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


def place(app: TwimlApp, voice_url: str = "/", **kwargs: Any) -> SimulatedCall:
    """A call to a tiny TwiML app, not yet dialled; its status callback goes to /status."""
    kwargs.setdefault("call_sid", SID)
    return SimulatedCall(WsgiTransport(app), LINE, voice_url=voice_url, status_callback="/status", **kwargs)


def status_fields(form: dict[str, str]) -> dict[str, str]:
    """A status callback's fields without the ones that change with each run (Timestamp)."""
    assert form.pop("CallbackSource") == "call-progress-events"
    assert form.pop("Timestamp").endswith("+0000") or form.get("Timestamp") is None
    return form


def input_fields(app: TwimlApp, path: str = "/got") -> list[dict[str, str]]:
    """What each request to `path` carried beyond the call's own fields."""
    return [{k: v for k, v in seen.form.items() if k not in call_fields("x")} for seen in app.to(path)]


# -- Gather ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_empty", "action_requests", "heard", "outcome"),
    [
        pytest.param(None, [], NO_INPUT, Outcome("completed"), id="absent-falls-through"),
        pytest.param(False, [], NO_INPUT, Outcome("completed"), id="false-falls-through"),
        pytest.param(True, [{}], "Thanks.", Outcome("hangup"), id="true-calls-action-empty"),
    ],
)
def test_no_input_falls_through_unless_action_on_empty_result(
    on_empty: bool | None, action_requests: list[dict[str, str]], heard: str, outcome: Outcome
) -> None:
    gather = {} if on_empty is None else {"action_on_empty_result": on_empty}
    app = apps.gather_app(**gather)
    call = place(app).dial()
    assert call.clock == pytest.approx(1.2)  # three words of prompt, no waiting yet

    call.silence()

    assert input_fields(app) == action_requests
    assert call.heard == heard
    assert call.outcome == outcome
    assert call.transcript.steps[1 if action_requests else 0].heard[-1].text == heard
    assert call.clock == pytest.approx(1.2 + 7 + SPOKEN[heard])  # the timeout, on the virtual clock


@pytest.mark.parametrize(
    ("gather", "keys", "digits", "consumed", "waited"),
    [
        pytest.param({}, "123#", "123", 4, False, id="default-finish-key"),
        pytest.param({}, "12#34", "12", 3, False, id="default-finish-key-rest-ignored"),
        pytest.param({}, "123", "123", 3, True, id="no-finish-key-waits-for-timeout"),
        pytest.param({"finish_on_key": "*"}, "12#*", "12#", 4, False, id="custom-star"),
        pytest.param({"finish_on_key": "*"}, "#", "#", 1, True, id="custom-star-pound-is-a-digit"),
        pytest.param(
            {"finish_on_key": "", "num_digits": 4}, "1#*2", "1#*2", 4, False, id="empty-finish-key-num-digits"
        ),
        pytest.param(
            {"finish_on_key": "", "num_digits": 4}, "1#", "1#", 2, True, id="empty-finish-key-short-waits"
        ),
        pytest.param({"num_digits": 2}, "12345", "12", 2, False, id="num-digits-cuts-short"),
        pytest.param({}, "#", None, 1, False, id="finish-key-alone-falls-through"),
        pytest.param({"num_digits": 3}, "#12", None, 1, False, id="finish-key-first-falls-through"),
    ],
)
def test_finish_on_key_and_num_digits(
    gather: dict[str, Any], keys: str, digits: str | None, consumed: int, waited: bool
) -> None:
    app = apps.gather_app(**gather)
    call = place(app).dial()
    before = call.clock

    call.press(keys)

    if digits is None:  # Twilio: finishOnKey before any digit falls through, as a timeout does
        assert input_fields(app) == []
        assert (call.heard, call.outcome) == (NO_INPUT, Outcome("completed"))
    else:
        assert input_fields(app) == [{"Digits": digits}]
        assert (call.heard, call.outcome) == ("Thanks.", Outcome("hangup"))
    assert call.clock - before == pytest.approx(0.3 * consumed + (7 if waited else 0) + SPOKEN[call.heard])


@pytest.mark.parametrize(
    ("gather", "act", "sent"),
    [
        pytest.param({}, lambda c: c.say("billing"), None, id="default-input-is-keys-only"),
        pytest.param({"input": "dtmf"}, lambda c: c.say("billing"), None, id="keys-only-ignores-speech"),
        pytest.param({"input": "speech"}, lambda c: c.press("1"), None, id="speech-only-ignores-keys"),
        pytest.param(
            {"input": "speech", "action_on_empty_result": True},
            lambda c: c.press("1"),
            {},
            id="speech-only-keys-are-empty-result",
        ),
        pytest.param({"input": "dtmf"}, lambda c: c.press("1"), {"Digits": "1"}, id="keys-only-takes-keys"),
        pytest.param(
            {"input": "speech"},
            lambda c: c.say("billing", 0.5),
            {"SpeechResult": "billing", "Confidence": "0.50"},
            id="speech-only-takes-speech",
        ),
    ],
)
def test_input_kinds(gather: dict[str, Any], act: Act, sent: dict[str, str] | None) -> None:
    app = apps.gather_app(**gather)
    call = place(app).dial()

    act(call)

    assert input_fields(app) == ([] if sent is None else [sent])
    assert call.heard == (NO_INPUT if sent is None else "Thanks.")


@pytest.mark.parametrize(
    ("action", "host", "path", "query"),
    [
        pytest.param("next", "localhost", "/app/sub/next", "", id="sibling"),
        pytest.param("../x", "localhost", "/app/x", "", id="parent"),
        pytest.param("/abs", "localhost", "/abs", "", id="absolute-path"),
        pytest.param("?step=2", "localhost", "/app/sub/page", "step=2", id="query-only"),
        pytest.param(None, "localhost", "/app/sub/page", "x=1", id="absent-is-current-document"),
        pytest.param("http://other.example/far?y=2", "other.example", "/far", "y=2", id="absolute-url"),
    ],
)
def test_relative_action_urls_resolve_against_the_request_url(
    action: str | None, host: str, path: str, query: str
) -> None:
    """The action is requested where a browser would send a form with that action."""
    app = apps.relative_action_app(action)
    call = place(app, voice_url="/app/sub/page?x=1").dial().press("1")

    action_request = app.seen[1]
    assert (action_request.host, action_request.path, action_request.query) == (host, path, query)
    assert action_request.method == "POST"
    assert action_request.form == {**call_fields("in-progress"), "Digits": "1"}
    # /app/sub/page serves the Gather again; every other path hangs up.
    assert call.waiting is (path == "/app/sub/page")


def test_get_action_sends_fields_in_the_query_string() -> None:
    app = apps.gather_app(action="/got?keep=1", method="GET")
    place(app).dial().press("42#")

    (got,) = app.to("/got")
    assert got.method == "GET"
    assert got.args == {"keep": "1", **call_fields("in-progress"), "Digits": "42"}
    assert got.query.startswith("keep=1&")
    assert (got.form, got.body) == ({}, b"")


# -- verbs that end or move the call -------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "method", "sent_as"),
    [
        pytest.param("next", None, "POST", id="relative-default-post"),
        pytest.param("next", "POST", "POST", id="relative-post"),
        pytest.param("next", "GET", "GET", id="relative-get"),
        pytest.param("../ivr/next", "POST", "POST", id="dot-dot-post"),
        pytest.param("/ivr/next", "GET", "GET", id="absolute-path-get"),
    ],
)
def test_redirect(target: str, method: str | None, sent_as: str) -> None:
    app = apps.redirect_app(target, method)
    call = place(app, voice_url="/ivr/start").dial()

    assert app.paths == ["/ivr/start", "/ivr/next", "/status"]
    redirected = app.seen[1]
    assert redirected.method == sent_as
    fields = call_fields("in-progress")
    assert (redirected.args, redirected.form) == ((fields, {}) if sent_as == "GET" else ({}, fields))
    assert call.heard == "Moving on. Redirected."
    assert call.outcome == Outcome("hangup")


def test_redirect_loop_ends_with_an_error() -> None:
    app = apps.redirect_loop_app()
    call = place(app, voice_url="/loop").dial()

    assert call.outcome == Outcome("error", detail="more than 20 redirects in a row")
    assert len(app.to("/loop")) == 21  # the first request and 20 redirects
    assert app.to("/status")[0].form["CallStatus"] == "failed"


def test_hangup_ends_the_call_and_skips_the_rest() -> None:
    app = apps.hangup_app()
    call = place(app).dial()

    assert call.outcome == Outcome("hangup")
    assert [h.text for h in call.heard_all] == ["Goodbye."]
    assert (call.ended, call.waiting) == (True, False)


@pytest.mark.parametrize(
    ("reason", "after_say", "detail", "status"),
    [
        pytest.param("busy", False, "busy", "busy", id="busy-first-verb"),
        pytest.param(None, False, "rejected", "no-answer", id="default-first-verb"),
        pytest.param("rejected", False, "rejected", "no-answer", id="rejected-first-verb"),
        pytest.param("busy", True, "busy", "completed", id="after-say-call-was-answered"),
    ],
)
def test_reject(reason: str | None, after_say: bool, detail: str, status: str) -> None:
    app = apps.reject_app(reason, after_say=after_say)
    call = place(app).dial()

    assert call.outcome == Outcome("reject", detail=detail)
    (callback,) = app.to("/status")
    assert callback.form["CallStatus"] == status
    assert callback.form["CallDuration"] == "0"


@pytest.mark.parametrize(
    ("noun", "value", "target"),
    [
        pytest.param(None, "+15551230000", "number:+15551230000", id="text-number"),
        pytest.param("number", "+15551230001", "number:+15551230001", id="number"),
        pytest.param("client", "alice", "client:alice", id="client"),
        pytest.param("sip", "sip:alice@example.com", "sip:sip:alice@example.com", id="sip"),
        pytest.param("queue", "support", "queue:support", id="queue"),
    ],
)
def test_dial_without_action_goes_on_with_the_next_verb(noun: str | None, value: str, target: str) -> None:
    """Twilio: "If you do not provide an action URL in your <Dial> and the original caller is
    still on the line, Twilio will continue to render the original TwiML document." (This test used to
    say the <Dial> ended the call; the simulator now runs the Dial: tests/test_conformance_dial.py.)"""
    app = apps.dial_app(noun, value)
    call = place(app).dial()

    assert call.outcome == Outcome("completed")
    assert [h.text for h in call.heard_all] == ["Never heard."]  # now heard: the Dial ended
    assert app.paths == ["/", "/status"]


@pytest.mark.parametrize(
    ("wait_method", "sent_as"),
    [pytest.param(None, "POST", id="wait-default-post"), pytest.param("GET", "GET", id="wait-get")],
)
def test_enqueue_hears_the_wait_url_once(wait_method: str | None, sent_as: str) -> None:
    app = apps.enqueue_app(wait_method)
    call = place(app, voice_url="/queue/in").dial()

    assert call.outcome == Outcome("enqueue", target="support")
    assert str(call.outcome) == "enqueue:support"
    (wait,) = app.to("/queue/hold")
    assert wait.method == sent_as
    sent = wait.args if sent_as == "GET" else wait.form
    assert (sent["QueuePosition"], sent["CallSid"]) == ("1", SID)
    assert call.heard_all == [Heard("say", "Please hold."), Heard("play", "https://example.com/hold.mp3")]


def test_running_out_of_verbs_completes_the_call() -> None:
    app = apps.completed_app()
    call = place(app).dial()

    assert call.outcome == Outcome("completed")
    assert call.heard == "That is all."
    assert app.to("/status")[0].form["CallStatus"] == "completed"


def test_say_loop_is_heard_each_time() -> None:
    call = place(apps.say_loop_app()).dial()

    assert call.heard == "Hello there Hello there Hello there"
    assert len(call.heard_all) == 3
    assert call.clock == pytest.approx(3 * 2 / 2.5)


def test_pause_advances_the_virtual_clock_not_the_real_one() -> None:
    app = apps.pause_app(600)
    started = time.perf_counter()

    call = place(app).dial()

    assert time.perf_counter() - started < 0.5
    assert call.clock == 600.0
    assert call.heard_all == [Heard("pause", "600s")]
    assert call.outcome == Outcome("hangup")
    assert app.to("/status")[0].form["CallDuration"] == "600"


# -- what the simulator cannot run, and apps that fail ------------------------------------------


@pytest.mark.parametrize(
    ("build", "detail"),
    [
        pytest.param(
            apps.unsupported_verb_app,
            "the simulator does not support <Pay> (at Response/Pay)",
            id="pay",
        ),
        pytest.param(
            apps.unsupported_attribute_app,
            "the simulator does not support attribute 'partialResultCallback' of <Gather> "
            "(at Response/Gather)",
            id="gather-partial-result-callback",
        ),
    ],
)
def test_unsupported_twiml_is_an_error_outcome_not_a_fallback(
    build: Callable[[], TwimlApp], detail: str
) -> None:
    app = build()
    call = place(app, fallback_url="/fallback").dial()  # no exception: the outcome says why

    assert call.outcome == Outcome("error", detail=detail)
    assert call.transcript.steps[0].error == detail
    assert app.paths == ["/", "/status"]  # Twilio would run this TwiML: no fallback request
    assert call.heard_all == []


@pytest.mark.parametrize(
    ("kind", "validate", "detail"),
    [
        pytest.param("http-500", True, "HTTP 500 from http://localhost/", id="http-500"),
        pytest.param(
            "invalid-twiml",
            True,
            "invalid TwiML: Response/Dance[1]: unknown element <Dance> (not a TwiML Voice element)",
            id="invalid-twiml",
        ),
        pytest.param(
            "not-xml",
            True,
            "invalid TwiML: document: not well-formed XML: mismatched tag (line 1, column 20)",
            id="not-well-formed",
        ),
        pytest.param(
            "not-xml", False, "not XML: mismatched tag: line 1, column 20", id="not-well-formed-unvalidated"
        ),
        pytest.param("json", True, "content type application/json is not TwiML", id="json-content-type"),
    ],
)
def test_broken_app_without_fallback_is_an_error(kind: str, validate: bool, detail: str) -> None:
    app = apps.broken_app(kind)
    call = place(app, validate=validate).dial()

    assert call.outcome == Outcome("error", detail=detail)
    assert app.paths == ["/", "/status"]
    assert app.to("/status")[0].form["CallStatus"] == "failed"


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        pytest.param("http-500", "11200", id="http-500"),
        pytest.param("invalid-twiml", "12100", id="invalid-twiml"),
        pytest.param("not-xml", "12100", id="not-well-formed"),
        pytest.param("json", "12300", id="json-content-type"),
    ],
)
def test_broken_app_with_fallback_requests_it(kind: str, code: str) -> None:
    app = apps.broken_app(kind)
    call = place(app, fallback_url="/help/fallback").dial()

    assert app.paths == ["/", "/help/fallback", "/help/next", "/status"]
    fallback = app.to("/help/fallback")[0]
    assert fallback.form == {**call_fields("ringing"), "ErrorCode": code, "ErrorUrl": LOCAL + "/"}
    # The fallback document runs, its relative <Redirect> resolved against the fallback URL.
    assert call.heard == "Sorry, we are having trouble. Fallback worked."
    assert call.outcome == Outcome("hangup")


def test_fallback_after_a_failing_action_gets_the_input() -> None:
    app = apps.failing_action_app()
    call = place(app, fallback_url="/help/fallback").dial().press("3")

    assert app.paths == ["/", "/got", "/help/fallback", "/status"]
    assert app.to("/help/fallback")[0].form == {
        **call_fields("in-progress"),
        "Digits": "3",
        "ErrorCode": "11200",
        "ErrorUrl": LOCAL + "/got",
    }
    assert call.outcome == Outcome("hangup")


# -- what Twilio sends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("act", "sent"),
    [
        pytest.param(lambda c: c.press("5"), {"Digits": "5"}, id="keys"),
        pytest.param(
            lambda c: c.say("refill please", 0.5),
            {"SpeechResult": "refill please", "Confidence": "0.50"},
            id="speech",
        ),
    ],
)
def test_exact_fields_of_each_request(act: Act, sent: dict[str, str]) -> None:
    app = apps.echo_app()
    call = place(app).dial()
    act(call)

    assert app.paths == ["/", "/got", "/status"]
    dialled, action, status = app.seen
    assert dialled.form == call_fields("ringing")
    assert action.form == {**call_fields("in-progress"), **sent}
    assert status_fields(status.form) == {
        **call_fields("completed"),
        "CallDuration": str(int(call.clock)),
        "SequenceNumber": "0",
    }
    assert [seen.method for seen in app.seen] == ["POST", "POST", "POST"]
    assert all(seen.args == {} for seen in app.seen)
    assert all("X-Twilio-Signature" not in seen.headers for seen in app.seen)


def test_status_callback_reports_duration_from_the_virtual_clock() -> None:
    app = apps.timed_app()
    call = place(app).dial()

    assert call.outcome == Outcome("completed")
    assert call.clock == pytest.approx(9.0)
    assert app.seen[-1].path == "/status"
    assert status_fields(app.seen[-1].form) == {
        **call_fields("completed"),
        "CallDuration": "9",
        "SequenceNumber": "0",
    }


def test_caller_hangup_posts_the_status_callback() -> None:
    app = apps.echo_app()
    call = place(app).dial().hangup()

    assert call.outcome == Outcome("caller-hangup")
    assert status_fields(app.seen[-1].form) == {
        **call_fields("completed"),
        "CallDuration": str(int(call.clock)),
        "SequenceNumber": "0",
    }


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_each_request_is_signed_with_the_auth_token(method: str) -> None:
    """Twilio signs the full URL it requests plus, for POST, the form fields."""
    app = apps.gather_app(method=method)
    place(app, auth_token=TOKEN).dial().press("1#")

    assert [(seen.method, seen.path) for seen in app.seen] == [
        ("POST", "/"),
        (method, "/got"),
        ("POST", "/status"),
    ]
    for seen in app.seen:
        url = LOCAL + seen.path + (f"?{seen.query}" if seen.query else "")
        signature = seen.headers["X-Twilio-Signature"]
        assert RequestValidator(TOKEN).validate(url, seen.form, signature)
        assert not RequestValidator("other").validate(url, seen.form, signature)


@pytest.mark.parametrize(
    ("prepare", "act", "message"),
    [
        pytest.param(
            lambda c: c,
            lambda c: c.press("1"),
            "cannot press '1': the call is not waiting for input",
            id="press-before-dial",
        ),
        pytest.param(
            lambda c: c,
            lambda c: c.say("hi"),
            "cannot say 'hi': the call is not waiting for input",
            id="say-before-dial",
        ),
        pytest.param(
            lambda c: c.dial(),
            lambda c: c.press("1"),
            "cannot press '1': the call has ended (hangup)",
            id="press-after-end",
        ),
        pytest.param(
            lambda c: c.dial(),
            lambda c: c.say("hi"),
            "cannot say 'hi': the call has ended (hangup)",
            id="say-after-end",
        ),
        pytest.param(
            lambda c: c.dial(),
            lambda c: c.silence(),
            "cannot stay silent: the call has ended (hangup)",
            id="silence-after-end",
        ),
        pytest.param(
            lambda c: c.dial(), lambda c: c.dial(), "this call was already dialled", id="dial-twice"
        ),
    ],
)
def test_input_when_the_call_cannot_take_it(
    prepare: Callable[[SimulatedCall], SimulatedCall], act: Act, message: str
) -> None:
    call = prepare(place(apps.hangup_app()))

    with pytest.raises(SimulationError) as raised:
        act(call)

    assert str(raised.value) == message


@pytest.mark.parametrize("keys", ["", "12a", "1 2"], ids=["empty", "letter", "space"])
def test_keys_must_be_phone_keys(keys: str) -> None:
    call = place(apps.echo_app()).dial()

    with pytest.raises(SimulationError, match="is not a sequence of phone keys"):
        call.press(keys)
    assert call.waiting


# -- our own app -------------------------------------------------------------------------------


@pytest.fixture
def core_app(make_app: Build) -> Iterator[Build]:
    """Build our app with extra config; stores are closed afterwards."""
    built: list[Flask] = []

    def build(**config: Any) -> Flask:
        application = make_app(**config)
        built.append(application)
        return application

    yield build
    for application in built:
        application.extensions["ivr"].store.close()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve a WSGI app over real HTTP on a free port; returns its base URL."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(wsgi_app: Any) -> str:
        server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


BILLING_PATH = [
    ("main_menu", flow_text.prompt("main_menu")),
    *(
        (state, f"{flow_text.confirm(state)} {flow_text.prompt(state)}")  # the choice confirmed first
        for state in ("billing_menu", "billing_discrepancy")
    ),
]


def walk_billing(call: SimulatedCall) -> SimulatedCall:
    """Main menu -> 2 -> 1, checking at each step what is heard and where the app says we are."""
    for index, (state, prompt) in enumerate(BILLING_PATH):
        if index:
            call.press(str(3 - index))  # "2", then "1"
        assert call.state == state == call.transcript.steps[-1].state
        assert prompt in call.heard
        assert call.language == "en-US"
        assert call.waiting
    return call


def test_core_app_full_path(app: Flask) -> None:
    call = walk_billing(SimulatedCall(WsgiTransport(app), MAIN).dial())

    assert [step.url for step in call.transcript.steps] == [
        LOCAL + "/voice",
        LOCAL + "/voice/input?step=0",
        LOCAL + "/voice/input?step=1",
    ]
    assert [step.input for step in call.transcript.steps] == [None, "keys 2", "keys 1"]
    call.hangup()
    assert call.outcome == Outcome("caller-hangup")
    assert call.transcript.steps[-1].status == 204


def test_core_app_accepts_correctly_signed_calls(core_app: Build) -> None:
    app = core_app(TWILIO_AUTH_TOKEN=TOKEN)
    call = walk_billing(SimulatedCall(WsgiTransport(app), MAIN, auth_token=TOKEN).dial())

    assert [step.status for step in call.transcript.steps] == [200, 200, 200]
    assert call.outcome is None


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
def test_each_request_is_signed_with_a_shared_key_and_says_so(algorithm: str) -> None:
    """Under a Webhook Rule Twilio signs with the SharedKey and names it in a settings header."""
    app = apps.gather_app()
    place(app, signer=Signer.shared_key("shared-secret", algorithm)).dial().press("1#")

    assert len(app.seen) == 3
    for seen in app.seen:
        url = LOCAL + seen.path + (f"?{seen.query}" if seen.query else "")
        assert seen.headers[SETTINGS_HEADER] == f"key={SIMULATED_KEY_ID},algorithm={algorithm}"
        signature = seen.headers["X-Twilio-Signature"]
        assert RequestValidator("shared-secret").validate(url, seen.form, signature, algorithm)
        other = "HMAC_SHA1" if algorithm == "HMAC_SHA256" else "HMAC_SHA256"
        assert not RequestValidator("shared-secret").validate(url, seen.form, signature, other)


def test_a_caller_signs_one_way_only() -> None:
    with pytest.raises(ValueError, match="not both"):
        place(apps.gather_app(), auth_token=TOKEN, signer=Signer.shared_key("shared-secret"))


def test_core_app_with_a_shared_key_accepts_calls_signed_with_it(core_app: Build) -> None:
    app = core_app(TWILIO_WEBHOOK_SHARED_KEY="shared-secret")
    signer = Signer.shared_key("shared-secret")
    call = walk_billing(SimulatedCall(WsgiTransport(app), MAIN, signer=signer).dial())
    assert [step.status for step in call.transcript.steps] == [200, 200, 200]
    refused = SimulatedCall(WsgiTransport(app), MAIN, signer=Signer.shared_key("other")).dial()
    assert refused.transcript.steps[0].status == 403


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param({}, None, id="nothing"),
        pytest.param({"TWILIO_AUTH_TOKEN": "t"}, Signer("t"), id="auth-token"),
        pytest.param(
            {"TWILIO_WEBHOOK_SHARED_KEY": "k1, k2"},
            Signer("k1", SIMULATED_KEY_ID, "HMAC_SHA256"),
            id="first-shared-key",
        ),
        pytest.param(
            {"TWILIO_AUTH_TOKEN": "t", "TWILIO_WEBHOOK_SHARED_KEY": "k"}, Signer("t"), id="auth-token-first"
        ),
    ],
)
def test_signer_from_config(config: dict[str, str], expected: Signer | None) -> None:
    assert Signer.from_config(config) == expected


@pytest.mark.parametrize("token", ["wrong", None], ids=["wrong-token", "unsigned"])
def test_core_app_refuses_badly_signed_calls(core_app: Build, token: str | None) -> None:
    app = core_app(TWILIO_AUTH_TOKEN=TOKEN)
    call = SimulatedCall(WsgiTransport(app), MAIN, auth_token=token).dial()

    assert call.outcome == Outcome("error", detail="HTTP 403 from http://localhost/voice")
    assert call.transcript.steps[0].status == 403
    assert call.state is None


@pytest.mark.parametrize(
    ("now", "state", "ended"),
    [
        pytest.param("2026-11-24T21:30:00-06:00", "closed", True, id="after-hours-closed"),
        pytest.param(None, "main_menu", False, id="config-clock-open"),
    ],
)
def test_simulated_now_on_the_tty_line(app: Flask, now: str | None, state: str, ended: bool) -> None:
    call = SimulatedCall(WsgiTransport(app), TTY, simulated_now=now).dial()

    assert call.state == state
    assert call.ended is ended
    first = call.transcript.steps[0].fields
    assert first.get("SimulatedNow") == now
    if ended:
        assert "The TTY line is closed now." in call.heard
        assert call.outcome == Outcome("hangup")
        assert "SimulatedNow" not in call.transcript.steps[-1].fields  # the status callback


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, TOKEN], ids=["unsigned", "signed"])
def test_http_transport_walks_our_app(core_app: Build, serve: Serve, token: str | None) -> None:
    base = serve(core_app(TWILIO_AUTH_TOKEN=token))
    call = SimulatedCall(HttpTransport(timeout=5), MAIN, base_url=base, auth_token=token).dial()

    walk_billing(call).hangup()

    steps = call.transcript.steps
    assert [step.url for step in steps] == [
        base + "/voice",
        base + "/voice/input?step=0",
        base + "/voice/input?step=1",
        base + "/voice/status",
    ]
    assert [step.status for step in steps] == [200, 200, 200, 204]
    assert call.outcome == Outcome("caller-hangup")


def test_http_transport_wrong_token_is_refused(core_app: Build, serve: Serve) -> None:
    base = serve(core_app(TWILIO_AUTH_TOKEN=TOKEN))
    call = SimulatedCall(HttpTransport(timeout=5), MAIN, base_url=base, auth_token="wrong").dial()

    assert call.outcome == Outcome("error", detail=f"HTTP 403 from {base}/voice")


@pytest.mark.parametrize("over", ["wsgi", "http"])
def test_escaped_action_round_trips_with_a_valid_signature(serve: Serve, over: str) -> None:
    app = apps.escaped_action_app(auth_token=TOKEN)
    transport: Transport
    if over == "http":
        base, transport = serve(app), HttpTransport(timeout=5)
    else:
        base, transport = LOCAL, WsgiTransport(app)
    call = SimulatedCall(
        transport, LINE, base_url=base, voice_url="/", status_callback="/status", auth_token=TOKEN
    ).dial()
    assert call.heard == PROMPT

    call.press("1")

    assert call.outcome == Outcome("hangup")
    assert [step.status for step in call.transcript.steps] == [200, 200, 204]
    assert call.transcript.steps[1].url == base + ESCAPED_ACTION
    (got,) = app.to("/got")
    assert got.query == ESCAPED_ACTION.partition("?")[2]  # every escape kept as written
    assert got.args == {"name": "Jürgen & co/x", "empty": "", "plus": "a+b"}


# -- what the caller keeps between steps: the same requests, the same transcript ----------------


class _Answers:
    """A transport answering each request with the next of `bodies` (TwiML), keeping what was sent."""

    def __init__(self, *bodies: str) -> None:
        self.bodies = list(bodies)
        self.sent: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def request(self, method: str, url: str, fields: Any, headers: Any) -> HttpReply:
        self.sent.append((url, dict(fields), dict(headers)))
        return HttpReply(
            200, {"content-type": "text/xml"}, self.bodies.pop(0) if self.bodies else "<Response/>"
        )


def _gather(say: str) -> str:
    return f'<Response><Gather action="/next" numDigits="1">{say}</Gather></Response>'


def test_verbs_seen_before_are_heard_as_written_not_as_cached() -> None:
    """What a verb sounds like is kept per verb: the same words with another voice, language or
    loop, or SSML inside, are heard as that document says (no stale transcript)."""
    plain = '<Say voice="Polly.Joanna" language="en-US">Press one.</Say>'
    other = '<Say voice="Polly.Lupe" language="es-US">Press one.</Say>'
    twice = '<Say loop="2" voice="Polly.Joanna" language="en-US">Press one.</Say>'
    digits = '<Say language="en-US">Ref <say-as interpret-as="digits">{}</say-as>.</Say>'
    answers = _Answers(
        _gather(plain), _gather(other), _gather(twice), _gather(digits.format(12)), _gather(digits.format(34))
    )
    call = SimulatedCall(answers, LINE, status_callback=None).dial()
    heard = [call.heard_items]
    for _ in range(4):
        heard.append(call.press("1").heard_items)

    assert heard == [
        [Heard("say", "Press one.", "Polly.Joanna", "en-US")],
        [Heard("say", "Press one.", "Polly.Lupe", "es-US")],
        [Heard("say", "Press one.", "Polly.Joanna", "en-US")] * 2,
        [Heard("say", "Ref 1 2.", None, "en-US")],
        [Heard("say", "Ref 3 4.", None, "en-US")],
    ]
    assert [s.heard for s in call.transcript.steps] == heard


def test_what_verbs_sound_like_is_kept_within_bounds() -> None:
    from ivr.sim import caller

    for n in range(caller._MAX_HEARD + 10):
        body = f"<Response><Say>Number {n}.</Say><Hangup/></Response>"
        call = SimulatedCall(_Answers(body), LINE, status_callback=None, validate=False).dial()
        assert call.heard_all == [Heard("say", f"Number {n}.")]
        assert len(caller._HEARD) <= caller._MAX_HEARD


def test_each_request_gets_its_own_fields_and_headers() -> None:
    """Fields built once per call still reach each request as a dict of its own, with the call's
    CallStatus, the step's input and a new idempotency token."""
    answers = _Answers(_gather("<Say>Hi.</Say>"), _gather("<Say>Again.</Say>"))
    call = SimulatedCall(answers, LINE, call_sid=SID, status_callback="/status", caller=CALLER).dial()
    call.press("7")
    call.hangup()

    (voice, voice_fields, voice_headers), (action, action_fields, action_headers), status = answers.sent
    assert voice_fields == call_fields("ringing")
    assert action_fields == {**call_fields("in-progress"), "Digits": "7"}
    order = [
        "CallSid",
        "AccountSid",
        "From",
        "To",
        "Caller",
        "Called",
        "CallStatus",
        "Direction",
        "ApiVersion",
    ]
    assert list(action_fields) == [*order, *geographic(CALLER, LINE, {}), "Digits"]  # as Twilio's
    assert status[1]["CallStatus"] == "completed"
    assert call.transcript.steps[0].fields is not call.transcript.steps[1].fields
    tokens = {h["I-Twilio-Idempotency-Token"] for _, _, h in answers.sent}
    assert len(tokens) == 3 and all(len(t) == 32 and int(t, 16) >= 0 for t in tokens)
    assert call._fields() == call_fields("completed")
    assert len(call.call_sid) == 34 and SimulatedCall(answers, LINE).call_sid.startswith("CA")


def test_status_timestamp_is_the_current_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime
    from email.utils import format_datetime

    from ivr.sim import caller

    now = [datetime(2026, 3, 1, 9, 59, 59, 999_999, tzinfo=UTC)]

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return now[0]

    monkeypatch.setattr(caller, "datetime", Clock)
    stamps = []
    for moment in (
        now[0],
        datetime(2026, 3, 1, 10, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 10, 0, 0, 900_000, tzinfo=UTC),
    ):
        now[0] = moment
        stamps.append(caller._timestamp())
        assert stamps[-1] == format_datetime(moment)
    assert stamps[0] != stamps[1] == stamps[2]


@pytest.mark.parametrize("algorithm", ["HMAC_SHA1", "HMAC_SHA256", "hmac_sha256"])
def test_signatures_are_twilios(algorithm: str) -> None:
    """signing.signature computes what twilio's RequestValidator computes."""
    from ivr.sim.signing import signature

    cases: list[dict[str, str]] = [
        {},
        {"CallSid": SID, "Digits": "1 2&=+%é", "SpeechResult": "¿qué? 😀", "": "", "a": "b"},
        {"Z": "1", "a": "2", "B": "3", "_": "4", "é": "5"},
        call_fields("ringing"),
    ]
    for fields in cases:
        for url in ("http://localhost/voice", "https://x.example/a%20b?q=1&r=é"):
            assert signature(TOKEN, url, fields, algorithm) == RequestValidator(TOKEN).compute_signature(
                url, fields, algorithm
            )


def test_signatures_of_other_fields_and_algorithms_are_twilios_too() -> None:
    from ivr.sim.signing import signature

    with pytest.raises(ValueError, match="Unsupported webhook signature algorithm"):
        signature(TOKEN, LOCAL, {"A": "1"}, "HMAC_MD5")
    with pytest.raises(ValueError, match="Unsupported webhook signature algorithm"):
        RequestValidator(TOKEN).compute_signature(LOCAL, {"A": "1"}, "HMAC_MD5")
    with pytest.raises(TypeError):
        signature(TOKEN, LOCAL, {"A": 1})  # type: ignore[dict-item]


def test_overrides_take_the_place_of_the_fields_they_change() -> None:
    """The constant fields are shared between calls between the same numbers; a call's
    overrides still change them in place (CallSid first), and only for that call."""
    overrides = {"call_sid": "CA" + "9" * 32, "from_city": "Springfield", "Direction": "outbound-api"}
    changed = SimulatedCall(_Answers(), LINE, call_sid=SID, caller=CALLER, fields=overrides)
    plain = SimulatedCall(_Answers(), LINE, call_sid=SID, caller=CALLER)
    expected = {
        **call_fields("ringing"),
        "CallSid": "CA" + "9" * 32,
        "FromCity": "Springfield",
        "CallerCity": "Springfield",
        "Direction": "outbound-api",
    }
    for _ in range(2):
        assert changed._fields() == expected
        assert list(changed._fields())[:2] == ["CallSid", "AccountSid"]
        assert plain._fields() == call_fields("ringing")
    changed.to = "+442071234567"  # changed after the call was set up: built again
    assert changed._fields()["ToCountry"] == "GB"
