"""<Enqueue>, its waitUrl loop, <Leave>, and <Dial><Queue> as Twilio runs them.

The caller hears the waitUrl document, fetched again each time it ends (its <Redirect> names
the next one), until an agent dequeues the caller (switch.Agent, or another call's
<Dial><Queue> on the same Switch), <Leave> or <Hangup> in the wait document, or the caller
hangs up; then the action URL with QueueResult and QueueTime, or the verb after <Enqueue>.
A wait URL that fails is QueueResult error; SimulatedCall.redirect (Twilio's call update) is
redirected. system-shutdown (Twilio shutting down under the queue) is not simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from xml.etree import ElementTree

from .switch import MAX_QUEUE_WAIT, Parked, Queue, Queued, callback
from .transcript import Heard, Outcome, Step
from .twilio_errors import DOCUMENT_PARSE_FAILURE

if TYPE_CHECKING:
    from .caller import SimulatedCall

DEFAULT_MAX_SIZE = 1000
HOLD_MUSIC_SECONDS = 30.0  # one track of Twilio's default classical playlist
_WAIT_VERBS = ("Say", "Play", "Pause")


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


def enqueue(
    call: SimulatedCall, verb: ElementTree.Element, doc_url: str, rest: list[ElementTree.Element], step: Step
) -> None:
    """Put the caller in the queue and run the wait loop until something takes it out."""
    queue = call.switch.queue((verb.text or "").strip())
    hold = QueueHold(call, verb, doc_url, rest, step, queue, call.clock)
    if len(queue.waiting) >= _int(verb.get("maxQueueSize"), DEFAULT_MAX_SIZE):
        _left(hold, "queue-full")
        return
    entry = Queued(call, queue.sid, call.clock, hold)
    queue.waiting.append(entry)
    agent = call.switch.next_agent()
    if agent is not None:
        until = call.clock + min(agent.after, MAX_QUEUE_WAIT)
        result = _wait(hold, until)
        if result is None and agent.after <= MAX_QUEUE_WAIT:
            call._record(step, Heard("pause", "agent"))
            call.clock += agent.talk  # bridged with the agent until the agent hangs up
            _left(hold, "bridged", queue_time=agent.after)
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
    """<Dial><Queue>: "the caller will be connected with the first enqueued call in the queue"."""
    from . import dial

    name = (noun.text or "").strip()
    target = f"queue:{name}"
    queue = agent.switch.queues.get(name)
    fields = {"DialCallStatus": "failed", "DialCallDuration": "0", "DialCallSid": ""}
    if queue is not None and not queue.waiting:
        agent.clock += _int(verb.get("timeout"), dial.DEFAULT_TIMEOUT)  # nobody joined in time
        fields["DialCallStatus"] = "no-answer"
    elif queue is not None:
        entry = queue.waiting.popleft()
        caller, hold = entry.call, entry.resume
        assert isinstance(hold, QueueHold)
        caller._held = None
        caller.clock = max(caller.clock, agent.clock)
        queue_time = caller.clock - entry.entered
        if noun.get("url"):
            _announce(caller, noun, hold, agent.call_sid, queue_time)
        talk = agent.switch.far_end_for([target]).talk
        caller.clock += talk
        agent.clock = max(agent.clock, caller.clock)
        fields = {
            "DialCallStatus": "completed",
            "DialCallDuration": str(int(talk)),
            "DialCallSid": caller.call_sid,
        }
        fields["QueueSid"] = queue.sid
        if not caller.ended:
            _left(hold, "bridged", queue_time=queue_time)
    dial.finish(agent, verb, doc_url, rest, step, fields, target=target)


def _announce(
    caller: SimulatedCall, noun: ElementTree.Element, hold: QueueHold, dequeuer: str, waited: float
) -> None:
    """<Queue url>: "executed on the queued caller's end before the two parties are connected"."""
    fields = {"QueueSid": hold.queue.sid, "QueueTime": str(int(waited)), "DequeingCallSid": dequeuer}
    url = urljoin(hold.doc_url, noun.get("url", ""))
    step, root, _ = caller._request("dequeue", noun.get("method", "POST").upper(), url, fields, None)
    for child in root if root is not None else []:
        if child.tag in _WAIT_VERBS:
            caller._hear(child, step)


def _wait(hold: QueueHold, until: float | None, *, one_pass: bool = False) -> str | None:
    """Play the wait documents until `until`; None when it got there, else what ended the wait:
    leave, hangup (a <Hangup> there), error (the call failed) or bound (the simulator's limit)."""
    call, verb = hold.call, hold.verb
    wait_url = verb.get("waitUrl")
    wait_method = verb.get("waitUrlMethod", "POST").upper()
    url, method = (urljoin(hold.doc_url, wait_url), wait_method) if wait_url else ("", "GET")
    while until is None or call.clock < until:
        if call.clock - hold.entered >= MAX_QUEUE_WAIT:
            return "bound"
        before = call.clock
        if not url:
            call._record(hold.step, Heard("play", "hold music"))
            call.clock += HOLD_MUSIC_SECONDS if until is None else min(HOLD_MUSIC_SECONDS, until - call.clock)
        else:
            step, root, got = _fetch_wait(call, method, url, _wait_fields(hold))
            if root is None:
                return "error"
            next_url, next_method = (urljoin(hold.doc_url, wait_url or ""), wait_method)
            for child in root:
                if child.tag in _WAIT_VERBS:
                    call._hear(child, step)
                    if until is not None and call.clock >= until:
                        return None  # the agent picks up mid-music
                elif child.tag == "Redirect":
                    next_url = urljoin(got, (child.text or "").strip())
                    next_method = child.get("method", "POST").upper()
                    break
                elif child.tag in ("Leave", "Hangup"):
                    return child.tag.lower()
                else:
                    call._end(
                        Outcome(
                            "error", detail=f"the simulator does not run <{child.tag}> in a waitUrl document"
                        )
                    )
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
    """Fetch a wait document: (step, root, its URL). A wait URL that fails (HTTP error, no
    answer, not XML) takes the caller out of the queue (QueueResult error) instead of ending
    the call as a failed voice URL would; TwiML the simulator cannot run still ends the call."""
    from .caller import SimulationError, _doc_url

    step, code = call._send("wait", method, url, fields, None)
    if code is None:
        try:
            root = ElementTree.fromstring(step.twiml)
        except ElementTree.ParseError as exc:
            step.error, step.code = f"not XML: {exc}", DOCUMENT_PARSE_FAILURE
            return step, None, url
        try:
            call._check_supported(root)
        except SimulationError as exc:
            step.error = str(exc)
            call._end(Outcome("error", detail=step.error))
            return step, None, url
        return step, root, _doc_url(step.url, method)
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


def redirected(hold: QueueHold) -> None:
    """The call was redirected out of the queue (SimulatedCall.redirect, Twilio's call update):
    the action hears QueueResult redirected, but the call runs the new URL, not its reply."""
    call = hold.call
    _drop(hold)
    waited = call.clock - hold.entered
    hold.queue.waits.append(waited)
    action = hold.verb.get("action")
    if action:
        fields = {"QueueResult": "redirected", "QueueSid": hold.queue.sid, "QueueTime": str(int(waited))}
        callback(
            call, "action", hold.verb.get("method", "POST").upper(), urljoin(hold.doc_url, action), fields
        )


def _drop(hold: QueueHold) -> None:
    hold.queue.waiting = type(hold.queue.waiting)(q for q in hold.queue.waiting if q.call is not hold.call)


def _left(
    hold: QueueHold, result: str, *, queue_time: float | None = None, hung_up_by_app: bool = False
) -> None:
    """The call left the queue: the action with QueueResult, or the verb after <Enqueue>."""
    call, verb = hold.call, hold.verb
    _drop(hold)
    waited = call.clock - hold.entered if queue_time is None else queue_time
    hold.queue.waits.append(waited)
    fields = {"QueueResult": result, "QueueSid": hold.queue.sid, "QueueTime": str(int(waited))}
    action = verb.get("action")
    method = verb.get("method", "POST").upper()
    if result == "hangup":
        if action:
            callback(call, "action", method, urljoin(hold.doc_url, action), fields)
        call._end(Outcome("hangup" if hung_up_by_app else "caller-hangup", target=hold.queue.name))
    elif action:
        call._fetch("action", method, urljoin(hold.doc_url, action), fields, f"queue: {result}")
    else:
        call._run(hold.rest, hold.doc_url, hold.step)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
