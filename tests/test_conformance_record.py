"""<Record> as Twilio's reference describes it (twilio.com/docs/voice/twiml/record), one app per rule."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ivr.qa.scenarios import load_scenario, render_report, run_scenario
from ivr.sim import Heard, Outcome, WsgiTransport
from tests.conformance import Place, app, forms, place
from tests.twiml_apps import TwimlApp

__all__ = ["place"]

VOICEMAIL = '<Say>Leave a message.</Say><Record action="/saved" {attrs}/><Say>Nothing recorded.</Say>'
SAVED = "<Say>Message saved.</Say>"


def voicemail(attrs: str = "") -> TwimlApp:
    return app(root=VOICEMAIL.format(attrs=attrs), saved=SAVED)


def test_the_say_before_record_is_heard_then_the_beep(place: Place) -> None:
    """ "The <Record> verb records the caller's voice"; playBeep (default true) plays a sound
    before the recording starts."""
    call = place(voicemail()).dial()

    assert call.heard_all == [Heard("say", "Leave a message."), Heard("play", "beep")]
    assert call.waiting and not call.ended


def test_play_beep_false_records_without_a_beep(place: Place) -> None:
    """playBeep="false": no sound before the recording."""
    call = place(voicemail('playBeep="false"')).dial()

    assert [h.kind for h in call.heard_all] == ["say"]


def test_a_finish_key_ends_the_recording(place: Place) -> None:
    """finishOnKey: a key that ends the recording; Digits on the action is that key, with
    RecordingUrl, RecordingDuration and RecordingSid."""
    served = voicemail('finishOnKey="#"')
    call = place(served).dial().record("please call me back", seconds=4, finish="#")

    (sent,) = forms(served, "/saved")
    assert (sent["Digits"], sent["RecordingDuration"]) == ("#", "4")
    assert sent["RecordingUrl"].endswith("/Recordings/" + sent["RecordingSid"])
    assert call.switch.recording_at(sent["RecordingUrl"]) is not None
    assert call.heard == "Message saved."


def test_silence_after_speaking_ends_the_recording_at_the_timeout(place: Place) -> None:
    """timeout: seconds of silence that end the recording; trim-silence (the default) leaves
    the silence out of the recording."""
    served = voicemail('timeout="3"')
    call = place(served).dial()
    started = call.clock
    call.record("call me back", seconds=4)

    (sent,) = forms(served, "/saved")
    assert "Digits" not in sent and sent["RecordingDuration"] == "4"
    assert served.to("/saved") and call.transcript.steps[-2].at == pytest.approx(started + 4 + 3)


def test_max_length_cuts_the_recording(place: Place) -> None:
    """maxLength: the maximum length of the recording in seconds."""
    served = voicemail('maxLength="10"')
    place(served).dial().record("a very long story", seconds=30, finish="#")

    assert forms(served, "/saved")[0]["RecordingDuration"] == "10"


def test_hanging_up_ends_the_recording_with_digits_hangup(place: Place) -> None:
    """The caller hangs up: the action is requested with Digits=hangup; its TwiML is not run."""
    served = voicemail()
    call = place(served).dial().record("bye now", seconds=3, finish="hangup")

    assert forms(served, "/saved")[0]["Digits"] == "hangup"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"
    assert call.heard == ""


def test_an_empty_recording_goes_on_with_the_next_verb(place: Place) -> None:
    """An empty recording: Twilio does not request the action URL; the call goes on with the
    next verb."""
    served = voicemail()
    call = place(served).dial().silence()

    assert served.to("/saved") == []
    assert call.heard == "Nothing recorded."


def test_without_an_action_the_current_document_is_requested(place: Place) -> None:
    """No action: Twilio requests the current document's URL with the recording's fields."""
    served = app(root="<Record/>", again="<Hangup/>")
    served.pages["/"] = lambda req: (
        "<Response><Hangup/></Response>" if "RecordingUrl" in req.form else "<Response><Record/></Response>"
    )
    call = place(served).dial().record("hello", seconds=2, finish="#")

    assert [s.path for s in served.seen][:2] == ["/", "/"]
    assert "RecordingUrl" in served.to("/")[1].form
    assert call.outcome == Outcome("hangup")


def test_transcription_and_recording_status_callbacks(place: Place) -> None:
    """transcribeCallback: Twilio posts TranscriptionText and TranscriptionStatus there;
    recordingStatusCallback: RecordingStatus completed with the recording's fields."""
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
