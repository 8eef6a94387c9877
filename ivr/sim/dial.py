"""<Dial> as Twilio runs it: ring the far end, bridge, then the action URL or the next verb.

What the far end does comes from the call's Switch (switch.FarEnd): answers and talks, busy,
no-answer, failed; the caller may hang up or press * first. The default far end rings 2 s,
answers and talks 5 s, then hangs up. A plan can be for the call's Nth <Dial> or for a target;
the nouns of one <Dial> ring at once and the first to answer is connected (see `far_ends`).
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
from .switch import FarEnd, callback, target_keys
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
    call.dials += 1  # plans for "the Nth <Dial>" count every <Dial>, whatever it dials
    noun = next((child for child in verb if child.tag in ("Queue", "Conference")), None)
    if noun is not None and noun.tag == "Queue":
        queue.dial_queue(call, verb, noun, doc_url, rest, step)
        return
    if noun is not None:
        conference.join(call, verb, noun, doc_url, rest, step)
        return
    targets = dial_targets(verb)
    fields, ended_by_caller, target = _ring_and_talk(call, verb, targets, doc_url, step)
    if call.ended:
        return
    finish(call, verb, doc_url, rest, step, fields, target=target, caller_gone=ended_by_caller)


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


def far_ends(call: SimulatedCall, targets: list[str]) -> list[FarEnd]:
    """What each target of this <Dial> does: a plan for the Nth <Dial> applies to all its nouns;
    else a target's own plan; the others take the next unclaimed plan (only when no target has
    one of its own) or the default. `answered_by` of the Dial's plan names the one that answers:
    the other nouns under that plan ring on until they are hung up."""
    switch = call.switch
    shared = switch.nth_plan(call.dials)
    own: list[FarEnd | None] = [None] * len(targets)
    if shared is None:
        own = [switch.target_plan(target) for target in targets]
        shared = switch.far_end_for([]) if all(o is None for o in own) else switch.default
    plans = [o if o is not None else shared for o in own]
    wanted = shared.answered_by
    if wanted is not None:
        chosen = next((i for i, t in enumerate(targets) if wanted in target_keys(t)), None)
        if chosen is None:
            from .caller import SimulationError

            raise SimulationError(
                f"far end answered_by {wanted!r} is not dialled by <Dial> {call.dials} "
                f"(it rings {', '.join(targets)})"
            )
        ringing_on = FarEnd("no-answer")
        plans = [p if (own[i] is not None or i == chosen) else ringing_on for i, p in enumerate(plans)]
    return plans


def _ring_and_talk(
    call: SimulatedCall,
    verb: ElementTree.Element,
    targets: list[str],
    doc_url: str,
    step: Step,
) -> tuple[dict[str, str], bool, str]:
    """Ring every noun at once, maybe bridge; return the action fields, whether the caller hung
    up, and the target that answered (else the first).

    Each phone noun is a leg of its own (its CallSid, its statusCallback events): "The first
    call to pick up is connected to the current call and the rest are hung up"."""
    legs = _place(call, verb, targets, doc_url)
    plans = far_ends(call, targets)
    timeout = float(_int(verb.get("timeout"), DEFAULT_TIMEOUT))
    started = call.clock
    for placed in legs:
        placed.event("initiated", "initiated")
    refused = [i for i, far in enumerate(plans) if far.answer in ("busy", "failed")]
    ringing = [i for i in range(len(legs)) if i not in refused]
    answering = [i for i in ringing if plans[i].answer == "answer" and plans[i].ring < timeout]
    winner = min(answering, key=lambda i: plans[i].ring) if answering else None
    hangs = [far.caller_hangs_up for far in plans if far.caller_hangs_up is not None]
    hangs_up = min(hangs) if hangs else None
    for i in refused:
        legs[i].event("completed", plans[i].answer)
    for i in ringing:
        legs[i].event("ringing", "ringing")
    first = legs[winner if winner is not None else 0]
    fields = {"DialCallSid": first.leg.sid, "DialCallDuration": "0", "DialBridged": "false"}
    if not ringing:
        call.clock += 1.0
        fields["DialCallStatus"] = "busy" if any(plans[i].answer == "busy" for i in refused) else "failed"
        return fields, False, first.leg.target
    until = plans[winner].ring if winner is not None else timeout
    if hangs_up is not None and hangs_up < until:
        # The caller gives up while it rings: Twilio cancels the dialled call.
        call.clock += hangs_up
        fields["DialCallStatus"] = "canceled"
        for i in ringing:
            legs[i].event("completed", "canceled")
        return fields, True, first.leg.target
    if winner is None:
        call.clock += timeout
        fields["DialCallStatus"] = "no-answer"
        for i in ringing:
            legs[i].event("completed", "no-answer")
        return fields, False, first.leg.target
    far = plans[winner]
    call.clock += far.ring
    answered = call.clock
    first.event("answered", "in-progress")
    fields["DialBridged"] = "true"
    for i in ringing:
        if i != winner:
            legs[i].event("completed", "canceled")  # "the rest are hung up"
    digits = first.noun.get("sendDigits") if first.noun is not None else None
    if digits:
        # "play DTMF tones when the call is answered"; "Each 'w' character tells Twilio to wait
        # 0.5 seconds" (error 13222: W waits a second). The far end hears them, the caller does not.
        from .caller import dtmf_seconds

        first.leg.digits_sent = digits
        call.clock += dtmf_seconds(digits)
    _whisper(call, first.noun, first.leg.sid, doc_url)
    if call.ended:
        first.event("completed", "completed")
        return fields, False, first.leg.target
    limit = _int(verb.get("timeLimit"), DEFAULT_TIME_LIMIT)
    talk = max(0.0, min(far.talk, float(limit) - (call.clock - answered)))
    caller_gone = False
    if far.star_after is not None and far.star_after < talk:
        call._record(step, Heard("digits", "*"))
        if verb.get("hangupOnStar", "false") == "true":
            talk = far.star_after
    if hangs_up is not None and hangs_up - (call.clock - started) < talk:
        talk, caller_gone = max(0.0, hangs_up - (call.clock - started)), True
    call.clock += talk
    duration = int(call.clock - answered + 1e-9)
    fields["DialCallStatus"] = "completed"
    fields["DialCallDuration"] = str(duration)
    first.leg.duration = duration
    first.event("completed", "completed", {"CallDuration": str(duration)})
    mode = verb.get("record", "do-not-record")
    if mode != "do-not-record":
        length = int(call.clock - (started if "ringing" in mode else answered))
        recording = call.switch.record(call.account_sid, length, "")
        fields.update(
            RecordingUrl=recording.url,
            RecordingSid=recording.sid,
            RecordingDuration=str(recording.duration),
        )
    return fields, caller_gone, first.leg.target


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


def _whisper(call: SimulatedCall, number: ElementTree.Element | None, dial_sid: str, doc_url: str) -> None:
    """<Number url>: a document Twilio runs on the callee's leg once it answers, before the bridge.
    The callee hears it, not the caller: its words go to the whisper step, not to `call.heard`."""
    if number is None or not number.get("url"):
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
    return None if status in ("completed", "answered") else f"DialCallStatus {status}"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
