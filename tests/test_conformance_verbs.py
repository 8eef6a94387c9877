"""Verbs as Twilio runs them: endless loops, DTMF from <Play digits>, <Pause>, <Reject>, <Hangup>."""

from __future__ import annotations

import pytest

from ivr.sim import Heard, Outcome

from .conformance import Place, place
from .conformance_apps import app, doc

__all__ = ["place"]


def test_say_loop_zero_in_a_gather_is_heard_once_and_waits_for_the_timeout(place: Place) -> None:
    """<Say> loop: "Any positive integer or zero"; "Specifying 0 will cause the <Say> verb to loop
    until either the call is hung up or 1,000 iterations are performed". In a Gather the caller
    hears it once before acting, and the wait ends at the Gather's timeout."""
    served = app(
        {"/": doc('<Gather timeout="4" numDigits="1"><Say loop="0">Press one.</Say></Gather><Say>Bye.</Say>')}
    )
    call = place(served).dial()

    assert call.waiting and call.heard == "Press one."
    before = call.clock
    call.silence()
    assert call.clock == pytest.approx(before + 4 + 1 / 2.5)  # the timeout, then "Bye."
    assert call.heard == "Bye."


def test_say_loop_zero_outside_a_gather_plays_until_the_caller_hangs_up(place: Place) -> None:
    """ "Specifying 0 will cause the <Say> verb to loop until the call is hung up": the call
    listens (neither waiting at a Gather nor ended) until the caller acts."""
    served = app({"/": doc('<Say loop="0">Please hold.</Say><Say>After.</Say>')})
    call = place(served).dial()

    assert (call.looping, call.waiting, call.ended) == (True, False, False)
    assert call.heard == "Please hold."
    call.hangup()
    assert call.outcome == Outcome("caller-hangup")
    assert served.to("/status")[0].form["CallStatus"] == "completed"


def test_play_loop_zero_ends_after_1000_iterations_when_nobody_hangs_up(place: Place) -> None:
    """<Play> loop 0: "loop until either the call is hung up or 1000 iterations are performed":
    keys outside a Gather are heard by nobody, so the loop runs out and the next verb plays."""
    served = app({"/": doc('<Play loop="0">https://example.com/hold.mp3</Play><Say>Still there?</Say>')})
    call = place(served).dial()
    start = call.clock

    call.press("5")
    assert not call.looping
    assert call.clock == pytest.approx(start + 999 * 2.0 + 2 / 2.5)  # then "Still there?"
    assert call.heard == "Still there?"


def test_play_digits_sends_dtmf_with_half_second_pauses(place: Place) -> None:
    """<Play digits>: "Include w to introduce a 0.5s pause between DTMF tones. For example, 1w2
    will tell Twilio to pause 0.5s before playing DTMF tone 2.\""""
    served = app({"/": doc('<Play digits="www3"/><Hangup/>')})
    call = place(served).dial()

    assert call.heard_all == [Heard("digits", "www3")]
    assert call.clock == pytest.approx(3 * 0.5 + 0.25)


def test_pause_length_advances_the_clock(place: Place) -> None:
    """<Pause length>: "The 'length' attribute specifies how many seconds Twilio will wait
    silently before continuing on.\""""
    call = place(app({"/": doc('<Pause length="3"/><Say>Go.</Say>')})).dial()

    assert call.heard_items[0] == Heard("pause", "3s")
    assert call.clock == pytest.approx(3 + 1 / 2.5)


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        pytest.param("busy", "busy", id="busy"),
        pytest.param("rejected", "no-answer", id="rejected"),
        pytest.param(None, "no-answer", id="default-rejected"),
    ],
)
def test_reject_first_ends_busy_or_no_answer(place: Place, reason: str | None, status: str) -> None:
    """ "If the first verb in a TwiML document is <Reject>, Twilio will not pick up the call. The
    call ends with a status of busy or no-answer, depending on the verb's reason attribute.\""""
    attr = f' reason="{reason}"' if reason else ""
    served = app({"/": doc(f"<Reject{attr}/>")})
    place(served, status_callback_events=("answered", "completed")).dial()

    callbacks = served.to("/status")
    assert [c.form["CallStatus"] for c in callbacks] == [status]  # never answered
    assert callbacks[0].form["CallDuration"] == "0"


def test_hangup_ignores_the_verbs_after_it(place: Place) -> None:
    """<Hangup> "ends a call. If used as the first verb in a TwiML response it does not prevent
    Twilio from answering the call and billing your account.\""""
    served = app({"/": doc("<Hangup/><Say>Never.</Say>")})
    call = place(served, status_callback_events=("answered", "completed")).dial()

    assert call.outcome == Outcome("hangup")
    assert [c.form["CallStatus"] for c in served.to("/status")] == ["in-progress", "completed"]
