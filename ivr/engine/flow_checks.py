"""Graph checks on a parsed flow: reachability, ways out, dead or shadowed transitions."""

from __future__ import annotations

from collections import deque

from ivr.engine.flow import KEY_TRIGGERS, Flow

Problem = tuple[str, str | None, str | None]  # message, state, field

_REQUIRED_TRIGGERS = {
    "start": ("start",),
    "menu": ("no_input", "invalid"),
    "entry": ("entry", "no_input"),
}


def reachable_states(flow: Flow) -> set[str]:
    """Return every state a call can reach from the flow's initial state."""
    seen = {flow.initial}
    queue = deque([flow.initial])
    while queue:
        state = queue.popleft()
        for edge in flow.edges_from(state):
            if edge.dest not in seen:
                seen.add(edge.dest)
                queue.append(edge.dest)
    return seen


def check_graph(flow: Flow) -> list[Problem]:
    """Return every structural problem of the flow (empty when it is sound)."""
    problems: list[Problem] = []
    reachable = reachable_states(flow)
    if flow.states[flow.initial].type != "start":
        problems.append(("the initial state must be of type start", flow.initial, "type"))
    for name, spec in flow.states.items():
        if spec.type == "start" and name != flow.initial:
            problems.append(("only the initial state may be of type start", name, "type"))
        if name not in reachable:
            problems.append(("unreachable: no transition from the initial state leads here", name, "name"))
        edges = flow.edges_from(name)
        if spec.terminal and edges:
            problems.append(
                (f"a {spec.type} state ends the call, so its transitions never fire", name, "transitions")
            )
        if not spec.terminal and not edges:
            problems.append(("no way out: no transition leaves this state", name, "transitions"))
        triggers = {e.trigger for e in edges}
        for needed in _REQUIRED_TRIGGERS.get(spec.type, ()):
            if needed not in triggers:
                problems.append((f"a {spec.type} state needs a '{needed}' transition", name, "transitions"))
        for key in spec.speech:
            if KEY_TRIGGERS[key] not in triggers:
                problems.append((f"words for key '{key}', which does nothing here", name, f"speech.{key}"))
        problems.extend(_shadowing(flow, name))
    return problems


def _shadowing(flow: Flow, state: str) -> list[Problem]:
    problems: list[Problem] = []
    by_trigger: dict[str, list[bool]] = {}
    for edge in flow.edges_from(state):
        earlier = by_trigger.setdefault(edge.trigger, [])
        if earlier and not earlier[-1]:
            problems.append(
                (
                    f"duplicate key: an earlier '{edge.trigger}' transition has no "
                    "conditions, so this one never fires",
                    state,
                    "transitions",
                )
            )
        earlier.append(edge.conditional)
    for trigger, conditional in by_trigger.items():
        if conditional[-1]:
            problems.append(
                (
                    f"the last '{trigger}' transition is conditional, so some input "
                    "would do nothing; end with one that has no conditions",
                    state,
                    "transitions",
                )
            )
    return problems
