"""The result of a crawl: its options, the paths and moves it found, its findings, and their rendering."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ivr.engine.errors import IvrError
from ivr.engine.flow import PHONE_KEYS
from ivr.qa.coverage import Transition
from ivr.qa.plural import plural
from ivr.sim import Outcome

Inputs = tuple[str, ...]
SILENCE = "silence"
KEYS: Inputs = tuple(PHONE_KEYS)
#: Tried at entry states (a Gather taking more than one key): the fictional member's ID, a
#: malformed ID, the member's date of birth, a wrong date of birth, a prescription number.
DEFAULT_ENTRY_INPUTS: Inputs = ("10203040#", "12#", "03071956", "01011990", "7654321#")


@dataclass(frozen=True)
class CrawlOptions:
    """Bounds of a crawl and the inputs it tries."""

    depth: int = 8  # most inputs in one call
    max_calls: int = 3000  # most calls placed in all
    keys: Inputs = KEYS
    entry_inputs: Inputs = DEFAULT_ENTRY_INPUTS
    #: Entry inputs for one state (by X-IVR-State, or by fingerprint id for other apps).
    entry_inputs_at: Mapping[str, Inputs] = field(default_factory=dict)
    #: How often an input that keeps the call in place is repeated, to find the way out
    #: (a menu usually hands over after a few failures).
    persist: int = 4
    hang_up: bool = True  # hang up calls left waiting, so the app closes their records


@dataclass(frozen=True)
class CrawlPath:
    """The shortest input sequence found to one state, and how the call stood after it."""

    inputs: Inputs
    node: str
    label: str
    state: str | None
    outcome: Outcome | None  # None: the call waits for input
    expect: str | None  # a distinctive phrase heard on arrival
    seconds: float = 0.0  # virtual seconds of the call on arrival (a queue's hold message aside)


@dataclass(frozen=True)
class Move:
    """One discovered edge: inputs pressed at `source` led to `dest`."""

    source: str
    inputs: Inputs
    dest: str
    trigger: str | None  # X-IVR-Trigger of the answer, when the app reports it


@dataclass(frozen=True)
class DeadKey:
    """A prompt names a key that does nothing there."""

    node: str
    label: str
    key: str
    phrase: str
    path: Inputs


class CrawlError(IvrError):
    """The crawl could not start: its first call failed, so there is nothing to report."""


@dataclass(frozen=True)
class CrawlFailure:
    """A call of the crawl failed: bad TwiML, an HTTP error, or an answer that changed on replay."""

    inputs: Inputs
    detail: str


@dataclass
class CrawlReport:
    """What a crawl found: paths, the discovered graph, traps, dead keys, and what it missed."""

    to: str
    line: str | None
    now: str | None
    options: CrawlOptions
    calls: int = 0
    seconds: float = 0.0
    truncated: bool = False
    paths: list[CrawlPath] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    frontier: list[str] = field(default_factory=list)  # reached but not explored: depth bound
    dead_ends: list[str] = field(default_factory=list)
    no_exit: list[list[str]] = field(default_factory=list)
    dead_keys: list[DeadKey] = field(default_factory=list)
    errors: list[CrawlFailure] = field(default_factory=list)
    flow: str | None = None  # compared with this flow, when the app ran in-process
    unreached_states: list[str] = field(default_factory=list)
    conditional_unreached_states: list[str] = field(default_factory=list)
    #: Not reached because the crawl stopped first (depth or call bound): only past `frontier`.
    beyond_depth_states: list[str] = field(default_factory=list)
    unreached_transitions: list[Transition] = field(default_factory=list)
    conditional_unreached_transitions: list[Transition] = field(default_factory=list)
    beyond_depth_transitions: list[Transition] = field(default_factory=list)

    @property
    def states(self) -> list[str]:
        """Every X-IVR-State the crawl reached (empty for apps that do not report it)."""
        return sorted({p.state for p in self.paths if p.state})

    @property
    def outcome_seconds(self) -> dict[str, float]:
        """The fewest virtual seconds of a call to each way a call ended (hangup, a queue, ...)."""
        fewest: dict[str, float] = {}
        for p in self.paths:
            if p.outcome is not None:
                key = str(p.outcome)
                fewest[key] = min(fewest.get(key, p.seconds), p.seconds)
        return dict(sorted(fewest.items(), key=lambda item: item[1]))

    @property
    def problems(self) -> list[str]:
        """One line per finding that `--strict` fails on."""
        found = [f"dead end: {n}" for n in self.dead_ends]
        found += [f"loop with no exit: {', '.join(group)}" for group in self.no_exit]
        found += [f"never reached: {s}" for s in self.unreached_states]
        found += [f"dead key: {k.label}: {k.key} ({k.phrase!r})" for k in self.dead_keys]
        found += [f"error after {_show(e.inputs)}: {e.detail}" for e in self.errors]
        return found

    def render(self) -> str:
        """A plain-text report for people: paths first, then findings."""
        lines = [
            f"crawl of {self.to}"
            + (f" (line {self.line})" if self.line else "")
            + (f" at {self.now}" if self.now else "")
            + f": {plural(len(self.paths), 'state')}, {plural(self.calls, 'call')} in {self.seconds:.1f}s, "
            f"depth {self.options.depth}" + (" (stopped at the call limit)" if self.truncated else ""),
            f"paths ({len(self.paths)}):",
        ]
        width = max((len(_show(p.inputs)) for p in self.paths), default=0)
        for p in self.paths:
            lines.append(
                f"  {_show(p.inputs):<{width}}  {p.label}  [{p.outcome or 'waiting'}]  {p.seconds:.1f}s"
            )
        _section(
            lines,
            "fewest seconds to each outcome",
            [f"{outcome}: {seconds:.1f}s" for outcome, seconds in self.outcome_seconds.items()],
        )
        _section(lines, "dead ends (every input leads back here)", self.dead_ends)
        _section(lines, "loops with no exit", [", ".join(g) for g in self.no_exit])
        _section(
            lines,
            "prompts naming a key that does nothing",
            [
                f"{k.label}: says {k.phrase!r}, but {k.key} is not an option (reach: {_show(k.path)})"
                for k in self.dead_keys
            ],
        )
        _section(lines, "errors", [f"after {_show(e.inputs)}: {e.detail}" for e in self.errors])
        if self.frontier:
            _section(lines, "not explored (depth bound; raise --depth)", self.frontier)
        if self.flow is not None:
            lines.append(f"compared with flow '{self.flow}':")
            _section(lines, "  states never reached", self.unreached_states)
            _section(lines, "  states not reached, conditional", self.conditional_unreached_states)
            _section(lines, "  transitions never reached", [str(t) for t in self.unreached_transitions])
            _section(
                lines,
                "  transitions not reached, conditional",
                [str(t) for t in self.conditional_unreached_transitions],
            )
            if self.frontier:
                _section(lines, "  states past the depth bound", self.beyond_depth_states)
                lines.append(f"  transitions past the depth bound: {len(self.beyond_depth_transitions)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "to": self.to,
            "line": self.line,
            "now": self.now,
            "options": {
                "depth": self.options.depth,
                "max_calls": self.options.max_calls,
                "keys": list(self.options.keys),
                "entry_inputs": list(self.options.entry_inputs),
                "persist": self.options.persist,
            },
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "truncated": self.truncated,
            "states": self.states,
            "paths": [
                {
                    "inputs": list(p.inputs),
                    "node": p.node,
                    "label": p.label,
                    "state": p.state,
                    "outcome": asdict(p.outcome) if p.outcome else None,
                    "expect": p.expect,
                    "seconds": round(p.seconds, 1),
                }
                for p in self.paths
            ],
            "outcome_seconds": {k: round(v, 1) for k, v in self.outcome_seconds.items()},
            "moves": [{**asdict(m), "inputs": list(m.inputs)} for m in self.moves],
            "frontier": self.frontier,
            "dead_ends": self.dead_ends,
            "no_exit": self.no_exit,
            "dead_keys": [{**asdict(k), "path": list(k.path)} for k in self.dead_keys],
            "errors": [{"inputs": list(e.inputs), "detail": e.detail} for e in self.errors],
            "flow": self.flow,
            "unreached_states": self.unreached_states,
            "conditional_unreached_states": self.conditional_unreached_states,
            "unreached_transitions": [t._asdict() for t in self.unreached_transitions],
            "conditional_unreached_transitions": [
                t._asdict() for t in self.conditional_unreached_transitions
            ],
            "beyond_depth_states": self.beyond_depth_states,
            "beyond_depth_transitions": [t._asdict() for t in self.beyond_depth_transitions],
            "problems": self.problems,
        }


# -- helpers -----------------------------------------------------------------------------------


def _show(inputs: Inputs) -> str:
    return " ".join("(silence)" if i == SILENCE else i for i in inputs) or "(dial)"


def _section(lines: list[str], title: str, items: list[str]) -> None:
    lines.append(f"{title} ({len(items)}):" if items else f"{title}: none")
    indent = " " * (len(title) - len(title.lstrip()) + 2)
    lines.extend(f"{indent}{item}" for item in items)
