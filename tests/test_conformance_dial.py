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


@pytest.mark.parametrize("noun", ["Number", "Client", "Sip"])
def test_a_noun_status_callback_gets_the_dialled_legs_events(place: Place, noun: str) -> None:
    """<Number statusCallbackEvent>: "The call moves from initiated to ringing when the phone
    starts ringing. It moves from ringing to answered when the phone call is answered. Finally,
    it moves from answered to completed when the call is terminated." statusCallback: "Twilio
    will make a request to the statusCallback URL" for each event, about the dialled (child)
    call: its CallSid, ParentCallSid and CallStatus. <Client> and <Sip> take the same attributes."""
    text = {"Number": "+15551230000", "Client": "alice", "Sip": "sip:alice@example.com"}[noun]
    served = app(
        root=f'<Dial action="/after"><{noun} statusCallback="/leg" statusCallbackMethod="GET" '
        f'statusCallbackEvent="initiated ringing answered completed">{text}</{noun}></Dial>',
        after=AFTER,
    )
    served.pages["/leg"] = lambda _: ""
    call = place(served).dial()

    sent = forms(served, "/leg")
    assert [s["CallStatus"] for s in sent] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(seen.method == "GET" for seen in served.to("/leg"))
    dial_sid = forms(served, "/after")[0]["DialCallSid"]
    assert {s["CallSid"] for s in sent} == {dial_sid} and dial_sid != call.call_sid
    assert {s["ParentCallSid"] for s in sent} == {call.call_sid}
    assert [s["SequenceNumber"] for s in sent] == ["0", "1", "2", "3"]
    assert sent[-1]["CallDuration"] == "5" and sent[0]["To"] == text
    (leg,) = call.transcript.legs
    assert (leg.sid, leg.status, leg.duration) == (dial_sid, "completed", 5)


@pytest.mark.parametrize(
    ("far", "statuses"),
    [
        pytest.param(FarEnd("busy"), ["initiated", "busy"], id="busy"),
        pytest.param(FarEnd("no-answer"), ["initiated", "ringing", "no-answer"], id="no-answer"),
        pytest.param(FarEnd(ring=20, caller_hangs_up=3), ["initiated", "ringing", "canceled"], id="canceled"),
    ],
)
def test_a_leg_that_is_not_answered_completes_with_its_status(
    place: Place, far: FarEnd, statuses: list[str]
) -> None:
    """ "The status will be set to completed through the following reasons: busy, canceled,
    completed, failed, or no-answer": the completed event's CallStatus says which."""
    served = app(
        root='<Dial><Number statusCallback="/leg" statusCallbackEvent="initiated ringing answered '
        f'completed">+15551230000</Number></Dial>{AFTER}',
        leg="",
    )
    place(served, switch=Switch(park=False, default=far)).dial()

    assert [s["CallStatus"] for s in forms(served, "/leg")] == statuses


def test_a_noun_status_callback_defaults_to_the_completed_event(place: Place) -> None:
    """statusCallbackEvent: default "completed"; statusCallbackMethod: default POST."""
    served = app(root=f'<Dial><Number statusCallback="/leg">+15551230000</Number></Dial>{AFTER}', leg="")
    place(served).dial()

    (seen,) = served.to("/leg")
    assert (seen.method, seen.form["CallStatus"]) == ("POST", "completed")


def test_parallel_nouns_each_get_their_own_leg(place: Place) -> None:
    """ "The first call to pick up is connected to the current call and the rest are hung up":
    each noun's statusCallback hears of its own leg (the simulator's first noun answers)."""
    served = app(
        root='<Dial><Number statusCallback="/one">+15551230000</Number>'
        f'<Client statusCallback="/two">alice</Client></Dial>{AFTER}',
        one="",
        two="",
    )
    call = place(served).dial()

    (one,), (two,) = forms(served, "/one"), forms(served, "/two")
    assert (one["CallStatus"], two["CallStatus"]) == ("completed", "canceled")
    assert one["CallSid"] != two["CallSid"]
    assert [leg.target for leg in call.transcript.legs] == ["number:+15551230000", "client:alice"]


def test_send_digits_are_sent_to_the_far_end_once_it_answers(place: Place) -> None:
    """<Number sendDigits>: "Play DTMF tones when the call is answered. This is useful when
    dialing a phone number and an extension." The caller does not hear them: the dialled leg
    records them (transcript.legs, and the rendered transcript)."""
    served = app(root=f'<Dial><Number sendDigits="wwww1928">+15551230000</Number></Dial>{AFTER}')
    call = place(served).dial()

    (leg,) = call.transcript.legs
    assert leg.digits_sent == "wwww1928"
    assert "sent digits wwww1928" in call.transcript.render()
    assert call.heard == "Thanks for calling."


def test_send_digits_are_not_sent_when_nobody_answers(place: Place) -> None:
    """The tones are played "when the call is answered": a busy far end gets none."""
    served = app(root=f'<Dial><Number sendDigits="1928">+15551230000</Number></Dial>{AFTER}')
    call = place(served, switch=Switch(park=False, default=FarEnd("busy"))).dial()

    assert call.transcript.legs[0].digits_sent is None


def test_sip_username_and_password_are_accepted(place: Place) -> None:
    """<Sip username password>: credentials for the SIP endpoint's authentication; the simulator
    accepts them (there is no SIP endpoint to authenticate to) and dials as usual."""
    served = app(
        root='<Dial action="/after"><Sip username="admin" password="1234">sip:alice@example.com</Sip></Dial>',
        after=AFTER,
    )
    call = place(served).dial()

    assert forms(served, "/after")[0]["DialCallStatus"] == "completed"
    assert call.heard == "Thanks for calling."
