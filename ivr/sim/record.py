"""<Record> as Twilio runs it: a beep, the caller's message, then the action URL.

The call waits at a <Record> the way it waits at a <Gather>; then `call.record(...)` says what
the caller records (words, a length, how it ends), `call.silence()` records nothing until the
timeout, `call.press("#")` ends it at once and `call.hangup()` hangs up during it. A silent
recording is saved and sent to the action like any other ("By default, silent recordings are
saved by Twilio"); `Switch(keep_silent_recordings=False)` is an account that asked Twilio
Support not to keep them: then the verb after <Record> runs, as the older reference said.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from xml.etree import ElementTree

from .switch import callback
from .transcript import Heard, Outcome, Step

if TYPE_CHECKING:
    from .caller import SimulatedCall

DEFAULT_TIMEOUT = 5  # seconds of silence that end a recording
DEFAULT_MAX_LENGTH = 3600
TRANSCRIBED_MAX_LENGTH = 120
#: "transcription is currently limited to recordings ... with a duration greater than two
#: seconds and less than 120 seconds"; outside them Twilio logs a warning and sends nothing.
TRANSCRIBED_SECONDS = (2, 120)
DEFAULT_FINISH_KEYS = "1234567890*#"
WORDS_PER_SECOND = 2.5


@dataclass
class RecordHold:
    """A call waiting at a <Record>: what the caller does next ends the recording."""

    call: SimulatedCall
    verb: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]
    step: Step

    def record(self, words: str = "", seconds: float | None = None, finish: str | None = None) -> None:
        if seconds is None:
            seconds = len(words.split()) / WORDS_PER_SECOND
        _finish(self, words, float(seconds), finish)

    def press(self, keys: str) -> None:
        _finish(self, "", 0.0, keys[0])

    def say(self, words: str) -> None:
        self.record(words)

    def silence(self) -> None:
        _finish(self, "", 0.0, None)

    def hangup(self) -> None:
        _finish(self, "", 0.0, "hangup")


def start(
    call: SimulatedCall, verb: ElementTree.Element, doc_url: str, rest: list[ElementTree.Element], step: Step
) -> None:
    """The caller hears the beep (unless playBeep="false"), and the call waits at the Record."""
    if verb.get("playBeep", "true") != "false":
        call._record(step, Heard("play", "beep"))
    call._held = RecordHold(call, verb, doc_url, rest, step)


def _finish(hold: RecordHold, words: str, seconds: float, key: str | None) -> None:
    call, verb = hold.call, hold.verb
    call._held = None
    call._since_input = []
    # "The defaults are 3600 seconds (one hour) for a normal recording, and 120 seconds (two
    # minutes) for a transcribed recording."
    transcribed = verb.get("transcribe") == "true"
    max_length = _int(verb.get("maxLength"), TRANSCRIBED_MAX_LENGTH if transcribed else DEFAULT_MAX_LENGTH)
    timeout = _int(verb.get("timeout"), DEFAULT_TIMEOUT)
    keys = verb.get("finishOnKey", DEFAULT_FINISH_KEYS)
    trim = verb.get("trim", "trim-silence") == "trim-silence"
    fields: dict[str, str] = {}
    if seconds >= max_length:
        call.clock += max_length  # the recording stops at maxLength, whatever comes after
        duration = float(max_length)
    elif key == "hangup":
        call.clock += seconds
        duration = seconds
        fields["Digits"] = "hangup"
    elif key is not None and key in keys:
        call.clock += seconds + 0.3
        duration = seconds
        fields["Digits"] = key
    elif timeout == 0:
        call.clock += max_length  # no silence detection: only maxLength ends it
        duration = float(max_length)
    else:
        call.clock += seconds + timeout  # silence for `timeout` seconds ends it
        duration = seconds if trim else seconds + timeout
    if seconds == 0 and not call.switch.keep_silent_recordings:
        # The older Record reference: "if Twilio receives an empty recording, it will not make a
        # request to the 'action' URL. The current call flow will continue with the next verb in
        # the current TwiML document." (Today's: "By default, silent recordings are saved by
        # Twilio. If you do not need to retain silent recordings, reach out to Twilio Support.")
        if key == "hangup":
            call._end(Outcome("caller-hangup"))
        else:
            call._run(hold.rest, hold.doc_url, hold.step)
        return
    recording = call.switch.record(call.account_sid, int(round(duration)), words)
    fields.update(
        RecordingUrl=recording.url,
        RecordingDuration=str(recording.duration),
        RecordingSid=recording.sid,
    )
    _callbacks(call, verb, hold.doc_url, fields, words)
    # "If no 'action' is provided, <Record> will default to requesting the current document's URL."
    url = urljoin(hold.doc_url, verb.get("action") or hold.doc_url)
    method = verb.get("method", "POST").upper()
    if key == "hangup":
        callback(call, "action", method, url, {**fields, "CallStatus": "completed"})
        call._end(Outcome("caller-hangup"))
        return
    shown = f"recorded {words!r} ({recording.duration}s)" if words else f"recorded {recording.duration}s"
    call._fetch("action", method, url, fields, shown)


def _callbacks(
    call: SimulatedCall, verb: ElementTree.Element, doc_url: str, fields: dict[str, str], words: str
) -> None:
    """recordingStatusCallback and transcribeCallback: sent at once (Twilio sends them when ready)."""
    status_url = verb.get("recordingStatusCallback")
    if status_url:
        events = verb.get("recordingStatusCallbackEvent", "completed").split()
        if "completed" in events:
            callback(
                call,
                "recording-status",
                verb.get("recordingStatusCallbackMethod", "POST").upper(),
                urljoin(doc_url, status_url),
                {
                    "RecordingSid": fields["RecordingSid"],
                    "RecordingUrl": fields["RecordingUrl"],
                    "RecordingStatus": "completed",
                    "RecordingDuration": fields["RecordingDuration"],
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                },
            )
    transcribe_url = verb.get("transcribeCallback")
    # "If transcribeCallback is specified, then you will also need to specify transcribe=true;
    # it is no longer implicit."
    low, high = TRANSCRIBED_SECONDS
    duration = int(fields["RecordingDuration"])
    if transcribe_url and verb.get("transcribe") == "true" and low < duration < high:
        sid = "TR" + secrets.token_hex(16)
        callback(
            call,
            "transcription",
            "POST",
            urljoin(doc_url, transcribe_url),
            {
                "TranscriptionSid": sid,
                "TranscriptionText": words,
                "TranscriptionStatus": "completed" if words else "failed",
                "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{call.account_sid}/Transcriptions/{sid}",
                "RecordingSid": fields["RecordingSid"],
                "RecordingUrl": fields["RecordingUrl"],
            },
        )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None and value != "" else default
    except ValueError:
        return default
