"""<Dial> as Twilio's reference describes it (twilio.com/docs/voice/twiml/dial), one app per rule."""

from __future__ import annotations

import pytest

from ivr.sim import Outcome, SimulationError
from ivr.sim.switch import FarEnd, Switch
from tests.conformance import Place, app, forms, place

__all__ = ["place"]

AFTER = "<Say>Thanks for calling.</Say>"


def test_the_action_is_requested_when_the_dialled_call_ends(place: Place) -> None:
    """action: "This URL tells Twilio where to make a POST or GET request after the dialed call
    ends"; "If you specify an action URL for <Dial>, Twilio will continue the initial call after
    the dialed party hangs up. Any TwiML verbs included after this <Dial> will be unreachable".
    The default far end rings 2 s, answers and talks 5 s (ivr.sim.switch)."""
    served = app(root='<Dial action="/after">+15551230000</Dial><Say>Skipped.</Say>', after=AFTER)
    call = place(served).dial()

    (sent,) = forms(served, "/after")
    assert (sent["DialCallStatus"], sent["DialCallDuration"]) == ("completed", "5")
    assert sent["DialCallSid"].startswith("CA") and sent["DialCallSid"] != call.call_sid
    assert call.heard == "Thanks for calling."  # the action's TwiML, not the verb after <Dial>
    assert call.clock == pytest.approx(2 + 5 + 3 / 2.5)


def test_without_an_action_the_next_verb_runs(place: Place) -> None:
    """ "If you do not provide an action URL, <Dial> will finish and Twilio will move on to the
    next TwiML verb in the document. If there is no further verb, Twilio will end the phone
    call.\""""
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
    """ "If you specify an action URL, Twilio will always pass along the status of the <Dial>
    attempt": completed ("The called party answered the call and was connected to the caller"),
    busy ("Twilio received a busy signal"), no-answer ("The called party did not pick up before
    the timeout period passed"), failed ("Twilio was unable to route to the given phone number")."""
    served = app(root='<Dial action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False)
    switch.far_end("+15551230000", far)
    place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert (sent["DialCallStatus"], sent["DialCallDuration"]) == (status, duration)


def test_a_caller_who_hangs_up_while_it_rings_cancels_the_dial(place: Place) -> None:
    """The caller gives up while the far end rings. Twilio documents canceled as "The call was
    canceled via the REST API before it was answered" (DialCallStatus), and for the dialled leg
    also when "the caller presses the '*' key on the parent call before the child call is
    answered" (the call-status help article); a caller hanging up while it rings is not spelled
    out, and the simulator reads it the same way: DialCallStatus canceled, the leg canceled. The
    action is requested but the caller is gone, so its TwiML is not run."""
    served = app(root='<Dial action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False, default=FarEnd(ring=20, caller_hangs_up=4))
    call = place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert sent["DialCallStatus"] == "canceled"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"
    assert call.heard == ""


def test_timeout_gives_up_on_a_far_end_that_rings_too_long(place: Place) -> None:
    """timeout: "how long to let the call ring before giving up and setting no-answer as the
    DialCallStatus" (the simulator leaves out the five-second buffer Twilio adds)."""
    served = app(root='<Dial timeout="5" action="/after">+15551230000</Dial>', after=AFTER)
    switch = Switch(park=False, default=FarEnd(ring=10))
    call = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallStatus"] == "no-answer"
    assert call.transcript.steps[-2].at == pytest.approx(5.0)  # the action, 5 s in


def test_time_limit_cuts_the_dialled_call(place: Place) -> None:
    """timeLimit: "The timeLimit attribute sets the maximum duration of the <Dial> in seconds.\""""
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
    """hangupOnStar: "lets the initial caller hang up on the called party by pressing the '*'
    key"; "If an action URL was provided, Twilio submits a DialCallStatus to that URL and
    processes the response." Without it, * does nothing."""
    served = app(
        root=f'<Dial hangupOnStar="{hangup_on_star}" action="/after">+15551230000</Dial>', after=AFTER
    )
    switch = Switch(park=False, default=FarEnd(talk=30, star_after=3))
    call = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallDuration"] == duration
    assert call.heard == "Thanks for calling."


def test_a_number_url_whisper_runs_on_the_callee_leg(place: Place) -> None:
    """<Number url>: "a URL that will return a TwiML response to be run on the called party's
    end, after they answer, but before the parties are connected"; the callee hears it, the
    caller does not."""
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
    """record-from-answer "will start the recording as soon as the call is answered"; the
    action carries "RecordingUrl: The URL of the recorded audio" (and the simulator's
    RecordingSid and RecordingDuration of it)."""
    served = app(root='<Dial record="record-from-answer" action="/after">+15551230000</Dial>', after=AFTER)
    call = place(served).dial()

    (sent,) = forms(served, "/after")
    assert sent["RecordingDuration"] == "5"
    assert sent["RecordingUrl"].endswith("/Recordings/" + sent["RecordingSid"])
    assert call.switch.recording_at(sent["RecordingUrl"]) is not None


def test_a_caller_who_hangs_up_during_the_call_still_gets_the_action_requested(place: Place) -> None:
    """The caller hangs up while talking: the dialled call ends, and "Twilio will make a POST
    or GET request" to the action "after the dialed call ends" (the reply is not run: nobody is
    on the line)."""
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
    """<Number statusCallbackEvent>: "The call transitions from the initiated state to the
    ringing state when the phone starts ringing. It transitions to the answered state when the
    call is picked up, and finally to the completed state when the call is over." statusCallback:
    "a URL for Twilio to send webhook requests to on each event specified in the
    statusCallbackEvent attribute", with "CallSid ... ParentCallSid ... CallStatus" of the child
    call and "SequenceNumber: The order in which the events were fired, starting from 0".
    <Client> and <Sip> take the same attributes."""
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
    """ "The completed event is fired when the call is completed, regardless of the termination
    status: busy, canceled, completed, failed, or no-answer": its CallStatus says which."""
    served = app(
        root='<Dial><Number statusCallback="/leg" statusCallbackEvent="initiated ringing answered '
        f'completed">+15551230000</Number></Dial>{AFTER}',
        leg="",
    )
    place(served, switch=Switch(park=False, default=far)).dial()

    assert [s["CallStatus"] for s in forms(served, "/leg")] == statuses


def test_a_noun_status_callback_defaults_to_the_completed_event(place: Place) -> None:
    """ "If a statusCallback is provided and no statusCallbackEvent events are specified, the
    completed event will be sent by default"; statusCallbackMethod: "The default is POST.\""""
    served = app(root=f'<Dial><Number statusCallback="/leg">+15551230000</Number></Dial>{AFTER}', leg="")
    place(served).dial()

    (seen,) = served.to("/leg")
    assert (seen.method, seen.form["CallStatus"]) == ("POST", "completed")


def test_parallel_nouns_each_get_their_own_leg(place: Place) -> None:
    """ "The first call to pick up is connected to the current call and the rest are hung up":
    each noun's statusCallback hears of its own leg (nouns that ring alike: the first answers)."""
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
    """<Number sendDigits>: "The sendDigits attribute tells Twilio to play DTMF tones when the
    call is answered. This is useful when dialing a phone number and an extension." The caller
    does not hear them: the dialled leg records them (transcript.legs, the rendered transcript)."""
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


@pytest.mark.parametrize(
    ("digits", "seconds"),
    [
        pytest.param("ww1234", 2 * 0.5 + 4 * 0.25, id="w-half-second"),
        pytest.param("W1", 1.0 + 0.25, id="W-full-second"),
    ],
)
def test_send_digits_waits_move_the_clock(place: Place, digits: str, seconds: float) -> None:
    """<Number sendDigits>: "We want to wait before sending the extension, so we add a few
    leading 'w' characters. Each 'w' character tells Twilio to wait 0.5 seconds" (the Number
    reference); error 13222: "lowercase w to "wait" for half a second or uppercase W to "wait"
    for a full second". The tones play on the answered leg, so its duration includes them."""
    served = app(root=f'<Dial action="/after"><Number sendDigits="{digits}">+15551230000</Number></Dial>')
    served.pages["/after"] = lambda _: "<Response><Hangup/></Response>"
    call = place(served).dial()

    action = next(step for step in call.transcript.steps if step.kind == "action")
    assert action.at == pytest.approx(2 + seconds + 5)  # rings 2 s, the tones, talks 5 s
    assert forms(served, "/after")[0]["DialCallDuration"] == str(int(seconds + 5))


def test_dial_bridged_says_whether_the_caller_was_connected(place: Place) -> None:
    """The action's "DialBridged: Boolean indicator of whether or not the dialing call has been
    connected to the dialed destination" (the Dial reference)."""
    served = app(
        root='<Dial action="/after">+15551230000</Dial>', after='<Dial action="/again">+15559990000</Dial>'
    )
    served.pages["/again"] = lambda _: "<Response><Hangup/></Response>"
    switch = Switch(park=False)
    switch.far_end("+15559990000", FarEnd("no-answer"))
    place(served, switch=switch).dial()

    assert [f["DialBridged"] for f in forms(served, "/after") + forms(served, "/again")] == ["true", "false"]


def test_a_plan_for_the_nth_dial_leaves_the_others_in_order(place: Place) -> None:
    """What a far end does can be said for one <Dial> of the call (the 2nd here); the plans
    that name no Dial go, in order, to the Dials no other plan claims."""
    served = app(
        root='<Dial action="/one">+15551230000</Dial>',
        one='<Dial action="/two">+15551230000</Dial>',
        two='<Dial action="/three">+15551230000</Dial>',
        three=AFTER,
    )
    switch = Switch(park=False)
    switch.next_dial(FarEnd(talk=9))
    switch.next_dial(FarEnd(talk=11))
    switch.nth_dial(2, FarEnd("busy"))
    call = place(served, switch=switch).dial()

    sent = [forms(served, path)[0] for path in ("/one", "/two", "/three")]
    assert [(f["DialCallStatus"], f["DialCallDuration"]) for f in sent] == [
        ("completed", "9"),
        ("busy", "0"),
        ("completed", "11"),
    ]
    assert call.dials == 3


def test_in_a_parallel_dial_the_first_to_pick_up_wins(place: Place) -> None:
    """ "You can use up to ten <Number> nouns within a <Dial> verb to simultaneously call all of
    them at once. The first call to pick up is connected to the current call and the rest are
    hung up." Each noun's far end is planned by its target: the client rings 1 s, the number 10."""
    served = app(
        root='<Dial action="/after"><Number statusCallback="/one">+15551230000</Number>'
        '<Client statusCallback="/two">alice</Client></Dial>',
        after=AFTER,
        one="",
        two="",
    )
    switch = Switch(park=False)
    switch.far_end("+15551230000", FarEnd(ring=10))
    switch.far_end("client:alice", FarEnd(ring=1, talk=7))
    call = place(served, switch=switch).dial()

    (one,), (two,) = forms(served, "/one"), forms(served, "/two")
    assert (one["CallStatus"], two["CallStatus"]) == ("canceled", "completed")
    (sent,) = forms(served, "/after")
    assert (sent["DialCallSid"], sent["DialCallDuration"]) == (two["CallSid"], "7")
    assert call.transcript.steps[-2].at == pytest.approx(1 + 7)


def test_answered_by_says_which_parallel_noun_answers(place: Place) -> None:
    """ "The first call to pick up is connected to the current call and the rest are hung up":
    a plan for the whole Dial names the noun that picks up (answered_by); the others ring on
    and are hung up."""
    served = app(
        root='<Dial action="/after"><Number>+15551230000</Number><Client>alice</Client>'
        "<Sip>sip:bob@example.com</Sip></Dial>",
        after=AFTER,
    )
    switch = Switch(park=False)
    switch.next_dial(FarEnd(talk=8, answered_by="sip:sip:bob@example.com"))
    call = place(served, switch=switch).dial()

    assert [(leg.target, leg.status) for leg in call.transcript.legs] == [
        ("number:+15551230000", "canceled"),
        ("client:alice", "canceled"),
        ("sip:sip:bob@example.com", "completed"),
    ]
    (sent,) = forms(served, "/after")
    assert (sent["DialCallSid"], sent["DialCallDuration"]) == (call.transcript.legs[2].sid, "8")


def test_answered_by_a_target_the_dial_does_not_ring_is_refused(place: Place) -> None:
    """A plan that names a noun the <Dial> does not have is a located error, not a guess."""
    served = app(root=f"<Dial><Number>+15551230000</Number></Dial>{AFTER}")
    switch = Switch(park=False)
    switch.next_dial(FarEnd(answered_by="client:carol"))

    with pytest.raises(SimulationError, match=r"answered_by 'client:carol' is not dialled by <Dial> 1"):
        place(served, switch=switch).dial()


@pytest.mark.parametrize(
    ("plans", "status", "statuses"),
    [
        pytest.param(("busy", "failed"), "busy", ["busy", "failed"], id="busy-and-failed"),
        pytest.param(("failed", "failed"), "failed", ["failed", "failed"], id="all-failed"),
        pytest.param(("busy", "no-answer"), "no-answer", ["busy", "no-answer"], id="one-rings-out"),
    ],
)
def test_a_parallel_dial_nobody_answers_reports_the_far_ends(
    place: Place, plans: tuple[str, str], status: str, statuses: list[str]
) -> None:
    """DialCallStatus "busy: Twilio received a busy signal", "no-answer: The called party did
    not pick up before the timeout period passed", "failed: Twilio was unable to route to the
    given phone number": with several nouns and none answering, a noun still ringing at the
    timeout makes it no-answer; else busy if any was busy; else failed. Each leg keeps its own."""
    served = app(
        root='<Dial action="/after"><Number>+15551230000</Number><Number>+15559990000</Number></Dial>'
    )
    served.pages["/after"] = lambda _: "<Response><Hangup/></Response>"
    switch = Switch(park=False)
    switch.far_end("+15551230000", FarEnd(plans[0]))
    switch.far_end("+15559990000", FarEnd(plans[1]))
    call = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["DialCallStatus"] == status
    assert [leg.status for leg in call.transcript.legs] == statuses
