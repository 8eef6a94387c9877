"""<Dial> as Twilio runs it: ring the far end, bridge, then the action URL or the next verb.

What the far end does comes from the call's Switch (switch.FarEnd): answers and talks, busy,
no-answer, failed; the caller may hang up or press * first. The default far end rings 2 s,
answers and talks 5 s, then hangs up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from xml.etree import ElementTree

from . import conference, queue
from .switch import FarEnd, callback
from .transcript import Heard, Leg, Outcome, Step

if TYPE_CHECKING:
    from .caller import SimulatedCall

DEFAULT_TIMEOUT = 30  # seconds <Dial> waits for an answer
DEFAULT_TIME_LIMIT = 14400  # four hours
_PHONE_NOUNS = ("Number", "Client", "Sip")


def run(
    call: SimulatedCall, verb: ElementTree.Element, doc_url: str, rest: list[ElementTree.Element], step: Step
) -> None:
    """Run one <Dial>; the call goes on with its action, or with `rest` when it has none."""
    noun = next((child for child in verb if child.tag in ("Queue", "Conference")), None)
    if noun is not None and noun.tag == "Queue":
        queue.dial_queue(call, verb, noun, doc_url, rest, step)
        return
    if noun is not None:
        conference.join(call, verb, noun, doc_url, rest, step)
        return
    targets = dial_targets(verb)
    far = call.switch.far_end_for(targets)
    fields, ended_by_caller = _ring_and_talk(call, verb, far, targets, doc_url, step)
    if call.ended:
        return
    finish(call, verb, doc_url, rest, step, fields, target=targets[0], caller_gone=ended_by_caller)


def finish(
    call: SimulatedCall,
    verb: ElementTree.Element,
    doc_url: str,
    rest: list[ElementTree.Element],
    step: Step,
    fields: dict[str, str],
    *,
    target: str,
    caller_gone: bool = False,
) -> None:
    """The dialled call ended: request the action (Twilio ignores its TwiML when the caller is
    gone), or go on with the verbs after <Dial>, or end the call when there are none."""
    action = verb.get("action")
    if action:
        url = urljoin(doc_url, action)
        method = verb.get("method", "POST").upper()
        if caller_gone:
            callback(call, "action", method, url, {**fields, "CallStatus": "completed"})
            call._end(Outcome("caller-hangup", target=target, detail=_detail(fields)))
            return
        call._fetch("action", method, url, fields, None)
        return
    if caller_gone:
        call._end(Outcome("caller-hangup", target=target, detail=_detail(fields)))
    elif rest:
        call._run(rest, doc_url, step)
    else:
        # Out of TwiML right after the Dial: the call ended in this Dial, and says where to.
        call._end(Outcome("dial", target=target, detail=_detail(fields)))


def dial_targets(verb: ElementTree.Element) -> list[str]:
    """Who a <Dial> rings, as "number:+1555...", "client:alice", "sip:sip:x@y"."""
    found = [f"{child.tag.lower()}:{_noun_text(child)}" for child in verb if child.tag in _PHONE_NOUNS]
    return found or [f"number:{(verb.text or '').strip()}"]


def _noun_text(noun: ElementTree.Element) -> str:
    inner = noun.find("Identity") if noun.tag == "Client" else noun.find("Uri")
    return ((inner.text if inner is not None else noun.text) or "").strip()


def _ring_and_talk(
    call: SimulatedCall,
    verb: ElementTree.Element,
    far: FarEnd,
    targets: list[str],
    doc_url: str,
    step: Step,
) -> tuple[dict[str, str], bool]:
    """Ring, maybe bridge; return the action fields and whether the caller hung up.

    Each phone noun is a leg of its own (its CallSid, its statusCallback events); the far end
    is the first noun's: it answers, and the other legs of a parallel dial are canceled."""
    legs = _place(call, verb, targets, doc_url)
    first = legs[0]
    dial_sid = first.leg.sid
    timeout = _int(verb.get("timeout"), DEFAULT_TIMEOUT)
    fields = {"DialCallSid": dial_sid, "DialCallDuration": "0"}
    started = call.clock
    for placed in legs:
        placed.event("initiated", "initiated")
    if far.answer in ("busy", "failed"):
        call.clock += 1.0
        fields["DialCallStatus"] = far.answer
        for placed in legs:
            placed.event("completed", far.answer)
        return fields, False
    for placed in legs:
        placed.event("ringing", "ringing")
    rings = float(timeout) if far.answer == "no-answer" else min(far.ring, float(timeout))
    hangs_up = far.caller_hangs_up
    if hangs_up is not None and hangs_up < rings:
        # The caller gives up while it rings: Twilio cancels the dialled call.
        call.clock += hangs_up
        fields["DialCallStatus"] = "canceled"
        for placed in legs:
            placed.event("completed", "canceled")
        return fields, True
    if far.answer == "no-answer" or far.ring >= timeout:
        call.clock += timeout
        fields["DialCallStatus"] = "no-answer"
        for placed in legs:
            placed.event("completed", "no-answer")
        return fields, False
    call.clock += far.ring
    answered = call.clock
    first.event("answered", "in-progress")
    for placed in legs[1:]:
        placed.event("completed", "canceled")  # "the rest are hung up"
    if first.noun is not None and first.noun.get("sendDigits"):
        first.leg.digits_sent = first.noun.get("sendDigits")  # DTMF to the far end once it answers
    _whisper(call, verb, dial_sid, doc_url)
    if call.ended:
        first.event("completed", "completed")
        return fields, False
    limit = _int(verb.get("timeLimit"), DEFAULT_TIME_LIMIT)
    talk = min(far.talk, float(limit))
    caller_gone = False
    if far.star_after is not None and far.star_after < talk:
        call._record(step, Heard("digits", "*"))
        if verb.get("hangupOnStar", "false") == "true":
            talk = far.star_after
    if hangs_up is not None and hangs_up - far.ring < talk:
        talk, caller_gone = hangs_up - far.ring, True
    call.clock += talk
    fields["DialCallStatus"] = "completed"
    fields["DialCallDuration"] = str(int(talk))
    first.leg.duration = int(talk)
    first.event("completed", "completed", {"CallDuration": str(int(talk))})
    mode = verb.get("record", "do-not-record")
    if mode != "do-not-record":
        length = int(call.clock - (started if "ringing" in mode else answered))
        recording = call.switch.record(call.account_sid, length, "")
        fields.update(
            RecordingUrl=recording.url,
            RecordingSid=recording.sid,
            RecordingDuration=str(recording.duration),
        )
    return fields, caller_gone


@dataclass
class _Placed:
    """A leg of a <Dial> being placed, and where its noun's statusCallback goes."""

    call: SimulatedCall
    leg: Leg
    noun: ElementTree.Element | None
    doc_url: str
    sequence: int = 0

    def event(self, event: str, status: str, extra: dict[str, str] | None = None) -> None:
        """The leg moved to `status`: request the noun's statusCallback if it asks for `event`
        (statusCallbackEvent, default completed), with the child leg's CallSid and CallStatus."""
        self.leg.status = status
        noun = self.noun
        url = noun.get("statusCallback") if noun is not None else None
        if noun is None or not url:
            return
        wanted = (noun.get("statusCallbackEvent") or "completed").replace(",", " ").split()
        if event not in wanted:
            return
        to = _noun_text(noun)
        fields = {
            **(extra or {}),
            "CallSid": self.leg.sid,
            "ParentCallSid": self.call.call_sid,
            "CallStatus": status,
            "Direction": "outbound-dial",
            "To": to,
            "Called": to,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self.sequence),
            "Timestamp": format_datetime(datetime.now(UTC)),
        }
        self.sequence += 1
        method = noun.get("statusCallbackMethod", "POST").upper()
        callback(self.call, "dial-status", method, urljoin(self.doc_url, url), fields)


def _place(call: SimulatedCall, verb: ElementTree.Element, targets: list[str], doc_url: str) -> list[_Placed]:
    """One leg per phone noun (or one for a number as the Dial's text), on the call's transcript."""
    nouns: list[ElementTree.Element | None] = [child for child in verb if child.tag in _PHONE_NOUNS]
    placed = []
    for target, noun in zip(targets, nouns or [None], strict=False):
        leg = Leg(target, "CA" + secrets.token_hex(16))
        call.transcript.legs.append(leg)
        placed.append(_Placed(call, leg, noun, doc_url))
    return placed


def _whisper(call: SimulatedCall, verb: ElementTree.Element, dial_sid: str, doc_url: str) -> None:
    """<Number url>: a document Twilio runs on the callee's leg once it answers, before the bridge.
    The callee hears it, not the caller: its words go to the whisper step, not to `call.heard`."""
    number = next((c for c in verb if c.tag in _PHONE_NOUNS and c.get("url")), None)
    if number is None:
        return
    url = urljoin(doc_url, number.get("url", ""))
    leg = {
        "CallSid": dial_sid,
        "ParentCallSid": call.call_sid,
        "Direction": "outbound-dial",
        "CallStatus": "in-progress",
        "To": _noun_text(number),
        "Called": _noun_text(number),
    }
    step, root, _ = call._request("whisper", number.get("method", "POST").upper(), url, leg, None)
    if root is None:
        return
    for child in root:
        if child.tag in ("Say", "Play", "Pause"):
            before = len(call._since_input)
            call._hear(child, step)
            del call._since_input[before:]  # the callee heard it, not the caller
        else:
            call._end(
                Outcome(
                    "error",
                    detail=f"the simulator runs only Say, Play, Pause in a whisper, not <{child.tag}>",
                )
            )
            return


def _detail(fields: dict[str, str]) -> str | None:
    """Say how the Dial went when the far end did not answer and talk (busy, no-answer, ...)."""
    status = fields["DialCallStatus"]
    return None if status == "completed" else f"DialCallStatus {status}"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
