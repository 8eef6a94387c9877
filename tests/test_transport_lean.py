"""The lean WsgiTransport sends what werkzeug's test client sends, and reads answers the same way.

WsgiTransport builds the WSGI environ itself (ivr.sim.wsgi); WerkzeugTransport goes through
werkzeug's Client, as WsgiTransport did before. Both are compared on the same requests: the
raw environ (keys, order, values, body), what a Flask app sees of it (method, path, query,
form, headers, cookies), the reply the caller gets, and whole simulated calls to our app.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, request

from ivr.sim import SimulatedCall, Step, WsgiTransport
from ivr.sim.signing import Signer
from ivr.sim.transport import HttpReply, Transport
from ivr.sim.wsgi import WerkzeugTransport

from .phone import MAIN

Request = tuple[str, str, dict[str, str], dict[str, str]]

_TWILIO_HEADERS = {"I-Twilio-Idempotency-Token": "0f" * 16, "User-Agent": "TwilioProxy/1.1"}
_FIELDS = {
    "CallSid": "CA" + "1" * 32,
    "From": "+15005550006",
    "Digits": "1 2&=+%é",
    "SpeechResult": "my member ID is 52058, please!",
    "ErrorUrl": "http://localhost/voice?x=1;y=(2)*~'",
    "Empty": "",
}
REQUESTS: list[tuple[str, Request]] = [
    ("post-form", ("POST", "http://localhost/voice/input?step=3", _FIELDS, _TWILIO_HEADERS)),
    (
        "post-cookie-signed",
        (
            "POST",
            "http://localhost/voice",
            {"CallSid": "CA" + "2" * 32, "CallStatus": "ringing"},
            {**_TWILIO_HEADERS, "Cookie": "session=abc; lang=es", "X-Twilio-Signature": "c2ln+/="},
        ),
    ),
    (
        "get-query",
        ("GET", "http://localhost/voice/hold", {"CallSid": "CA3", "To": "+1 800"}, _TWILIO_HEADERS),
    ),
    ("get-query-in-url", ("GET", "http://localhost/wait?lang=es&n=%2F2", {"QueueTime": "30"}, {})),
    ("https-port", ("POST", "https://ivr.example.org:8443/voice/status", {"CallStatus": "completed"}, {})),
    ("escaped-path", ("POST", "http://localhost/voice/a%20b%C3%A9/c", {"A": "1"}, _TWILIO_HEADERS)),
    ("no-path", ("POST", "http://localhost", {"A": "1"}, {})),
    ("post-no-fields", ("POST", "http://localhost/voice/input", {}, _TWILIO_HEADERS)),
    ("same-header-twice", ("POST", "http://localhost/voice", {"A": "1"}, {"X-A": "1", "x-a": "2"})),
    ("fragment", ("POST", "http://localhost/voice#top", {"A": "1"}, {})),
    # Sent through werkzeug itself (the lean environ is not built for these):
    ("non-ascii-path", ("POST", "http://localhost/vóz?q=ü", {"A": "1"}, {})),
    ("upper-case-host", ("POST", "http://LocalHost:5000/voice", {"A": "1"}, {})),
    ("content-type-header", ("POST", "http://localhost/voice", {"A": "1"}, {"Content-Type": "text/plain"})),
]
_IDS = [name for name, _ in REQUESTS]


def _recorder(
    seen: list[dict[str, Any]], answer: Callable[[Callable[..., Any]], Iterable[bytes]] | None = None
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app that keeps a copy of each environ (the body read out) and answers plainly."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        copy = dict(environ)
        copy["wsgi.input"] = environ["wsgi.input"].read()
        copy.pop("werkzeug.request", None)  # the test client's own Request object, not the request
        seen.append(copy)
        if answer is not None:
            return answer(start_response)
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<Response/>"]

    return app


def _send(transport: Transport, sent: Request) -> HttpReply:
    method, url, fields, headers = sent
    return transport.request(method, url, fields, headers)


@pytest.mark.parametrize("sent", [r for _, r in REQUESTS], ids=_IDS)
def test_the_app_gets_the_environ_werkzeug_builds(sent: Request) -> None:
    lean: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    _send(WsgiTransport(_recorder(lean)), sent)
    _send(WerkzeugTransport(_recorder(reference)), sent)
    assert list(lean[0]) == list(reference[0])  # the same keys in the same order
    assert lean[0] == reference[0]
    assert lean[0]["wsgi.errors"] is sys.stderr


def test_the_form_body_is_encoded_as_werkzeug_encodes_it() -> None:
    seen: list[dict[str, Any]] = []
    _send(WsgiTransport(_recorder(seen)), REQUESTS[0][1])
    body = seen[0]["wsgi.input"]
    # werkzeug leaves the WHATWG-safe characters as they are (":", "/", ";", "(", ")", "*", "'").
    assert b"ErrorUrl=http://localhost/voice%3Fx%3D1;y%3D(2)*~'" not in body
    assert b"ErrorUrl=http://localhost/voice?x%3D1;y%3D(2)*~'" in body
    assert b"Digits=1+2%26%3D%2B%25%C3%A9" in body
    assert seen[0]["CONTENT_LENGTH"] == str(len(body))


def test_the_encoded_fields_of_one_request_do_not_leak_into_the_next() -> None:
    seen: list[dict[str, Any]] = []
    transport = WsgiTransport(_recorder(seen))
    transport.request("POST", "http://localhost/voice", {"Digits": "1", "CallSid": "CA1"}, {})
    transport.request("POST", "http://localhost/voice", {"Digits": "2", "CallSid": "CA1"}, {})
    assert [e["wsgi.input"] for e in seen] == [b"Digits=1&CallSid=CA1", b"Digits=2&CallSid=CA1"]


@pytest.mark.parametrize("sent", [r for _, r in REQUESTS], ids=_IDS)
def test_a_request_sent_again_gets_the_same_environ(sent: Request) -> None:
    """The second time every field is already encoded (the fields kept): the same body."""
    lean: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    transport = WsgiTransport(_recorder(lean))
    for _ in range(2):
        _send(transport, sent)
        _send(WerkzeugTransport(_recorder(reference)), sent)
    assert lean == reference
    assert lean[0] == lean[1]


def test_fields_not_seen_yet_among_fields_seen_keep_their_order() -> None:
    seen: list[dict[str, Any]] = []
    transport = WsgiTransport(_recorder(seen))
    transport.request("POST", "http://localhost/voice", {"A": "1", "B": "2"}, {})
    transport.request("POST", "http://localhost/voice", {"A": "1", "New": "x y", "B": "2"}, {})
    transport.request("POST", "http://localhost/voice", {"A": "1", "Odd": 3, "B": "2"}, {})  # type: ignore[dict-item]
    assert [e["wsgi.input"] for e in seen] == [b"A=1&B=2", b"A=1&New=x+y&B=2", b"A=1&Odd=3&B=2"]


def test_status_codes_of_status_lines() -> None:
    from ivr.sim.wsgi import _status_code

    assert [_status_code(s) for s in ("200 OK", "200 OK", " 404 NOT FOUND", "x", "")] == [200, 200, 404, 0, 0]


def _echo_app() -> Flask:
    """A Flask app that answers with what it saw of the request."""
    app = Flask(__name__)

    @app.route("/", defaults={"rest": ""}, methods=["GET", "POST"])
    @app.route("/<path:rest>", methods=["GET", "POST"])
    def echo(rest: str) -> Any:
        return jsonify(
            method=request.method,
            url=request.url,
            path=request.path,
            full_path=request.full_path,
            args=list(request.args.items(multi=True)),
            form=list(request.form.items(multi=True)),
            headers=list(request.headers.items()),
            cookies=sorted(request.cookies.items()),
            host=request.host,
            scheme=request.scheme,
            remote_addr=request.remote_addr,
        )

    return app


@pytest.mark.parametrize("sent", [r for _, r in REQUESTS], ids=_IDS)
def test_a_flask_app_sees_the_same_request(sent: Request) -> None:
    app = _echo_app()
    lean, reference = _send(WsgiTransport(app), sent), _send(WerkzeugTransport(app), sent)
    assert lean == reference
    assert lean.status == 200


def test_a_flask_app_sees_the_fields_cookies_and_signature() -> None:
    """Not only the same as werkzeug: what the caller sent, field by field."""
    reply = _send(WsgiTransport(_echo_app()), REQUESTS[1][1])
    seen = json.loads(reply.body)
    assert seen["form"] == [["CallSid", "CA" + "2" * 32], ["CallStatus", "ringing"]]
    assert seen["cookies"] == [["lang", "es"], ["session", "abc"]]
    assert ["X-Twilio-Signature", "c2ln+/="] in seen["headers"]
    assert seen["url"] == "http://localhost/voice"


def _answer(status: str, headers: list[tuple[str, str]], chunks: list[bytes], written: bytes = b"") -> Any:
    def answer(start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response(status, headers)
        if written:
            write(written)
        return chunks

    return answer


ANSWERS = {
    "xml": _answer("200 OK", [("Content-Type", "text/xml; charset=utf-8")], [b"<Response>", b"</Response>"]),
    "no-content-type": _answer("200 OK", [], [b"<Response/>"]),
    "cookies": _answer(
        "200 OK",
        [
            ("Content-Type", "text/xml"),
            ("Set-Cookie", "a=1; Path=/"),
            ("set-cookie", "b=2"),
            ("X-IVR-State", "s"),
        ],
        [b"<Response/>"],
    ),
    "redirect": _answer("302 FOUND", [("Location", "/voice/other")], []),
    "error": _answer("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html")], [b"<p>boom</p>"]),
    "write-callable": _answer("200 OK", [("Content-Type", "text/xml")], [b"</Response>"], b"<Response>"),
    "unicode": _answer("200 OK", [("Content-Type", "text/xml")], ["<Say>Olá</Say>".encode()]),
}


@pytest.mark.parametrize("answer", list(ANSWERS.values()), ids=list(ANSWERS))
def test_the_reply_is_read_as_werkzeug_reads_it(answer: Any) -> None:
    sent = REQUESTS[0][1]
    lean = _send(WsgiTransport(_recorder([], answer)), sent)
    reference = _send(WerkzeugTransport(_recorder([], answer)), sent)
    assert lean == reference


def test_the_app_iterable_is_closed() -> None:
    closed: list[bool] = []

    class Body(list[bytes]):
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/xml")])
        return Body([b"<Response/>"])

    assert WsgiTransport(app).request("POST", "http://localhost/voice", {"A": "1"}, {}).body == "<Response/>"
    assert closed == [True]


def test_a_header_with_a_line_break_is_refused_as_werkzeug_refuses_it() -> None:
    for transport in (WsgiTransport(_recorder([])), WerkzeugTransport(_recorder([]))):
        with pytest.raises(ValueError, match="newline"):
            transport.request("POST", "http://localhost/voice", {"A": "1"}, {"X-Bad": "a\r\nInjected: 1"})


def _steps(
    transport_of: Callable[[Any], Transport], app: Flask, sid: str, **options: Any
) -> list[tuple[Any, ...]]:
    call = SimulatedCall(transport_of(app), MAIN, call_sid=sid, **options).dial()
    for keys in ("2", "1", "9", "3"):
        if call.waiting:
            call.press(keys)
    call.hangup()
    return [_seen(step) for step in call.transcript.steps]


def _seen(step: Step) -> tuple[Any, ...]:
    fields: Mapping[str, str] = {k: v for k, v in step.fields.items() if k != "Timestamp"}
    return (step.kind, step.method, step.url, fields, step.status, step.twiml, step.state, step.trigger)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_whole_call_goes_the_same_way_over_both_transports(
    make_app: Callable[..., Flask], tmp_path: Path, signed: bool
) -> None:
    token = "lean-transport-token"
    config: dict[str, Any] = {"TWILIO_AUTH_TOKEN": token} if signed else {}
    options: dict[str, Any] = {"signer": Signer(token)} if signed else {}
    runs = []
    # An app each (a database each): the app remembers a caller's failed attempts across calls.
    for transport_of, name in ((WsgiTransport, "lean"), (WerkzeugTransport, "werkzeug")):
        app = make_app(DATABASE=str(tmp_path / f"{name}.sqlite3"), **config)
        try:
            runs.append(_steps(transport_of, app, "CA" + "a" * 32, **options))
        finally:
            app.extensions["ivr"].store.close()
    lean, reference = runs
    assert len(lean) > 3
    assert all(step[4] in (200, 204) for step in lean)  # signed: no 403, the signature held
    assert lean == reference
