"""HTTP as Twilio speaks it: redirects from a webhook, and cookies kept for one call."""

from __future__ import annotations

import pytest
from flask import Request, Response

from ivr.sim import Outcome, WsgiTransport

from .conformance import Place, place
from .conformance_apps import app, doc, reply

__all__ = ["place"]

LANDED = doc("<Say>Landed.</Say>")


@pytest.mark.parametrize("status", [301, 302, 303, 307])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_followed_redirects_keep_the_method_and_the_calls_fields(
    place: Place, status: int, method: str
) -> None:
    """11216: "Twilio will only follow redirects for status codes 301, 302, 303, and 307." The
    new URL is requested with the call's parameters (and signed for the new URL)."""
    served = app({"/": reply("", status, Location="/moved"), "/moved": LANDED})
    call = place(served, voice_method=method, auth_token="tok").dial()

    (moved,) = served.to("/moved")
    assert moved.method == method
    sent = moved.args if method == "GET" else moved.form
    assert sent["CallSid"] == call.call_sid
    assert "X-Twilio-Signature" in moved.headers
    assert call.heard == "Landed."
    assert [s.status for s in call.transcript.steps[:2]] == [status, 200]


@pytest.mark.parametrize("status", [308, 300])
def test_other_3xx_is_an_invalid_redirect(place: Place, status: int) -> None:
    """11216 "HTTP invalid redirect": "Your server responded with an non-redirect HTTP status
    code in the 3xx series.\""""
    served = app({"/": reply("", status, Location="/moved"), "/moved": LANDED})
    call = place(served).dial()

    assert served.to("/moved") == []
    assert call.outcome is not None and call.outcome.code == "11216"


def test_redirect_loops_stop_with_too_many_redirects(place: Place) -> None:
    """11215 "HTTP too many redirects": a bounded number of hops."""
    served = app({"/": reply("", 302, Location="/")})
    call = place(served).dial()

    assert call.outcome is not None and call.outcome.code == "11215"


def _counter(request: Request) -> Response:
    seen = int(request.cookies.get("visits", "0"))
    body = doc(f'<Gather action="/" numDigits="1"><Say>Visit {seen}.</Say></Gather>')
    response = Response(body, mimetype="text/xml")
    response.set_cookie("visits", str(seen + 1))
    return response


def test_cookies_are_kept_within_a_call_and_not_across_calls(place: Place) -> None:
    """Cookies: Twilio documents them for SMS webhooks ("In web apps, you write a cookie to keep
    'statefulness' between separate requests"; the help article on Twilio cookies adds "this
    behaviour applies to SMS Webhooks for incoming messages and may not reflect the behaviour of
    Webhooks associated with other Twilio Products"). For a call the simulator keeps them for
    that call only: sent back on its next requests, never on another call's."""
    served = app({"/": _counter})
    transport = WsgiTransport(served)
    first = place(served).dial()
    first.press("1")
    assert first.heard == "Visit 1."
    first.hangup()

    second = place(served).dial()
    assert second.heard == "Visit 0."
    assert "Cookie" not in served.seen[-1].headers
    del transport


def test_cookies_ride_along_with_redirects_and_expire(place: Place) -> None:
    """A cookie deleted by the app (Max-Age=0) is not sent again in the same call."""

    def setter(request: Request) -> Response:
        response = Response(doc('<Redirect method="POST">/clear</Redirect>'), mimetype="text/xml")
        response.set_cookie("session", "abc")
        return response

    def clearer(request: Request) -> Response:
        response = Response(doc('<Redirect method="POST">/show</Redirect>'), mimetype="text/xml")
        assert request.cookies.get("session") == "abc"
        response.delete_cookie("session")
        return response

    def show(request: Request) -> Response:
        return Response(doc(f"<Say>{request.cookies.get('session', 'none')}</Say>"), mimetype="text/xml")

    call = place(app({"/": setter, "/clear": clearer, "/show": show})).dial()
    assert call.heard == "none"
    assert call.outcome == Outcome("completed")
