"""The simulated telephone network: far ends a <Dial> reaches, queues and conference rooms.

One Switch per call by default; give several SimulatedCalls the same Switch and they share
queues and rooms: a call enqueued by one can be dequeued by another's <Dial><Queue>, and two
calls that dial the same <Conference> name meet there. All calls on one switch share one time
line: each call's clock starts at 0 when it is dialled.
"""

from __future__ import annotations

import secrets
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .caller import SimulatedCall

#: The default far end: rings this long, answers, talks this long, then hangs up.
DEFAULT_RING = 2.0
DEFAULT_TALK = 5.0
#: How long a queued caller waits (virtual seconds) before the simulator stops, when a
#: dequeue is planned but later than this, or when the caller sits in a queue on a shared switch.
MAX_QUEUE_WAIT = 600.0
#: How long a caller waits in, or talks in, a conference room before the simulator stops.
MAX_CONFERENCE = 600.0
FAR_END_ANSWERS = ("answer", "busy", "no-answer", "failed")


class Hold(Protocol):
    """Where a call is when it is neither at a Gather nor ended: at a <Record>, in a queue or a
    conference room. The caller's actions go here; each ends or refuses the hold."""

    def press(self, keys: str) -> None: ...
    def say(self, words: str) -> None: ...
    def silence(self) -> None: ...
    def hangup(self) -> None: ...
    def record(self, words: str = "", seconds: float | None = None, finish: str | None = None) -> None: ...


@dataclass(frozen=True)
class FarEnd:
    """What the party a <Dial> reaches does.

    answer: answer | busy | no-answer | failed.  ring: seconds before it answers (a ring
    longer than the Dial's timeout is a no-answer).  talk: seconds it talks before it hangs up.
    caller_hangs_up: the caller hangs up this many seconds after the Dial starts (while it
    rings: DialCallStatus canceled).
    star_after: the caller presses * after this many seconds of talk (ends the leg only with
    hangupOnStar).  For a <Conference>, talk is how long this caller stays in the room.
    answered_by: in a <Dial> with several nouns (all ring at once), the target that answers
    ("+1555...", "client:alice", "sip:..."); the others ring on and are hung up. Default: the
    noun that rings the shortest (the first, when they ring alike).
    """

    answer: str = "answer"
    ring: float = DEFAULT_RING
    talk: float = DEFAULT_TALK
    caller_hangs_up: float | None = None
    star_after: float | None = None
    answered_by: str | None = None

    def __post_init__(self) -> None:
        if self.answer not in FAR_END_ANSWERS:
            raise ValueError(f"far end {self.answer!r}: use one of {', '.join(FAR_END_ANSWERS)}")


@dataclass(frozen=True)
class Agent:
    """An agent who dequeues the next caller `after` seconds in the queue and talks `talk` seconds.

    queue: only a caller entering this queue (default: any).  url: the agent dials with
    <Queue url>: that document runs on the caller's end before the bridge.  caller_hangs_up: the
    caller hangs up this many seconds after being dequeued (during the url: QueueResult
    bridging-in-process; later: the bridge ends there).  transfer: after talking, the agent
    moves the caller to this URL (QueueResult redirected-from-bridged).
    """

    after: float = 0.0
    talk: float = DEFAULT_TALK
    queue: str | None = None
    url: str | None = None
    caller_hangs_up: float | None = None
    transfer: str | None = None


@dataclass(frozen=True)
class Participant:
    """A participant (not a simulated call) who joins a conference room `after` seconds in."""

    after: float = 0.0
    talk: float = DEFAULT_TALK
    start: bool = True  # startConferenceOnEnter
    end_on_exit: bool = False  # endConferenceOnExit
    label: str = "participant"


@dataclass
class Queued:
    """A simulated call waiting in a queue, parked until someone dequeues it."""

    call: SimulatedCall
    sid: str
    entered: float  # the call's clock when it entered
    resume: object  # queue.Hold: how to bridge, hang up or time out this caller


@dataclass
class Queue:
    name: str
    sid: str = field(default_factory=lambda: "QU" + secrets.token_hex(16))
    waiting: deque[Queued] = field(default_factory=deque)
    waits: list[float] = field(default_factory=list)  # queue times of callers who left
    #: Calls whose <Dial><Queue> waits for someone to join this (empty) queue: queue.Dequeuing.
    dequeuers: deque[Any] = field(default_factory=deque)

    @property
    def average(self) -> int:
        return int(sum(self.waits) / len(self.waits)) if self.waits else 0


@dataclass
class Room:
    """A conference room: who is in it, whether it started, and its status events so far."""

    name: str
    sid: str = field(default_factory=lambda: "CF" + secrets.token_hex(16))
    started: bool = False
    ended: bool = False
    members: list[Any] = field(default_factory=list)  # conference.Member
    sequence: int = 0
    events: list[str] = field(default_factory=list)  # StatusCallbackEvent values, in order
    status: tuple[str, str, list[str]] | None = None  # statusCallback: url, method, events


@dataclass(frozen=True)
class Recording:
    """A recording the simulator made: what was said, how long, and a tiny WAV of silence."""

    sid: str
    url: str
    duration: int
    words: str

    @property
    def wav(self) -> bytes:
        return silent_wav(self.duration)


class Switch:
    """Far ends, queues and conference rooms shared by the simulated calls placed on it.

    A switch you create parks callers: a caller in a queue or waiting in a conference room
    that nobody has planned to pick up stays there (the call is still up) until another call
    on the switch dequeues it or starts the conference, or the caller hangs up. The switch a
    SimulatedCall makes for itself (park=False) stops such a call instead, as before: the
    outcome says the caller is still in the queue.
    """

    def __init__(
        self, *, park: bool = True, default: FarEnd | None = None, keep_silent_recordings: bool = True
    ) -> None:
        self.park = park
        self.default = default or FarEnd()
        #: "By default, silent recordings are saved by Twilio" (and go to the <Record> action).
        self.keep_silent_recordings = keep_silent_recordings
        self.far_ends: dict[str, FarEnd] = {}
        self.queues: dict[str, Queue] = {}
        self.rooms: dict[str, Room] = {}
        self.recordings: dict[str, Recording] = {}
        self._next_dials: deque[FarEnd] = deque()
        self._nth_dials: dict[int, FarEnd] = {}
        self._agents: deque[Agent] = deque()
        self._participants: dict[str | None, list[Participant]] = {}

    # -- what a test or scenario plans ------------------------------------------------------

    def far_end(self, target: str, far: FarEnd) -> None:
        """What `target` ("+15551234567", "client:alice", "sip:x@y") does whenever it is dialled."""
        self.far_ends[target] = far

    def next_dial(self, far: FarEnd) -> None:
        """What the far end of the next <Dial> does (whatever it dials); plans queue up in order,
        taken by the Dials that no `nth_dial` or `far_end` plan claims."""
        self._next_dials.append(far)

    def nth_dial(self, number: int, far: FarEnd) -> None:
        """What the far end of a call's `number`-th <Dial> (1-based, every <Dial> counts) does."""
        if number < 1:
            raise ValueError(f"dial {number}: count <Dial>s from 1")
        self._nth_dials[number] = far

    def dequeue(self, agent: Agent) -> None:
        """An agent dequeues the next caller to enter a queue, `agent.after` seconds later."""
        self._agents.append(agent)

    def join(self, participant: Participant, room: str | None = None) -> None:
        """A participant joins `room` (or the next room a call joins) `participant.after` s in."""
        self._participants.setdefault(room, []).append(participant)

    # -- what the verbs ask -----------------------------------------------------------------

    def far_end_for(self, targets: list[str], dial: int | None = None) -> FarEnd:
        """The plan for a <Dial> (the `dial`-th of its call) that rings `targets`: its
        nth_dial plan, else a target's own plan, else the next unclaimed next_dial plan."""
        if dial is not None and dial in self._nth_dials:
            return self._nth_dials.pop(dial)
        for target in targets:
            own = self.target_plan(target)
            if own is not None:
                return own
        if self._next_dials:
            return self._next_dials.popleft()
        return self.default

    def nth_plan(self, dial: int) -> FarEnd | None:
        """The nth_dial plan for a call's `dial`-th <Dial>, taken (None when there is none)."""
        return self._nth_dials.pop(dial, None)

    def target_plan(self, target: str) -> FarEnd | None:
        """What `target` ("number:+1555...", "client:alice") was planned to do, if anything."""
        for key in target_keys(target):
            if key in self.far_ends:
                return self.far_ends[key]
        return None

    def next_agent(self, queue: str | None = None) -> Agent | None:
        """The first planned agent for `queue` (or for any queue)."""
        for agent in self._agents:
            if agent.queue is None or agent.queue == queue:
                self._agents.remove(agent)
                return agent
        return None

    def participants_for(self, room: str) -> list[Participant]:
        return self._participants.pop(room, []) + self._participants.pop(None, [])

    def queue(self, name: str) -> Queue:
        if name not in self.queues:
            self.queues[name] = Queue(name)
        return self.queues[name]

    def room(self, name: str) -> Room:
        found = self.rooms.get(name)
        if found is None or found.ended:
            found = self.rooms[name] = Room(name)
        return found

    def record(self, account_sid: str, duration: int, words: str) -> Recording:
        sid = "RE" + secrets.token_hex(16)
        url = f"https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Recordings/{sid}"
        recording = Recording(sid, url, duration, words)
        self.recordings[sid] = recording
        return recording

    def recording_at(self, url: str) -> Recording | None:
        """The recording a RecordingUrl names (with or without .wav / .mp3), if this switch made it."""
        sid = url.rsplit("/", 1)[-1].split(".", 1)[0]
        return self.recordings.get(sid)


def target_keys(target: str) -> tuple[str, ...]:
    """The names a target answers to: "number:+1555" is also "+1555"."""
    bare = target.split(":", 1)[1] if target.startswith("number:") else target
    return (target, bare) if bare != target else (target,)


def callback(call: SimulatedCall, kind: str, method: str, url: str, fields: dict[str, str]) -> None:
    """A request whose reply Twilio does not run (status callbacks, an action after a hangup)."""
    step, _ = call._send(kind, method, url, fields, None)
    step.error = None  # any reply will do: nobody runs it


def silent_wav(seconds: int, rate: int = 8000) -> bytes:
    """A mono 8-bit PCM WAV of silence, `seconds` long (at most 10 s are stored: it is a stub)."""
    frames = b"\x80" * (rate * max(0, min(seconds, 10)))
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(frames),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate,
        1,
        8,
        b"data",
        len(frames),
    )
    return header + frames


class Parked:
    """A caller parked in a queue or a conference room: keys, words and recordings reach no one.

    Subclasses say where the caller is (`where`) and how they leave (`hangup`).
    """

    def where(self) -> str:
        raise NotImplementedError

    def _cannot(self, what: str) -> None:
        from .caller import SimulationError

        raise SimulationError(f"cannot {what}: {self.where()}")

    def press(self, keys: str) -> None:
        self._cannot(f"press {keys!r}")

    def say(self, words: str) -> None:
        self._cannot(f"say {words!r}")

    def silence(self) -> None:
        self._cannot("stay silent")

    def record(self, words: str = "", seconds: float | None = None, finish: str | None = None) -> None:
        self._cannot("record")
