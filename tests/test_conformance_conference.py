"""<Dial><Conference> (twilio.com/docs/voice/twiml/conference), one app per rule."""

from __future__ import annotations

from ivr.sim.switch import Participant, Switch
from tests.conformance import Place, app, forms, place

__all__ = ["place"]

AFTER = "<Say>The meeting is over.</Say>"


def room(attrs: str) -> str:
    return (
        f'<Dial action="/after"><Conference waitUrl="/wait" statusCallback="/events" '
        f'statusCallbackEvent="start end join leave" {attrs}>standup</Conference></Dial>'
    )


def test_a_caller_waits_with_the_wait_url_until_a_moderator_starts_it(place: Place) -> None:
    """startConferenceOnEnter="false": the caller waits, hearing the waitUrl (it "can only
    contain Say, Play, Pause, and Redirect verbs"), until a participant with
    startConferenceOnEnter joins; endConferenceOnExit: when that one leaves, it ends. The
    action's DialCallStatus is "answered: When calling a conference, the called party answered
    the call and was connected to the caller"; DialCallSid and DialCallDuration are "not sent
    after dialing a conference" (the Dial reference)."""
    served = app(
        root=room('startConferenceOnEnter="false"'),
        wait='<Say>Please wait.</Say><Pause length="5"/>',
        after=AFTER,
    )
    switch = Switch(park=False)
    switch.join(Participant(after=20, talk=30, start=True, end_on_exit=True, label="host"))
    call = place(served, switch=switch).dial()

    assert len(served.to("/wait")) == 4  # ~5.8 s each, until the host joins at 20 s
    events = [f["StatusCallbackEvent"] for f in forms(served, "/events")]
    joined = ["participant-join", "participant-join", "conference-start"]
    assert events == [*joined, "participant-leave", "participant-leave", "conference-end"]
    (sent,) = forms(served, "/after")
    assert sent["DialCallStatus"] == "answered" and sent["ConferenceSid"].startswith("CF")
    assert "DialCallSid" not in sent and "DialCallDuration" not in sent
    assert call.heard == "Please wait. " * 4 + "The meeting is over."


def test_two_simulated_calls_meet_in_one_room(place: Place) -> None:
    """Two callers dial the same conference name on one Switch: the first waits (parked), the
    second starts it and, with endConferenceOnExit, ends it for both when it leaves."""
    served = app(
        root=room('startConferenceOnEnter="false"'),
        host=room('startConferenceOnEnter="true" endConferenceOnExit="true"'),
        wait="<Say>Please wait.</Say>",
        after=AFTER,
    )
    switch = Switch()
    guest = place(served, switch=switch).dial()
    assert not guest.ended
    host = place(served, voice_url="/host", switch=switch).dial()

    assert guest.heard.endswith("The meeting is over.") and host.heard == "The meeting is over."
    assert len(served.to("/after")) == 2
    events = [f["StatusCallbackEvent"] for f in forms(served, "/events")]
    assert events[:3] == ["participant-join", "participant-join", "conference-start"]
    assert "conference-end" in events


def test_muted_shows_on_the_participant_events(place: Place) -> None:
    """muted="true": the participant joins muted (Muted on its participant events)."""
    served = app(root=room('muted="true"'), after=AFTER, wait="<Say>Wait.</Say>")
    place(served).dial()

    join = forms(served, "/events")[0]
    assert (join["StatusCallbackEvent"], join["Muted"]) == ("participant-join", "true")
