"""Flow coverage: which states and transitions of a flow a set of simulated calls exercised."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ivr.engine.flow import Flow
from ivr.qa.plural import plural
from ivr.sim import Transcript


class Transition(NamedTuple):
    """One transition as the app reports it: X-IVR-Trigger, previous and new X-IVR-State."""

    trigger: str
    source: str
    dest: str

    def __str__(self) -> str:
        return f"{self.source} --{self.trigger}--> {self.dest}"


def flow_transitions(flow: Flow) -> tuple[Transition, ...]:
    """Every distinct (trigger, source, dest) of the flow, in file order."""
    return tuple(dict.fromkeys(Transition(e.trigger, e.source, e.dest) for e in flow.edges))


def conditional_transitions(flow: Flow) -> frozenset[Transition]:
    """Transitions that fire only when some condition holds (or an earlier one does not).

    A transition without conditions that follows a conditional one for the same key and state
    is a fallback: it fires only when the earlier conditions fail, so it is conditional too.
    """
    guarded: dict[Transition, bool] = {}
    conditional_before: set[tuple[str, str]] = set()
    for edge in flow.edges:
        key = (edge.source, edge.trigger)
        transition = Transition(edge.trigger, edge.source, edge.dest)
        guarded[transition] = guarded.get(transition, True) and (
            edge.conditional or key in conditional_before
        )
        if edge.conditional:
            conditional_before.add(key)
    return frozenset(t for t, conditional in guarded.items() if conditional)


def plainly_reachable(flow: Flow) -> set[str]:
    """States a call reaches from the initial state through unconditional transitions only."""
    conditional = conditional_transitions(flow)
    plain = [t for t in flow_transitions(flow) if t not in conditional]
    seen = {flow.initial}
    todo = [flow.initial]
    while todo:
        state = todo.pop()
        for t in plain:
            if t.source == state and t.dest not in seen:
                seen.add(t.dest)
                todo.append(t.dest)
    return seen


def transitions_in(transcript: Transcript, initial: str) -> list[Transition]:
    """The transitions one call went through, from its steps' X-IVR-State and X-IVR-Trigger.

    The source of a step is the state of the previous step that reported one; the first such
    step comes from `initial` by 'start' when it reports no trigger of its own.
    """
    found: list[Transition] = []
    previous: str | None = None
    for step in transcript.steps:
        if step.state is None:
            continue
        trigger = step.trigger or ("start" if previous is None else None)
        if trigger is not None:
            found.append(Transition(trigger, previous or initial, step.state))
        previous = step.state
    return found


@dataclass(frozen=True)
class CoverageReport:
    """States and transitions of one flow that calls exercised, and the ones they missed."""

    flow: str
    calls: int
    states: tuple[str, ...]
    covered_states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    covered_transitions: tuple[Transition, ...]
    conditional: frozenset[Transition]
    #: Transitions the calls went through that the flow does not have (wrong flow, or a bug).
    unknown_transitions: tuple[Transition, ...] = ()

    @property
    def missed_states(self) -> tuple[str, ...]:
        covered = set(self.covered_states)
        return tuple(s for s in self.states if s not in covered)

    @property
    def missed_transitions(self) -> tuple[Transition, ...]:
        covered = set(self.covered_transitions)
        return tuple(t for t in self.transitions if t not in covered)

    @property
    def state_ratio(self) -> float:
        return len(self.covered_states) / len(self.states) if self.states else 1.0

    @property
    def transition_ratio(self) -> float:
        return len(self.covered_transitions) / len(self.transitions) if self.transitions else 1.0

    def render(self, detail: bool = False) -> str:
        """What the calls did not reach: the missed states, and the missed transitions counted.

        With `detail`, the header with the percentages and every missed transition as well
        (conditional ones marked).
        """
        missed_states, missed = self.missed_states, self.missed_transitions
        conditional = sum(1 for t in missed if t in self.conditional)
        if not detail and not (missed_states or missed):
            lines = [f"'{self.flow}': every state and transition reached"]
        elif not detail:
            lines = [
                f"not reached on '{self.flow}': {plural(len(missed_states), 'state')}, "
                f"{plural(len(missed), 'transition')}"
                + (f" ({conditional} conditional)" if conditional else "")
            ]
            lines.extend(_wrapped(missed_states, "  states: "))
        else:
            lines = [
                f"coverage of flow '{self.flow}' by {plural(self.calls, 'call')}",
                f"  states       {len(self.covered_states):4d}/{len(self.states):<4d} "
                f"{self.state_ratio:7.1%}",
                f"  transitions  {len(self.covered_transitions):4d}/{len(self.transitions):<4d} "
                f"{self.transition_ratio:7.1%}",
            ]
            lines.append(f"missed states ({len(missed_states)}):" if missed_states else "missed states: none")
            lines.extend(f"  {state}" for state in missed_states)
            lines.append(f"missed transitions ({len(missed)}):" if missed else "missed transitions: none")
            for t in missed:
                lines.append(f"  {t}" + ("  (conditional)" if t in self.conditional else ""))
        if self.unknown_transitions:
            lines.append(
                f"transitions not in the flow ({len(self.unknown_transitions)}); "
                "is this the flow the app runs?"
            )
            lines.extend(f"  {t}" for t in self.unknown_transitions)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def listed(ts: Iterable[Transition]) -> list[dict[str, Any]]:
            return [{**t._asdict(), "conditional": t in self.conditional} for t in ts]

        return {
            "flow": self.flow,
            "calls": self.calls,
            "state_ratio": self.state_ratio,
            "transition_ratio": self.transition_ratio,
            "states": {
                "total": len(self.states),
                "covered": list(self.covered_states),
                "missed": list(self.missed_states),
            },
            "transitions": {
                "total": len(self.transitions),
                "covered": listed(self.covered_transitions),
                "missed": listed(self.missed_transitions),
            },
            "unknown_transitions": listed(self.unknown_transitions),
        }


def measure(flow: Flow, transcripts: list[Transcript]) -> CoverageReport:
    """Measure which states and transitions of `flow` the calls of `transcripts` exercised."""
    transitions = flow_transitions(flow)
    known = set(transitions)
    seen_states: set[str] = set()
    seen: dict[Transition, None] = {}
    for transcript in transcripts:
        for step in transcript.steps:
            if step.state is not None:
                seen_states.add(step.state)
        for t in transitions_in(transcript, flow.initial):
            seen[t] = None
            seen_states.add(t.source)
    return CoverageReport(
        flow=flow.name,
        calls=len(transcripts),
        states=tuple(flow.states),
        covered_states=tuple(s for s in flow.states if s in seen_states),
        transitions=transitions,
        covered_transitions=tuple(t for t in transitions if t in seen),
        conditional=conditional_transitions(flow),
        unknown_transitions=tuple(t for t in seen if t not in known),
    )


def render_summary(reports: Mapping[str, CoverageReport]) -> str:
    """One row per line: its calls, and the states and transitions they reached of all."""
    width = max((len(line) for line in reports), default=4)
    rows = [f"coverage: {'line':<{width}}  calls  states reached    transitions reached"]
    for line, r in reports.items():
        states = f"{len(r.covered_states)}/{len(r.states)}"
        transitions = f"{len(r.covered_transitions)}/{len(r.transitions)}"
        rows.append(
            f"          {line:<{width}}  {r.calls:5d}  {states:>7} {r.state_ratio:6.1%}    "
            f"{transitions:>7} {r.transition_ratio:6.1%}"
        )
    return "\n".join(rows)


def _wrapped(names: Iterable[str], prefix: str, width: int = 100) -> list[str]:
    """`names` comma-separated after `prefix`, wrapped at `width` under the first name."""
    text = ", ".join(names)
    if not text:
        return []
    return textwrap.wrap(
        text,
        width,
        initial_indent=prefix,
        subsequent_indent=" " * len(prefix),
        break_on_hyphens=False,
        break_long_words=False,
    )
