"""One `transitions.Machine` per flow, built once; calls are light models fired through it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transitions import Machine, MachineError

from ivr.engine.call import Call
from ivr.engine.flow import Flow
from ivr.engine.speech import SpeechTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What one trigger did to a call."""

    trigger: str
    source: str
    dest: str
    moved: bool


class FlowMachine:
    """A flow's shared machine plus the tables the engine reads for every request.

    The machine is built with no model: a call is passed to `Event.trigger` for the length of
    one request and never registered, so nothing stays behind after it.
    """

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.machine = Machine(
            model=None,
            auto_transitions=False,
            ignore_invalid_triggers=False,
            name=flow.name,
            **flow.machine_config(),
        )
        self.triggers_at: dict[str, frozenset[str]] = {
            state: frozenset(e.trigger for e in flow.edges_from(state)) for state in flow.states
        }
        #: The keys that do something at each state (computed once: a scan of every edge).
        self.keys_at: dict[str, tuple[str, ...]] = {state: flow.keys_at(state) for state in flow.states}
        self.speech = SpeechTable(flow)

    def fire(self, call: Call, trigger: str) -> Step:
        """Fire `trigger` on `call`; a trigger the state does not declare raises MachineError."""
        source = call.state
        if trigger not in self.triggers_at.get(source, frozenset()):
            raise MachineError(f"'{trigger}' is not declared from state '{source}' in {self.flow.file}")
        moved = bool(self.machine.events[trigger].trigger(call))
        log.debug("%s: %s --%s--> %s", self.flow.name, source, trigger, call.state)
        return Step(trigger, source, call.state, moved)
