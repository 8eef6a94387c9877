"""How Twilio starts a call: the number's voice URL and method, status callbacks, request fields.

Each test pins one documented behaviour; the docstring quotes the Twilio documentation.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ivr.commands.target import Target, open_target, target_options
from ivr.sim import Outcome
from ivr.sim.number import split_voice_url

from .conformance import Place, place
from .conformance_apps import app, doc

__all__ = ["place"]

HELLO = doc("<Say>Hello.</Say>")


def test_get_voice_url_sends_the_fields_in_the_query(place: Place) -> None:
    """ "Twilio makes its request over HTTP, either as a GET or POST"; "Twilio cannot cache POSTs.
    If you want Twilio to cache static TwiML pages, then have Twilio make requests to your
    application using GET." A GET webhook carries Twilio's parameters in the query string."""
    served = app({"/ivr/welcome": HELLO})
    call = place(served, voice_url="/ivr/welcome", voice_method="GET").dial()

    (seen,) = served.to("/ivr/welcome")
    assert seen.method == "GET"
    assert seen.args["CallSid"] == call.call_sid
    assert seen.args["CallStatus"] == "ringing"
    assert seen.form == {}
    assert call.heard == "Hello."


@pytest.mark.parametrize(
    ("url", "base", "path"),
    [
        pytest.param("http://host:5000/ivr/welcome", "http://host:5000", "/ivr/welcome", id="path"),
        pytest.param("http://host/ivr/in?line=2", "http://host", "/ivr/in?line=2", id="path-and-query"),
        pytest.param("http://host:5000", "http://host:5000", None, id="bare-host"),
        pytest.param("http://host:5000/", "http://host:5000", None, id="slash"),
    ],
)
def test_console_voice_url_is_requested_as_it_is(url: str, base: str, path: str | None) -> None:
    """ "When someone makes a call to one of your Twilio numbers, Twilio looks up the URL
    associated with that phone number and sends it a request." A --url with a path is that
    URL; a bare host keeps meaning this app (its /voice)."""
    assert split_voice_url(url) == (base, path)


def test_cli_url_with_a_path_becomes_the_voice_url() -> None:
    """ "Twilio looks up the URL associated with that phone number and sends it a request":
    `--url http://host/ivr/welcome --voice-method GET` is that URL and method."""
    import click

    seen: list[Target] = []

    @click.command()
    @target_options
    def probe(url: str | None, app_spec: str, database: str | None) -> None:
        seen.append(open_target(url, app_spec, database))

    result = CliRunner().invoke(
        probe,
        ["--url", "http://127.0.0.1:9/ivr/welcome", "--voice-method", "get", "--field", "from_state=CA"],
    )

    assert result.exit_code == 0, result.output
    (target,) = seen
    assert target.base_url == "http://127.0.0.1:9"
    assert target.call_options() == {
        "voice_url": "/ivr/welcome",
        "status_callback": None,
        "voice_method": "GET",
        "fields": {"FromState": "CA"},
    }


@pytest.mark.parametrize(
    ("events", "statuses"),
    [
        pytest.param(("completed",), ["completed"], id="default-completed-only"),
        pytest.param(
            ("initiated", "ringing", "answered", "completed"),
            ["initiated", "ringing", "in-progress", "completed"],
            id="all-events",
        ),
        pytest.param(("answered",), ["in-progress"], id="answered-only"),
    ],
)
def test_status_callback_sends_only_the_configured_events(
    place: Place, events: tuple[str, ...], statuses: list[str]
) -> None:
    """StatusCallbackEvent takes "initiated ringing answered completed"; "If no event is
    specified, we send the completed status." Each callback carries the CallStatus its event
    implies, a SequenceNumber, a Timestamp and "CallbackSource ... call-progress-events"."""
    served = app({"/": HELLO})
    place(served, status_callback_events=events).dial()

    callbacks = served.to("/status")
    assert [c.form["CallStatus"] for c in callbacks] == statuses
    assert [c.form["SequenceNumber"] for c in callbacks] == [str(i) for i in range(len(statuses))]
    assert {c.form["CallbackSource"] for c in callbacks} == {"call-progress-events"}
    assert all(c.form["Timestamp"].endswith("+0000") for c in callbacks)
    assert ("CallDuration" in callbacks[-1].form) == (events[-1] == "completed")


def test_status_callback_method_get(place: Place) -> None:
    """ "StatusCallbackMethod: The HTTP method we should use when calling the status_callback
    URL ... GET or POST." With GET the fields are in the query."""
    served = app({"/": HELLO})
    place(served, status_callback_method="GET").dial()

    (callback,) = served.to("/status")
    assert callback.method == "GET"
    assert callback.args["CallStatus"] == "completed"


def test_request_fields_include_geographic_data_derived_from_the_numbers(place: Place) -> None:
    """Twilio's request includes "FromCity, FromState, FromZip, FromCountry, ToCity, ToState,
    ToZip, ToCountry" ("Twilio also attempts to look up geographic data based on the 'To' and
    'From' phone numbers"). For +1 numbers the country is US; the rest is configured."""
    served = app({"/": HELLO})
    place(served, fields={"from_state": "CA", "FromCity": "OAKLAND", "caller_name": "Ada"}).dial()

    form = served.to("/")[0].form
    assert (form["FromCountry"], form["ToCountry"]) == ("US", "US")
    assert (form["FromState"], form["CallerState"]) == ("CA", "CA")
    assert (form["FromCity"], form["CallerCity"]) == ("OAKLAND", "OAKLAND")
    assert (form["ToCity"], form["CalledCity"], form["FromZip"]) == ("", "", "")
    assert form["CallerName"] == "Ada"
    assert {"CallSid", "AccountSid", "From", "To", "CallStatus", "ApiVersion", "Direction"} <= form.keys()


def test_a_call_without_input_completes(place: Place) -> None:
    """Out of verbs, the call ends: "If there is no further verb, Twilio will end the phone call"
    (the Dial reference says it of the verbs after a <Dial>; the simulator does it everywhere)."""
    call = place(app({"/": HELLO})).dial()
    assert call.outcome == Outcome("completed")
