"""<Dial> as Twilio's reference describes it (twilio.com/docs/voice/twiml/dial), one app per rule."""

from __future__ import annotations

import pytest

from ivr.sim import Outcome
from ivr.sim.switch import FarEnd, Switch
from tests.conformance import Place, app, forms, place

__all__ = ["place"]

AFTER = "<Say>Thanks for calling.</Say>"


def test_the_action_is_requested_when_the_dialled_call_ends(place: Place) -> None:
    """ "Twilio will make a GET or POST request to the action URL (if provided) when the <Dial>
    call ends. Call flow will then continue, using the TwiML you send in response to that
    request." The default far end rings 2 s, answers and talks 5 s (ivr.sim.switch)."""
    served = app(root='<Dial action="/after">+15551230000</Dial><Say>Skipped.</Say>', after=AFTER)
    call = place(served).dial()

    (sent,) = forms(served, "/after")
    assert (sent["DialCallStatus"], sent["DialCallDuration"]) == ("completed", "5")
    assert sent["DialCallSid"].startswith("CA") and sent["DialCallSid"] != call.call_sid
    assert call.heard == "Thanks for calling."  # the action's TwiML, not the verb after <Dial>
    assert call.clock == pytest.approx(2 + 5 + 3 / 2.5)


def test_without_an_action_the_next_verb_runs(place: Place) -> None:
    """ "If you do not provide an action URL in your <Dial> and the original caller is still on
    the line, Twilio will continue to render the original TwiML document.\""""
    served = app(root=f"<Dial>+15551230000</Dial>{AFTER}")
    call = place(served).dial()

    assert call.heard == "Thanks for calling."
    assert call.outcome == Outcome("completed")


@pytest.mark.parametrize(
    ("far", "status", "duration"),
    [
        pytest.param(FarEnd(talk=12), "completed", "12", id="answered"),
        pytest.param(FarEnd("busy"), "busy", "0", id="busy"),
        pytest.param(FarEnd("no-answer"), "no-answer", "0", id="no-answer"),
        pytest.param(FarEnd("failed"), "failed", "0", id="failed"),
    ],
)
def test_dial_call_status_says_what_the_far_end_did(
    place: Place, far: FarEnd, status: str, duration: str
) -> None:
    """ "The <Dial> verb will end the new call if: The called party does not pick up. Twilio
    receives a busy signal. The number does not exist." DialCallStatus on the action says which."""
    served = app(root='<Dial action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False)
    switch.far_end("+15551230000", far)
    place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert (sent["DialCallStatus"], sent["DialCallDuration"]) == (status, duration)


def test_a_caller_who_hangs_up_while_it_rings_cancels_the_dial(place: Place) -> None:
    """The caller gives up while the far end rings: DialCallStatus canceled; the action is
    requested but the caller is gone, so its TwiML is not run."""
    served = app(root='<Dial action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False, default=FarEnd(ring=20, caller_hangs_up=4))
    call = place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert sent["DialCallStatus"] == "canceled"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"
    assert call.heard == ""


def test_timeout_gives_up_on_a_far_end_that_rings_too_long(place: Place) -> None:
    """timeout: how long <Dial> waits for the called party to answer; a far end still ringing
    then is a no-answer."""
    served = app(root='<Dial timeout="5" action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False, default=FarEnd(ring=10))
    call = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallStatus"] == "no-answer"
    assert call.transcript.steps[-2].at == pytest.approx(5.0)  # the action, 5 s in


def test_time_limit_cuts_the_dialled_call(place: Place) -> None:
    """timeLimit: the maximum duration of the <Dial> in seconds."""
    served = app(root='<Dial timeLimit="10" action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False, default=FarEnd(talk=60))
    place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallDuration"] == "10"


@pytest.mark.parametrize(
    ("hangup_on_star", "duration"),
    [pytest.param("true", "3", id="hangupOnStar"), pytest.param("false", "30", id="star-ignored")],
)
def test_hangup_on_star_lets_the_caller_end_the_dialled_leg(
    place: Place, hangup_on_star: str, duration: str
) -> None:
    """hangupOnStar: the caller hangs up on the called party by pressing *; the caller stays
    on the line and the action is requested. Without it, * does nothing."""
    served = app(
        root=f'<Dial hangupOnStar="{hangup_on_star}" action="/after">+15551230000</Dial>', after=AFTER
    )
    switch = Switch(park=False, default=FarEnd(talk=30, star_after=3))
    call = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallDuration"] == duration
    assert call.heard == "Thanks for calling."


def test_a_number_url_whisper_runs_on_the_callee_leg(place: Place) -> None:
    """<Number url>: a document run on the called party's end once it answers, before the two
    are connected; the callee hears it, the caller does not."""
    served = app(
        root=f'<Dial><Number url="/whisper">+15551230000</Number></Dial>{AFTER}',
        whisper="<Say>Call from the shop.</Say>",
    )
    call = place(served).dial()

    (sent,) = forms(served, "/whisper")
    assert sent["To"] == "+15551230000" and sent["ParentCallSid"] == call.call_sid
    assert sent["CallSid"] != call.call_sid
    whisper = next(step for step in call.transcript.steps if step.kind == "whisper")
    assert [h.text for h in whisper.heard] == ["Call from the shop."]
    assert call.heard == "Thanks for calling."  # not the whisper


def test_record_puts_the_recording_on_the_action(place: Place) -> None:
    """record="record-from-answer": the action request carries RecordingUrl, RecordingSid and
    RecordingDuration of the dialled call."""
    served = app(root='<Dial record="record-from-answer" action="/after">+15551230000</Dial>', after=AFTER)
    call = place(served).dial()

    (sent,) = forms(served, "/after")
    assert sent["RecordingDuration"] == "5"
    assert sent["RecordingUrl"].endswith("/Recordings/" + sent["RecordingSid"])
    assert call.switch.recording_at(sent["RecordingUrl"]) is not None


def test_a_caller_who_hangs_up_during_the_call_still_gets_the_action_requested(place: Place) -> None:
    """The caller hangs up while talking: the Dial ends, Twilio requests the action (the
    reply is not run: nobody is on the line)."""
    served = app(root='<Dial action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False, default=FarEnd(talk=60, caller_hangs_up=12))
    call = place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert (sent["DialCallStatus"], sent["DialCallDuration"]) == ("completed", "10")
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"


@pytest.mark.parametrize(
    ("noun", "target"),
    [
        pytest.param("<Client>alice</Client>", "client:alice", id="client"),
        pytest.param("<Sip>sip:alice@example.com</Sip>", "sip:sip:alice@example.com", id="sip"),
    ],
)
def test_clients_and_sip_endpoints_are_far_ends_too(place: Place, noun: str, target: str) -> None:
    """<Client> and <Sip> are dialled like numbers; a far end planned for them answers for them."""
    served = app(root=f'<Dial action="/after">{noun}</Dial>', after=AFTER)
    switch = Switch(park=False)
    switch.far_end(target, FarEnd("busy"))
    place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallStatus"] == "busy"
