"""TwiML responses for the edge: documents, spoken errors and the fields read from Twilio."""

from __future__ import annotations

import re

from flask import Request, Response
from twilio.twiml.voice_response import VoiceResponse

from ivr import CallParams

#: A Twilio call SID: CA and 32 hexadecimal digits, as Twilio and our simulated callers make them.
CALL_SID = re.compile(r"CA[0-9a-f]{32}")


#: What `mimetype="text/xml"` makes of it, given whole: werkzeug then neither builds it nor sets it.
XML = ("Content-Type", "text/xml; charset=utf-8")


def twiml(document: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A TwiML document, with any other `headers` set in the same go."""
    return Response(document, status=status, headers=[XML, *headers])


def spoken_error(message: str, status: int) -> Response:
    """A clear message a person (or a curl user) can read, still as valid TwiML."""
    response = VoiceResponse()
    response.say(message, voice="Polly.Joanna", language="en-US")
    response.hangup()
    return twiml(str(response), status)


def call_params(req: Request) -> CallParams:
    form = req.form
    duration = form.get("CallDuration", "")
    return CallParams(
        call_sid=form.get("CallSid", "").strip(),  # checked whole (CALL_SID), never cut
        to=form.get("To", "") or form.get("Called", ""),
        caller=form.get("From", "") or form.get("Caller", ""),
        digits=form.get("Digits", ""),
        speech=form.get("SpeechResult", ""),
        call_status=form.get("CallStatus", ""),
        duration=int(duration) if duration.isascii() and duration.isdigit() and len(duration) < 9 else None,
        simulated_now=form.get("SimulatedNow", "")[:40],
    )
