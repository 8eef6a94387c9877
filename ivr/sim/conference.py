"""<Dial><Conference> as Twilio runs it: join a named room, wait (waitUrl) until a participant
with startConferenceOnEnter joins, talk, leave; status callbacks for the events asked for.

Other participants are planned on the Switch (switch.Participant), or are other simulated
calls on the same Switch. A caller stays `talk` seconds of its planned far end (default 5 s)
unless the conference ends first; a caller parked in a room (shared switch) stays until the
conference ends or it hangs up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from xml.etree import ElementTree

from .switch import MAX_CONFERENCE, Parked, Participant, Room, callback
from .transcript import Heard, Outcome, Step

if TYPE_CHECKING:
    from .caller import SimulatedCall

DEFAULT_EVENTS = "start end"
HOLD_MUSIC_SECONDS = 30.0
_EVENTS = {
    "start": "conference-start",
    "end": "conference-end",
    "join": "participant-join",
    "leave": "participant-leave",
}


@dataclass
class Member:
    """Someone in a room: a simulated call (with where its TwiML goes on) or a planned participant."""

    label: str
    call_sid: str
    start: bool
    end_on_exit: bool
    muted: bool
    hold: ConferenceHold | None = None  # None for a planned participant


@dataclass
class ConferenceHold(Parked):
    call: SimulatedCall
    verb: ElementTree.Element
    noun: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]
    step: Step
    room: Room
    member: Member
    joined: float
    parked: bool = False

    def where(self) -> str:
        return f"the caller is in conference {self.room.name!r} (hang up to leave)"

    def hangup(self) -> None:
        self.call._held = None
        _leave(self, caller_gone=True)


def join(
    call: SimulatedCall,
    verb: ElementTree.Element,
    noun: ElementTree.Element,
    doc_url: str,
    rest: list[ElementTree.Element],
    step: Step,
) -> None:
    name = (noun.text or "").strip()
    room = call.switch.room(name)
    if noun.get("statusCallback") and room.status is None:
        room.status = (  # set once, by the first participant who asks
            urljoin(doc_url, noun.get("statusCallback", "")),
            noun.get("statusCallbackMethod", "POST").upper(),
            noun.get("statusCallbackEvent", DEFAULT_EVENTS).split(),
        )
    member = Member(
        label="caller",
        call_sid=call.call_sid,
        start=noun.get("startConferenceOnEnter", "true") == "true",
        end_on_exit=noun.get("endConferenceOnExit", "false") == "true",
        muted=noun.get("muted", "false") == "true",
    )
    hold = ConferenceHold(call, verb, noun, doc_url, rest, step, room, member, call.clock)
    member.hold = hold
    stay = call.switch.far_end_for([f"conference:{name}"], call.dials).talk
    planned = sorted(call.switch.participants_for(name), key=lambda p: p.after)
    _enter(call, room, member)
    if not room.started:
        starter = next((p for p in planned if p.start), None)
        if starter is None:
            _wait(hold, None, one_pass=True)
            if call.ended:
                return
            if call.switch.park:
                hold.parked = True
                call._held = hold
                return
            room.members.remove(member)
            call._end(
                Outcome("dial", target=f"conference:{name}", detail="waiting: nobody started the conference")
            )
            return
        _wait(hold, call.clock + min(starter.after, MAX_CONFERENCE))
        if call.ended:
            return
    # Live: planned participants come and go; the first to leave with endConferenceOnExit ends it.
    ends, ended_by_other = stay, False
    for participant in planned:
        at = max(0.0, participant.after - (call.clock - hold.joined))
        if at >= ends:
            continue
        _enter(call, room, _planned(participant))
        if participant.end_on_exit and at + participant.talk < ends:
            ends, ended_by_other = at + participant.talk, True
    call.clock += ends
    if ended_by_other:
        _end_room(call, room)
    _leave(hold)


def _planned(participant: Participant) -> Member:
    return Member(
        participant.label,
        "CA" + secrets.token_hex(16),
        participant.start,
        participant.end_on_exit,
        muted=False,
    )


def _enter(call: SimulatedCall, room: Room, member: Member) -> None:
    room.members.append(member)
    _event(call, room, "join", member)
    if member.start and not room.started:
        room.started = True
        _event(call, room, "start", None)
        for other in room.members:
            if other.hold is not None and other.hold.parked and other.hold.call is not call:
                other.hold.call.clock = max(other.hold.call.clock, call.clock)
                other.hold.call._record(other.hold.step, Heard("play", "beep"))


def _leave(hold: ConferenceHold, *, caller_gone: bool = False) -> None:
    """This caller leaves: its <Dial> ends (action or next verb); it may end the conference."""
    from . import dial

    call, room = hold.call, hold.room
    if hold.member in room.members:
        room.members.remove(hold.member)
        _event(call, room, "leave", hold.member)
        if not room.ended and (hold.member.end_on_exit or not any(m.hold is not None for m in room.members)):
            _end_room(call, room)
    # DialCallStatus "answered: When calling a conference, the called party answered the call
    # and was connected to the caller"; DialCallSid and DialCallDuration are "not sent after
    # dialing a conference".
    fields = {"DialCallStatus": "answered", "ConferenceSid": room.sid}
    dial.finish(
        call,
        hold.verb,
        hold.doc_url,
        hold.rest,
        hold.step,
        fields,
        target=f"conference:{room.name}",
        caller_gone=caller_gone,
    )


def _end_room(call: SimulatedCall, room: Room) -> None:
    room.ended = True
    everyone = list(room.members)
    room.members.clear()
    for other in everyone:  # each participant leaves, then the conference ends
        _event(call, room, "leave", other)
    _event(call, room, "end", None)
    for other in everyone:
        if other.hold is not None and other.hold.parked and other.hold.call is not call:
            other.hold.call._held = None
            other.hold.call.clock = max(other.hold.call.clock, call.clock)
            _leave(other.hold)


def _event(call: SimulatedCall, room: Room, event: str, member: Member | None) -> None:
    room.events.append(_EVENTS[event])
    status = room.status
    if status is None or event not in status[2]:
        return
    url, method, _ = status
    room.sequence += 1
    fields = {
        "ConferenceSid": room.sid,
        "FriendlyName": room.name,
        "StatusCallbackEvent": _EVENTS[event],
        "SequenceNumber": str(room.sequence),
    }
    if member is not None:
        fields.update(
            CallSid=member.call_sid,
            Muted=str(member.muted).lower(),
            Hold="false",
            StartConferenceOnEnter=str(member.start).lower(),
            EndConferenceOnExit=str(member.end_on_exit).lower(),
        )
    callback(call, "conference-status", method, url, fields)


def _wait(hold: ConferenceHold, until: float | None, *, one_pass: bool = False) -> None:
    """The waitUrl loop: "can only contain Say, Play, Pause, and Redirect verbs" (error 13238)."""
    call, noun = hold.call, hold.noun
    wait_url = noun.get("waitUrl")
    method = noun.get("waitMethod", "POST").upper()
    url = urljoin(hold.doc_url, wait_url) if wait_url else ""
    while until is None or call.clock < until:
        if call.clock - hold.joined >= MAX_CONFERENCE:
            return
        before = call.clock
        if wait_url is None:
            call._record(hold.step, Heard("play", "hold music"))
            call.clock += HOLD_MUSIC_SECONDS if until is None else min(HOLD_MUSIC_SECONDS, until - call.clock)
        elif wait_url == "":
            call.clock = until if until is not None else call.clock + HOLD_MUSIC_SECONDS  # silence
        else:
            step, root, got = call._request("wait", method, url, {"ConferenceSid": hold.room.sid}, None)
            if root is None:
                return
            next_url = urljoin(hold.doc_url, wait_url)
            for child in root:
                if child.tag in ("Say", "Play", "Pause"):
                    call._hear(child, step)
                    if until is not None and call.clock >= until:
                        return
                elif child.tag == "Redirect":
                    next_url = urljoin(got, (child.text or "").strip())
                    break
                else:
                    call._end(
                        Outcome(
                            "error",
                            detail=f"<{child.tag}> is not allowed in a conference waitUrl"
                            " (Twilio error 13238)",
                        )
                    )
                    return
            url = next_url
        if one_pass:
            return
        if call.clock == before:
            call.clock += 1.0
