"""<Enqueue>, its waitUrl loop, <Leave>, and <Dial><Queue> as Twilio runs them.

The caller hears the waitUrl document, fetched again each time it ends (its <Redirect> names
the next one), until an agent dequeues the caller (switch.Agent, or another call's
<Dial><Queue> on the same Switch), <Leave> or <Hangup> in the wait document, or the caller
hangs up; then the action URL with QueueResult and QueueTime, or the verb after <Enqueue>.
Every QueueResult Twilio documents is produced but system-error ("The Twilio system
malfunctioned during the enqueue process"), which no TwiML or scenario can cause: bridged,
bridging-in-process and redirected-from-bridged (an Agent's caller_hangs_up and transfer),
error (a failing or invalid wait document), hangup, leave, redirected (SimulatedCall.redirect,
Twilio's call update) and queue-full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from xml.etree import ElementTree

from .switch import MAX_QUEUE_WAIT, Agent, Parked, Queue, Queued, callback
from .transcript import Heard, Outcome, Step
from .transport import join_url
from .twilio_errors import DOCUMENT_PARSE_FAILURE, INVALID_CONTENT_TYPE

if TYPE_CHECKING:
    from .caller import SimulatedCall

DEFAULT_MAX_SIZE = 1000
HOLD_MUSIC_SECONDS = 30.0  # one track of Twilio's default classical playlist
_WAIT_VERBS = ("Say", "Play", "Pause")
#: What a waitUrl document may hold (the Enqueue reference); anything else is QueueResult error.
_ALLOWED_IN_WAIT = (*_WAIT_VERBS, "Hangup", "Redirect", "Leave", "Gather")


@dataclass
class QueueHold(Parked):
    """A caller parked in a queue on a shared switch: only a hang-up (or a dequeue) moves it."""

    call: SimulatedCall
    verb: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]
    step: Step
    queue: Queue
    entered: float

    def where(self) -> str:
        return (
            f"the caller is waiting in queue {self.queue.name!r} (hang up, or dequeue "
            "it with <Dial><Queue> from another call on the same Switch)"
        )

    def hangup(self) -> None:
        self.call._held = None
        _left(self, "hangup")


@dataclass(eq=False)
class Dequeuing(Parked):
    """An agent's <Dial><Queue> waiting at an empty queue, on a shared switch, for the next
    caller to join (until its timeout, on the switch's shared time line)."""

    call: SimulatedCall
    verb: ElementTree.Element
    noun: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]
    step: Step
    queue: Queue
    since: float
    timeout: float
    talk: float

    def where(self) -> str:
        return (
            f"the <Dial><Queue> waits for a caller to join queue {self.queue.name!r} (hang up, "
            "or enqueue a call on the same Switch)"
        )

    def hangup(self) -> None:
        """The agent gives up while its Dial waits: the dialled call is canceled."""
        self.call._held = None
        if self in self.queue.dequeuers:
            self.queue.dequeuers.remove(self)
        self._end({"DialCallStatus": "canceled", "DialCallDuration": "0", "DialBridged": "false"}, True)

    def _end(self, fields: dict[str, str], caller_gone: bool = False) -> None:
        from . import dial

        target = f"queue:{self.queue.name}"
        dial.finish(
            self.call,
            self.verb,
            self.doc_url,
            self.rest,
            self.step,
            fields,
            target=target,
            caller_gone=caller_gone,
        )


def enqueue(
    call: SimulatedCall, verb: ElementTree.Element, doc_url: str, rest: list[ElementTree.Element], step: Step
) -> None:
    """Put the caller in the queue and run the wait loop until something takes it out."""
    queue = call.switch.queue((verb.text or "").strip())
    hold = QueueHold(call, verb, doc_url, rest, step, queue, call.clock)
    if len(queue.waiting) >= _max_size(verb):
        _left(hold, "queue-full")
        return
    entry = Queued(call, queue.sid, call.clock, hold)
    queue.waiting.append(entry)
    if _meet_dequeuer(queue, entry):
        return
    agent = call.switch.next_agent(queue.name)
    if agent is not None:
        until = call.clock + min(agent.after, MAX_QUEUE_WAIT)
        result = _wait(hold, until)
        if result is None and agent.after <= MAX_QUEUE_WAIT:
            _bridge_planned(hold, agent)
            return
        _after_wait(hold, result or "bound")
        return
    result = _wait(hold, None, one_pass=True)
    if result is not None:
        _after_wait(hold, result)
    elif call.switch.park:
        call._held = hold  # on a shared switch: stays in the queue until dequeued or hung up
    else:
        _drop(hold)
        call._end(Outcome("enqueue", target=queue.name))  # still in the queue: nobody dequeued it


def dial_queue(
    agent: SimulatedCall,
    verb: ElementTree.Element,
    noun: ElementTree.Element,
    doc_url: str,
    rest: list[ElementTree.Element],
    step: Step,
) -> None:
    """<Dial><Queue>: "the caller will be connected with the first enqueued call in the
    specified queue. If the queue is empty, Dial will wait until the next person joins the
    queue or until the <Dial> timeout duration is reached. If the queue does not exist, Dial
    will post an error status to its action URL." On a switch of its own nobody else can join,
    so an empty queue waits out the timeout (DialCallStatus no-answer); on a shared switch the
    call waits there for the next call to enqueue."""
    from . import dial

    name = (noun.text or "").strip()
    talk = agent.switch.far_end_for([f"queue:{name}"], agent.dials).talk
    queue = agent.switch.queues.get(name)
    timeout = float(_int(verb.get("timeout"), dial.DEFAULT_TIMEOUT))
    waiting = Dequeuing(
        agent, verb, noun, doc_url, rest, step, queue or Queue(name), agent.clock, timeout, talk
    )
    if queue is None:
        waiting._end({"DialCallStatus": "failed", "DialCallDuration": "0", "DialBridged": "false"})
    elif queue.waiting:
        _bridge(waiting, queue.waiting[0])
    elif agent.switch.park:
        queue.dequeuers.append(waiting)
        agent._held = waiting
    else:
        agent.clock += timeout  # nobody joined in time
        waiting._end({"DialCallStatus": "no-answer", "DialCallDuration": "0", "DialBridged": "false"})


def _meet_dequeuer(queue: Queue, entry: Queued) -> bool:
    """A caller just joined: a <Dial><Queue> waiting there takes it, unless its timeout ran
    out before the caller came (then that Dial ends no-answer). True when the caller was taken."""
    caller = entry.call
    while queue.dequeuers and entry in queue.waiting:
        waiting: Dequeuing = queue.dequeuers.popleft()
        waiting.call._held = None
        deadline = waiting.since + waiting.timeout
        if caller.clock > deadline:
            waiting.call.clock = max(waiting.call.clock, deadline)
            waiting._end({"DialCallStatus": "no-answer", "DialCallDuration": "0", "DialBridged": "false"})
            continue
        waiting.call.clock = max(waiting.call.clock, caller.clock)
        _bridge(waiting, entry)
        return True
    return entry not in queue.waiting


def _bridge(waiting: Dequeuing, entry: Queued) -> None:
    """The agent's <Dial><Queue> connects with the queued caller `entry`: its <Queue url> runs
    on the caller's end, they talk, then both go on (the caller's <Enqueue> action: bridged)."""
    agent, queue = waiting.call, waiting.queue
    queue.waiting.remove(entry)
    caller, hold = entry.call, entry.resume
    assert isinstance(hold, QueueHold)
    caller._held = None
    caller.clock = max(caller.clock, agent.clock)
    queue_time = caller.clock - entry.entered
    url = waiting.noun.get("url")
    if url:
        _announce(
            caller, hold, urljoin(waiting.doc_url, url), waiting.noun.get("method", "POST"), agent.call_sid
        )
    caller.clock += waiting.talk
    agent.clock = max(agent.clock, caller.clock)
    fields = {
        "DialCallStatus": "completed",
        "DialCallDuration": str(int(waiting.talk)),
        "DialCallSid": caller.call_sid,
        "DialBridged": "true",
        "QueueSid": queue.sid,
    }
    if not caller.ended:
        _left(hold, "bridged", queue_time=queue_time)
    waiting._end(fields)


def _bridge_planned(hold: QueueHold, agent: Agent) -> None:
    """A planned agent (switch.Agent) dequeues the caller: maybe a <Queue url> first, then they
    talk; the caller may hang up during either, the agent may transfer the caller after."""
    call = hold.call
    connecting = call.clock
    if agent.url:
        _announce(call, hold, urljoin(hold.doc_url, agent.url), "POST", "CA" + "0" * 32)
    announced = call.clock - connecting
    hangs_up = agent.caller_hangs_up
    if hangs_up is not None and hangs_up < announced:
        # "bridging-in-process: Twilio has been instructed to bridge the enqueued party."
        call.clock = connecting + hangs_up
        _left(hold, "bridging-in-process", queue_time=agent.after, caller_gone=True)
        return
    call._record(hold.step, Heard("pause", "agent"))
    talk, gone = agent.talk, False
    if hangs_up is not None and hangs_up - announced < talk:
        talk, gone = max(0.0, hangs_up - announced), True
    call.clock += talk  # bridged with the agent until one of them hangs up
    if agent.transfer and not gone:
        # "redirected-from-bridged: The queued and then successfully bridged session was
        # transferred out."
        redirected(hold, "redirected-from-bridged", queue_time=agent.after)
        call._fetch("redirect", "POST", urljoin(hold.doc_url, agent.transfer), {}, "transfer")
        return
    _left(hold, "bridged", queue_time=agent.after, caller_gone=gone)


def _announce(caller: SimulatedCall, hold: QueueHold, url: str, method: str, dequeuer: str) -> None:
    """<Queue url>: "executed on the queued caller's end before the two parties are connected"."""
    waited = caller.clock - hold.entered
    fields = {"QueueSid": hold.queue.sid, "QueueTime": str(int(waited)), "DequeingCallSid": dequeuer}
    step, root, _ = caller._request("dequeue", method.upper(), url, fields, None)
    for child in root if root is not None else []:
        if child.tag in _WAIT_VERBS:
            caller._hear(child, step)


def _wait(hold: QueueHold, until: float | None, *, one_pass: bool = False) -> str | None:
    """Play the wait documents until `until`; None when it got there, else what ended the wait:
    leave, hangup (a <Hangup> there), error (the call failed) or bound (the simulator's limit)."""
    call, verb = hold.call, hold.verb
    wait_url = verb.get("waitUrl")
    wait_method = verb.get("waitUrlMethod", "POST").upper()
    url, method = (join_url(hold.doc_url, wait_url), wait_method) if wait_url else ("", "GET")
    while until is None or call.clock < until:
        if call.clock - hold.entered >= MAX_QUEUE_WAIT:
            return "bound"
        before = call.clock
        if not url:
            # No waitUrl: Twilio's classical playlist. waitUrl="": "If you don't wish anything
            # to be played while the caller is waiting in the queue, set waitUrl to an empty string".
            if wait_url is None:
                call._record(hold.step, Heard("play", "hold music"))
            call.clock += HOLD_MUSIC_SECONDS if until is None else min(HOLD_MUSIC_SECONDS, until - call.clock)
        else:
            step, root, got = _fetch_wait(call, method, url, _wait_fields(hold))
            if root is None:
                return "error"
            next_url, next_method = (join_url(hold.doc_url, wait_url or ""), wait_method)
            for child in root:
                if child.tag in _WAIT_VERBS:
                    call._hear(child, step)
                    if until is not None and call.clock >= until:
                        call.clock = until  # the agent picks up mid-music: it stops there
                        return None
                elif child.tag == "Redirect":
                    next_url = join_url(got, (child.text or "").strip())
                    next_method = child.get("method", "POST").upper()
                    break
                elif child.tag in ("Leave", "Hangup"):
                    return child.tag.lower()
                elif child.tag in _ALLOWED_IN_WAIT:  # <Gather>: Twilio runs it; the simulator not yet
                    detail = f"the simulator does not run <{child.tag}> in a waitUrl document"
                    call._end(Outcome("error", detail=detail))
                    return "error"
                else:
                    # "error: The TwiML contained an error, either in the <Enqueue> verb itself
                    # or in the TwiML retrieved from a waitUrl."
                    step.error = f"<{child.tag}> is not allowed in a waitUrl document"
                    return "error"
            url, method = next_url, next_method
        if one_pass:
            return None
        if call.clock == before:
            call.clock += 1.0  # an empty wait document: Twilio would fetch it again at once
    return None


def _fetch_wait(
    call: SimulatedCall, method: str, url: str, fields: dict[str, str]
) -> tuple[Step, ElementTree.Element | None, str]:
    """Fetch a wait document: (step, root, its URL). "The URL may return an MP3 file, a WAV
    file, or a TwiML document": audio is played as a <Play> of the URL. A wait URL that fails
    (HTTP error, no answer, not XML) takes the caller out of the queue (QueueResult error)
    instead of ending the call as a failed voice URL would; TwiML the simulator cannot run
    still ends the call."""
    from .caller import _doc_url, document

    step, code = call._send("wait", method, url, fields, None)
    if code == INVALID_CONTENT_TYPE and step.content_type.startswith("audio/"):
        step.error = None
        play = ElementTree.Element("Play")
        play.text = _doc_url(step.url, method)
        root = ElementTree.Element("Response")
        root.append(play)
        return step, root, url
    if code is None:
        doc = document(step.twiml)
        if doc.root is None:
            step.error, step.code = doc.error, DOCUMENT_PARSE_FAILURE
            return step, None, url
        if doc.error is not None:
            step.error = doc.error
            call._end(Outcome("error", detail=step.error))
            return step, None, url
        return step, doc.root, _doc_url(step.url, method)
    step.code = code
    return step, None, url


def _wait_fields(hold: QueueHold) -> dict[str, str]:
    queue, call = hold.queue, hold.call
    position = next((i for i, q in enumerate(queue.waiting, 1) if q.call is call), len(queue.waiting))
    return {
        "QueueSid": queue.sid,
        "QueuePosition": str(position),
        "QueueTime": str(int(call.clock - hold.entered)),
        "AvgQueueTime": str(queue.average),
        "CurrentQueueSize": str(len(queue.waiting)),
        "MaxQueueSize": str(_max_size(hold.verb)),
    }


def _after_wait(hold: QueueHold, result: str) -> None:
    if result == "error" and hold.call.ended:
        _drop(hold)  # the simulator could not run the wait document: the call ended there
    elif result == "bound":
        _drop(hold)
        waited = int(hold.call.clock - hold.entered)
        detail = f"still in the queue after {waited}s (the simulator stops at {int(MAX_QUEUE_WAIT)}s)"
        hold.call._end(Outcome("enqueue", target=hold.queue.name, detail=detail))
    elif result == "hangup":
        _left(hold, "hangup", hung_up_by_app=True)
    else:
        _left(hold, result)


def redirected(hold: QueueHold, result: str = "redirected", *, queue_time: float | None = None) -> None:
    """The call was moved out of the queue (SimulatedCall.redirect, Twilio's call update; or,
    bridged, by its agent): the action hears QueueResult, but the call runs the new URL, not
    the action's reply."""
    call = hold.call
    _drop(hold)
    waited = call.clock - hold.entered if queue_time is None else queue_time
    hold.queue.waits.append(waited)
    action = hold.verb.get("action")
    if action:
        fields = {"QueueResult": result, "QueueSid": hold.queue.sid, "QueueTime": str(int(waited))}
        callback(
            call, "action", hold.verb.get("method", "POST").upper(), urljoin(hold.doc_url, action), fields
        )


def _drop(hold: QueueHold) -> None:
    hold.queue.waiting = type(hold.queue.waiting)(q for q in hold.queue.waiting if q.call is not hold.call)


def _left(
    hold: QueueHold,
    result: str,
    *,
    queue_time: float | None = None,
    hung_up_by_app: bool = False,
    caller_gone: bool = False,
) -> None:
    """The call left the queue: the action with QueueResult, or the verb after <Enqueue>. When
    the call is over (a hang-up), the action is requested but its TwiML is not run."""
    call, verb = hold.call, hold.verb
    _drop(hold)
    waited = call.clock - hold.entered if queue_time is None else queue_time
    hold.queue.waits.append(waited)
    fields = {"QueueResult": result, "QueueSid": hold.queue.sid, "QueueTime": str(int(waited))}
    action = verb.get("action")
    method = verb.get("method", "POST").upper()
    if result == "hangup" or caller_gone:
        if action:
            callback(call, "action", method, urljoin(hold.doc_url, action), fields)
        call._end(Outcome("hangup" if hung_up_by_app else "caller-hangup", target=hold.queue.name))
    elif action:
        call._fetch("action", method, urljoin(hold.doc_url, action), fields, f"queue: {result}")
    else:
        call._run(hold.rest, hold.doc_url, hold.step)


def _max_size(verb: ElementTree.Element) -> int:
    return _int(verb.get("maxQueueSize"), DEFAULT_MAX_SIZE)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
