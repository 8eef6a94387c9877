"""Failures as Twilio handles them: the fallback URL with ErrorCode and ErrorUrl, else Twilio's
application-error message, each failure reported with Twilio's error code."""

from __future__ import annotations

import pytest

from ivr.sim import HttpTransport, Outcome, SimulatedCall
from ivr.sim.transport import TWILIO_TIMEOUT
from ivr.sim.twilio_errors import APPLICATION_ERROR_MESSAGE

from .conformance import LINE, Place, place
from .conformance_apps import app, doc, reply, slow
from .servers import free_port, served
from .twiml_apps import Page

__all__ = ["place"]

RECOVERED = doc("<Say>Recovered.</Say><Hangup/>")


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        pytest.param(reply("down", 500, "text/plain"), "11200", id="http-500"),
        pytest.param(reply("<Response><Say>Hi.</Response>"), "12100", id="bad-xml"),
        pytest.param(reply('{"say": "hi"}', mimetype="application/json"), "12300", id="wrong-content-type"),
        pytest.param(reply(doc('<Say loop="x">Hi.</Say>')), "13510", id="say-invalid-loop"),
    ],
)
def test_failure_requests_the_fallback_url_with_error_code_and_url(
    place: Place, answer: Page, code: str
) -> None:
    """ "If Twilio is unable to retrieve or execute TwiML from your web server, a request is
    immediately made to the number's Fallback URL. Twilio will submit the ErrorCode and
    ErrorUrl parameters, indicating the error code of the failure and what URL the failure
    occurred on.\""""
    served = app({"/": answer, "/fallback": RECOVERED})
    call = place(served, fallback_url="/fallback").dial()

    (fallback,) = served.to("/fallback")
    assert fallback.form["ErrorCode"] == code
    assert fallback.form["ErrorUrl"].endswith("/")
    assert call.transcript.steps[0].code == code
    assert call.heard == "Recovered."
    assert call.outcome == Outcome("hangup")


def test_fallback_method_get(place: Place) -> None:
    """The number's "Primary handler fails" setting has a URL and an HTTP method: with GET the
    ErrorCode and ErrorUrl come in the query."""
    served = app({"/": reply("down", 500), "/fallback": RECOVERED})
    place(served, fallback_url="/fallback", fallback_method="GET").dial()

    (fallback,) = served.to("/fallback")
    assert (fallback.method, fallback.args["ErrorCode"]) == ("GET", "11200")


def test_no_fallback_plays_the_application_error_message_and_ends(place: Place) -> None:
    """ "If Twilio does not receive a valid response from your webhooks - either your fallback
    URL if you have one specified, or your primary URL if you haven't - an error is logged and a
    pre-recorded message is played back to the caller explaining that an error has occurred."
    The call ends as failed, with the code in the transcript (the message's words are the
    simulator's: Twilio does not publish them)."""
    served = app({"/": reply("down", 503)})
    call = place(served).dial()

    assert call.heard == APPLICATION_ERROR_MESSAGE
    assert call.outcome == Outcome("error", detail=call.transcript.steps[0].error)
    assert call.outcome is not None and call.outcome.code == "11200"
    assert "error: 11200 HTTP retrieval failure" in call.transcript.render()
    assert served.to("/status")[0].form["CallStatus"] == "failed"


def test_http_timeout_is_twilios_15_seconds_by_default() -> None:
    """ "Twilio will wait for a total of 15 seconds to receive an HTTP response" (error 11205)."""
    assert TWILIO_TIMEOUT == 15.0
    assert HttpTransport().timeout == 15.0


def test_a_timeout_requests_the_fallback_with_11205() -> None:
    """ "If either of those timers expire, we fail the request, fire a notification, and try
    your fallback URL, if one is specified." (A short timeout here; the default is 15 s.)"""
    fallback = doc("<Say>Too slow.</Say>")
    with served(slow(1.0, fallback)) as base:
        call = SimulatedCall(
            HttpTransport(timeout=0.2),
            LINE,
            base_url=base,
            voice_url="/slow",
            fallback_url="/fallback",
            status_callback=None,
        ).dial()

    assert call.transcript.steps[0].code == "11205"
    assert call.transcript.steps[1].fields["ErrorCode"] == "11205"
    assert call.heard == "Too slow."


def test_unreachable_host_is_an_http_connection_failure() -> None:
    """11205 "HTTP connection failure: There was a network failure attempting to connect to
    this URL.\""""
    call = SimulatedCall(
        HttpTransport(timeout=2), LINE, base_url=f"http://127.0.0.1:{free_port()}", status_callback=None
    ).dial()

    assert call.outcome is not None and call.outcome.code == "11205"
    assert call.heard == APPLICATION_ERROR_MESSAGE


def test_bad_host_name_is_11210() -> None:
    """11210 "HTTP bad host name": the host of the URL does not resolve."""
    call = SimulatedCall(
        HttpTransport(timeout=2), LINE, base_url="http://no-such-host.invalid", status_callback=None
    ).dial()

    assert call.outcome is not None and call.outcome.code == "11210"
