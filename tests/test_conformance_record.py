"""<Record> as Twilio's reference describes it (twilio.com/docs/voice/twiml/record), one app per rule."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ivr.qa.scenarios import load_scenario, render_report, run_scenario
from ivr.sim import Heard, Outcome, WsgiTransport
from ivr.sim.switch import Switch
from tests.conformance import Place, app, forms, place
from tests.twiml_apps import TwimlApp

__all__ = ["place"]

VOICEMAIL = '<Say>Leave a message.</Say><Record action="/saved" {attrs}/><Say>Nothing recorded.</Say>'
SAVED = "<Say>Message saved.</Say>"


def voicemail(attrs: str = "") -> TwimlApp:
    return app(root=VOICEMAIL.format(attrs=attrs), saved=SAVED)


def test_the_say_before_record_is_heard_then_the_beep(place: Place) -> None:
    """ "The <Record> verb records the caller's voice"; playBeep "allows you to toggle between
    playing a sound before the start of a recording" (default true)."""
    call = place(voicemail()).dial()

    assert call.heard_all == [Heard("say", "Leave a message."), Heard("play", "beep")]
    assert call.waiting and not call.ended


def test_play_beep_false_records_without_a_beep(place: Place) -> None:
    """playBeep: "If you set the value to false, no beep sound will be played.\""""
    call = place(voicemail('playBeep="false"')).dial()

    assert [h.kind for h in call.heard_all] == ["say"]


def test_a_finish_key_ends_the_recording(place: Place) -> None:
    """finishOnKey: "if you set finishOnKey to # and the caller presses the # key, Twilio will
    immediately stop recording and submit RecordingUrl, RecordingDuration, and # as parameters
    in a request to the action URL" (and the simulator's RecordingSid)."""
    served = voicemail('finishOnKey="#"')
    call = place(served).dial().record("please call me back", seconds=4, finish="#")

    (sent,) = forms(served, "/saved")
    assert (sent["Digits"], sent["RecordingDuration"]) == ("#", "4")
    assert sent["RecordingUrl"].endswith("/Recordings/" + sent["RecordingSid"])
    assert call.switch.recording_at(sent["RecordingUrl"]) is not None
    assert call.heard == "Message saved."


def test_silence_after_speaking_ends_the_recording_at_the_timeout(place: Place) -> None:
    """timeout: "The timeout attribute tells Twilio to end the recording after a number of
    seconds of silence has passed"; trim: "The default is trim-silence, which removes any silence
    at the beginning and end of your recording.\""""
    served = voicemail('timeout="3"')
    call = place(served).dial()
    started = call.clock
    call.record("call me back", seconds=4)

    (sent,) = forms(served, "/saved")
    assert "Digits" not in sent and sent["RecordingDuration"] == "4"
    assert served.to("/saved") and call.transcript.steps[-2].at == pytest.approx(started + 4 + 3)


def test_max_length_cuts_the_recording(place: Place) -> None:
    """maxLength: "If you set maxLength to 30, the recording will automatically end after 30
    seconds of recorded time has elapsed.\""""
    served = voicemail('maxLength="10"')
    place(served).dial().record("a very long story", seconds=30, finish="#")

    assert forms(served, "/saved")[0]["RecordingDuration"] == "10"


def test_hanging_up_ends_the_recording_with_digits_hangup(place: Place) -> None:
    """Digits: "The key (if any) pressed to end the recording, or hangup if the caller hung up";
    the action is requested, its TwiML is not run (nobody is on the line)."""
    served = voicemail()
    call = place(served).dial().record("bye now", seconds=3, finish="hangup")

    assert forms(served, "/saved")[0]["Digits"] == "hangup"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"
    assert call.heard == ""


def test_a_silent_recording_is_saved_and_sent_to_the_action(place: Place) -> None:
    """ "By default, silent recordings are saved by Twilio": the caller says nothing until the
    timeout; the action gets the recording (trim-silence, the default, leaves 0 seconds of it)."""
    served = voicemail('timeout="3"')
    call = place(served).dial().silence()

    (sent,) = forms(served, "/saved")
    assert sent["RecordingDuration"] == "0" and sent["RecordingUrl"].endswith(sent["RecordingSid"])
    assert "Digits" not in sent
    assert call.heard == "Message saved."


def test_without_silent_recordings_kept_the_next_verb_runs(place: Place) -> None:
    """ "If you do not need to retain silent recordings, reach out to Twilio Support"; the older
    reference said what then happens: "if Twilio receives an empty recording, it will not make a
    request to the 'action' URL. The current call flow will continue with the next verb in the
    current TwiML document." (Switch(keep_silent_recordings=False))."""
    served = voicemail()
    call = place(served, switch=Switch(park=False, keep_silent_recordings=False)).dial().silence()

    assert served.to("/saved") == []
    assert call.heard == "Nothing recorded."


@pytest.mark.parametrize(
    ("seconds", "sent"),
    [pytest.param(2, False, id="two-seconds"), pytest.param(3, True, id="three-seconds")],
)
def test_transcription_needs_more_than_two_seconds(place: Place, seconds: int, sent: bool) -> None:
    """ "transcription is currently limited to recordings initiated via the TwiML <Record> verb
    with a duration greater than two seconds and less than 120 seconds. If you request a
    transcription for a recording outside these duration limits, Twilio will write a warning to
    your debug log rather than transcribe the recording.\""""
    served = voicemail('transcribe="true" transcribeCallback="/text"')
    served.pages["/text"] = lambda _: ""
    place(served).dial().record("hello there", seconds=seconds, finish="#")

    assert bool(served.to("/text")) == sent


def test_a_transcribed_recording_is_cut_at_two_minutes(place: Place) -> None:
    """maxLength: "The defaults are 3600 seconds (one hour) for a normal recording, and 120
    seconds (two minutes) for a transcribed recording.\""""
    served = voicemail('transcribe="true"')
    place(served).dial().record("a very long story", seconds=500, finish="#")

    assert forms(served, "/saved")[0]["RecordingDuration"] == "120"


def test_without_an_action_the_current_document_is_requested(place: Place) -> None:
    """ "If no action is provided, <Record> will request the current document's URL"; "Keep in
    mind that by default Twilio will re-request the current document's URL. This can lead to
    unwanted looping behavior if you're not careful.\""""
    served = app(root="<Record/>", again="<Hangup/>")
    served.pages["/"] = lambda req: (
        "<Response><Hangup/></Response>" if "RecordingUrl" in req.form else "<Response><Record/></Response>"
    )
    call = place(served).dial().record("hello", seconds=2, finish="#")

    assert [s.path for s in served.seen][:2] == ["/", "/"]
    assert "RecordingUrl" in served.to("/")[1].form
    assert call.outcome == Outcome("hangup")


def test_transcription_and_recording_status_callbacks(place: Place) -> None:
    """transcribeCallback: "a URL to which Twilio will make an asynchronous POST request when the
    transcription is complete" (TranscriptionText, TranscriptionStatus "either completed or
    failed"); recordingStatusCallback: "when the recording is available to access", with
    RecordingStatus, RecordingDuration, RecordingSid."""
    served = voicemail('transcribe="true" transcribeCallback="/text" recordingStatusCallback="/rec"')
    place(served).dial().record("please call me back", seconds=4, finish="#")

    (text,) = forms(served, "/text")
    assert (text["TranscriptionText"], text["TranscriptionStatus"]) == ("please call me back", "completed")
    (rec,) = forms(served, "/rec")
    assert (rec["RecordingStatus"], rec["RecordingDuration"]) == ("completed", "4")
    assert rec["RecordingSid"] == text["RecordingSid"] == forms(served, "/saved")[0]["RecordingSid"]


FRONT_DESK = app(
    voice='<Say>Calling the front desk.</Say><Dial timeout="15" action="/missed">+15551230000</Dial>',
    missed="<Say>Nobody is free. Leave a message after the beep.</Say>"
    '<Record action="/saved" finishOnKey="#" maxLength="60"/>',
    saved="<Say>Thanks, we will call you back.</Say><Hangup/>",
)
VOICEMAIL_SCENARIO = """\
name: Front desk busy, voicemail
to: "+18005550100"
steps:
  - far_end: busy
  - expect: Leave a message
  - record: {say: "please call me back", seconds: 4, finish: "#"}
  - expect: we will call you back
outcome: {kind: hangup}
"""


def test_the_readme_voicemail_scenario_passes_against_its_app(tmp_path: Path) -> None:
    """The README's QA example: a busy <Dial> action leads to a voicemail <Record>; the
    scenario says what the far end does and what the caller records."""
    file = tmp_path / "voicemail.yaml"
    file.write_text(VOICEMAIL_SCENARIO)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert (
        "  - far_end: busy" in readme
        and 'record: {say: "please call me back", seconds: 4, finish: "#"}' in readme
    )
    target = SimpleNamespace(
        transport=WsgiTransport(FRONT_DESK), base_url="http://localhost", in_process=False, app=None
    )

    result = run_scenario(load_scenario(file), target)

    assert result.passed, render_report([result])
    (missed,) = forms(FRONT_DESK, "/missed")
    assert missed["DialCallStatus"] == "busy"
    assert forms(FRONT_DESK, "/saved")[-1]["Digits"] == "#"
