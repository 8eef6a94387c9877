"""A simulated call put away as JSON-able data and taken up again, in this process or another.

`SimulatedCall.snapshot()` and `SimulatedCall.resume()` are the API; this module holds the one
copy of the format. The trainer page keeps its calls in the session store this way between two
clicks, so any worker can take the next click. Stored data outlives a deploy: a key is never
renamed or dropped, nor its meaning changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from xml.etree import ElementTree

from .transcript import Heard, Outcome, Step

if TYPE_CHECKING:
    from .caller import SimulatedCall
    from .signing import Signer
    from .transport import Transport

Call = TypeVar("Call", bound="SimulatedCall")


def take(call: SimulatedCall) -> dict[str, Any]:
    """`call` as data (see `SimulatedCall.snapshot`); SimulationError when it cannot be kept."""
    if call._held is not None or call._looping is not None:
        from .caller import SimulationError  # caller.py imports this module

        raise SimulationError(
            "a call cannot be kept while it is held in a queue, a recording or a loop: "
            "keep it while it waits at a <Gather>, or once it has ended"
        )
    waiting = call._waiting
    last = _last_state_step(call)
    outcome = call.transcript.outcome
    return {
        "to": call.to,
        "caller": call.caller,
        "base_url": call.base_url,
        "simulated_now": call.simulated_now,
        "clock": call.clock,
        "status": call._status,
        "answered": call._answered,
        "sequence": call._sequence,  # of the next status callback
        "waiting": None
        if waiting is None
        else {
            "gather": ElementTree.tostring(waiting.gather, encoding="unicode"),
            "url": waiting.doc_url,
            "rest": [ElementTree.tostring(v, encoding="unicode") for v in waiting.rest],
        },
        # Where the app last said the call was (X-IVR-State, -Trigger, -Language).
        "state": last.state if last else None,
        "trigger": last.trigger if last else None,
        "header_language": last.language if last else None,
        "since_input": [[h.kind, h.text, h.voice, h.language] for h in call._since_input],
        "outcome": None
        if outcome is None
        else {"kind": outcome.kind, "target": outcome.target, "detail": outcome.detail},
    }


def resume(
    cls: type[Call], transport: Transport, call_sid: str, data: dict[str, Any], signer: Signer | None
) -> Call:
    """A call of class `cls` taken up from `take`'s data (see `SimulatedCall.resume`)."""
    call = cls(
        transport,
        to=data["to"],
        caller=data["caller"],
        base_url=data["base_url"],
        signer=signer,
        call_sid=call_sid,
        simulated_now=data["simulated_now"],
    )
    call._status = data["status"]
    call._answered = bool(data["answered"])
    call._sequence = int(data["sequence"])
    # One step stands for the call so far: where the app said it was.
    resumed = Step(
        0,
        "resumed",
        "POST",
        call.voice_url,
        {},
        state=data["state"],
        trigger=data["trigger"],
        language=data["header_language"],
    )
    call.transcript.steps.append(resumed)
    waiting = data["waiting"]
    if waiting is not None:
        # Run the kept <Gather> and what follows it again: the caller waits at it as before
        # (what it says is heard onto the stand-in step, which no transcript shows).
        verbs = [ElementTree.fromstring(waiting["gather"])]
        verbs += [ElementTree.fromstring(v) for v in waiting["rest"]]
        call._run(verbs, waiting["url"], resumed)
    # After the re-run: it must not count as heard again, nor as time gone by.
    call.clock = float(data["clock"])
    call._since_input = [Heard(k, t, v, lang) for k, t, v, lang in data["since_input"]]
    if data["outcome"] is not None:
        call.transcript.outcome = Outcome(**data["outcome"])
    return call


def _last_state_step(call: SimulatedCall) -> Step | None:
    for step in reversed(call.transcript.steps):
        if step.state:
            return step
    return None
