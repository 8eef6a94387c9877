"""Crawl a phone line as a caller would: every key and silence at every menu, breadth-first.

The crawl places simulated calls (in-process or over HTTP) and replays the shortest known input
sequence to a state before trying each input there, so it needs nothing but TwiML from the app.
A state is the app's X-IVR-State when it reports one, else a fingerprint of the prompt heard.

Example:
    report = crawl(WsgiTransport(app), "+18002372765", flow=flow)
    print(report.render()); write_scenarios(report, Path("scenarios/crawl"))
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

from .coverage import (
    Transition,
    conditional_transitions,
    flow_transitions,
    plainly_reachable,
    transitions_in,
)
from .flow import Flow
from .sim import Outcome, SimulatedCall, SimulationError, Transport

log = logging.getLogger(__name__)

Inputs = tuple[str, ...]
SILENCE = "silence"
KEYS: Inputs = tuple("0123456789*#")
#: Tried at entry states (a Gather taking more than one key): the fictional member's ID, a
#: malformed ID, the member's date of birth, a wrong date of birth, a prescription number.
DEFAULT_ENTRY_INPUTS: Inputs = ("10203040#", "12#", "03071956", "01011990", "7654321#")
_FAILURE_TRIGGERS = frozenset(["invalid", "no_input", "entry"])

_KEY_WORDS: dict[str, str] = {
    **{str(d): str(d) for d in range(10)},
    **dict(zip("zero one two three four five six seven eight nine".split(), "0123456789", strict=True)),
    **dict(zip("cero uno dos tres cuatro cinco seis siete ocho nueve".split(), "0123456789", strict=True)),
    "star": "*", "asterisk": "*", "asterisco": "*", "la tecla asterisco": "*",
    "pound": "#", "hash": "#", "numeral": "#", "la tecla de número": "#", "la tecla numeral": "#",
}  # fmt: skip
_KEY_ALT = "|".join(re.escape(w) for w in sorted(_KEY_WORDS, key=len, reverse=True))
_PRESS = re.compile(rf"\b(?:press|push|dial|oprima|pulse|presione|marque)\s+(?:the\s+)?({_KEY_ALT})(?!\w)",
                    re.IGNORECASE)  # fmt: skip
_LISTED = re.compile(rf"\s*(?:or\s+|o\s+)?({_KEY_ALT})\s+(?:for|to|para)\b", re.IGNORECASE)
_REPEAT = re.compile(r"\b(again|repeat|otra vez|repetir|repita)\b", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.;!?])\s+")


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


@dataclass(frozen=True)
class CrawlError:
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
    errors: list[CrawlError] = field(default_factory=list)
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
            f"crawl of {self.to}" + (f" (line {self.line})" if self.line else "")
            + (f" at {self.now}" if self.now else "")
            + f": {len(self.paths)} states, {self.calls} calls in {self.seconds:.1f}s, "
            f"depth {self.options.depth}" + (" (stopped at the call limit)" if self.truncated else ""),
            f"paths ({len(self.paths)}):",
        ]  # fmt: skip
        width = max((len(_show(p.inputs)) for p in self.paths), default=0)
        for p in self.paths:
            lines.append(f"  {_show(p.inputs):<{width}}  {p.label}  [{p.outcome or 'waiting'}]")
        _section(lines, "dead ends (every input leads back here)", self.dead_ends)
        _section(lines, "loops with no exit", [", ".join(g) for g in self.no_exit])
        _section(lines, "prompts naming a key that does nothing", [
            f"{k.label}: says {k.phrase!r}, but {k.key} is not an option (reach: {_show(k.path)})"
            for k in self.dead_keys
        ])  # fmt: skip
        _section(lines, "errors", [f"after {_show(e.inputs)}: {e.detail}" for e in self.errors])
        if self.frontier:
            _section(lines, "not explored (depth bound; raise --depth)", self.frontier)
        if self.flow is not None:
            lines.append(f"compared with flow '{self.flow}':")
            _section(lines, "  states never reached", self.unreached_states)
            _section(lines, "  states not reached, conditional", self.conditional_unreached_states)
            _section(lines, "  transitions never reached", [str(t) for t in self.unreached_transitions])
            _section(lines, "  transitions not reached, conditional",
                     [str(t) for t in self.conditional_unreached_transitions])  # fmt: skip
            if self.frontier:
                _section(lines, "  states past the depth bound", self.beyond_depth_states)
                lines.append(f"  transitions past the depth bound: {len(self.beyond_depth_transitions)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "to": self.to, "line": self.line, "now": self.now, "options": {
                "depth": self.options.depth, "max_calls": self.options.max_calls,
                "keys": list(self.options.keys), "entry_inputs": list(self.options.entry_inputs),
                "persist": self.options.persist},
            "calls": self.calls, "seconds": round(self.seconds, 3), "truncated": self.truncated,
            "states": self.states,
            "paths": [{"inputs": list(p.inputs), "node": p.node, "label": p.label, "state": p.state,
                       "outcome": asdict(p.outcome) if p.outcome else None, "expect": p.expect}
                      for p in self.paths],
            "moves": [{**asdict(m), "inputs": list(m.inputs)} for m in self.moves],
            "frontier": self.frontier, "dead_ends": self.dead_ends, "no_exit": self.no_exit,
            "dead_keys": [{**asdict(k), "path": list(k.path)} for k in self.dead_keys],
            "errors": [{"inputs": list(e.inputs), "detail": e.detail} for e in self.errors],
            "flow": self.flow,
            "unreached_states": self.unreached_states,
            "conditional_unreached_states": self.conditional_unreached_states,
            "unreached_transitions": [t._asdict() for t in self.unreached_transitions],
            "conditional_unreached_transitions": [
                t._asdict() for t in self.conditional_unreached_transitions],
            "beyond_depth_states": self.beyond_depth_states,
            "beyond_depth_transitions": [t._asdict() for t in self.beyond_depth_transitions],
            "problems": self.problems,
        }  # fmt: skip


@dataclass
class _Node:
    id: str
    label: str
    path: Inputs
    state: str | None
    outcome: Outcome | None
    entry: bool
    heard: str
    moves: dict[Inputs, Move] = field(default_factory=dict)
    explored: bool = False

    @property
    def waiting(self) -> bool:
        return self.outcome is None


def crawl(
    transport: Transport, to: str, *, base_url: str = "http://localhost",
    simulated_now: str | None = None, flow: Flow | None = None,
    options: CrawlOptions | None = None, line: str | None = None,
) -> CrawlReport:  # fmt: skip
    """Crawl the line reached by calling `to`; compare with `flow` when it is given."""
    crawler = _Crawler(transport, to, base_url, simulated_now, flow, options or CrawlOptions())
    started = time.perf_counter()
    crawler.run()
    report = crawler.report(line)
    report.seconds = time.perf_counter() - started
    log.info("crawl of %s: %d states, %d calls, %.1fs", to, len(report.paths), report.calls,
             report.seconds)  # fmt: skip
    return report


class _Crawler:
    def __init__(
        self, transport: Transport, to: str, base_url: str, now: str | None, flow: Flow | None,
        options: CrawlOptions,
    ) -> None:  # fmt: skip
        self.transport = transport
        self.to = to
        self.base_url = base_url
        self.now = now
        self.flow = flow
        self.options = options
        self.nodes: dict[str, _Node] = {}
        self.queue: deque[str] = deque()
        self.calls = 0
        self.truncated = False
        self.errors: list[CrawlError] = []
        self.observed: set[Transition] = set()

    # -- walking -----------------------------------------------------------------------------

    def run(self) -> None:
        call = self._replay((), None)
        if call is None:
            return
        self._arrive((), call)
        self._finish(call)
        while self.queue:
            node = self.nodes[self.queue.popleft()]
            if len(node.path) >= self.options.depth:
                continue
            for inp in self._inputs_at(node):
                self._try(node, inp)
            self._persist(node)
            if self.truncated:
                return  # half explored: judged as not explored at all
            node.explored = True

    def _inputs_at(self, node: _Node) -> Inputs:
        if not node.entry:
            return (*self.options.keys, SILENCE)
        table = self.options.entry_inputs_at.get(node.id, self.options.entry_inputs)
        return (*table, SILENCE)

    def _try(self, node: _Node, inp: str) -> None:
        call = self._replay(node.path, node.id)
        if call is None:
            return
        try:
            _give(call, inp)
        except SimulationError as exc:
            self.errors.append(CrawlError((*node.path, inp), str(exc)))
            return
        dest = self._arrive((*node.path, inp), call)
        node.moves[(inp,)] = Move(node.id, (inp,), dest.id, _last_trigger(call))
        self._finish(call)

    def _persist(self, node: _Node) -> None:
        """Repeat inputs that kept the call in place: counters of failures lead somewhere."""
        staying = [
            seq[0] for seq, m in node.moves.items()
            if m.dest == node.id and (m.trigger is None or m.trigger in _FAILURE_TRIGGERS)
        ]  # fmt: skip
        if not staying or self.options.persist < 2:
            return
        mentioned = set(mentioned_keys(node.heard))
        keys = [k for k in staying if k != SILENCE]
        picks = [k for k in staying if k == SILENCE]
        picks += sorted(keys, key=lambda k: k in mentioned)[:1]
        for inp in picks:
            call = self._replay(node.path, node.id)
            if call is None:
                continue
            dest = node
            count = 0
            try:
                while count < self.options.persist and dest is node:
                    _give(call, inp)
                    count += 1
                    dest = self._arrive((*node.path, *(inp,) * count), call)
            except SimulationError as exc:
                self.errors.append(CrawlError((*node.path, *(inp,) * (count + 1)), str(exc)))
                continue
            seq = (inp,) * count
            node.moves[seq] = Move(node.id, seq, dest.id, _last_trigger(call))
            self._finish(call)

    def _replay(self, path: Inputs, expect: str | None) -> SimulatedCall | None:
        if self.calls >= self.options.max_calls:
            self.truncated = True
            self.queue.clear()
            return None
        self.calls += 1
        call = SimulatedCall(self.transport, self.to, base_url=self.base_url, simulated_now=self.now)
        try:
            call.dial()
            for inp in path:
                _give(call, inp)
        except SimulationError as exc:
            self.errors.append(CrawlError(path, f"replay failed: {exc}"))
            return None
        if expect is not None and (found := _identify(call)[0]) != expect:
            detail = (f"the same inputs led to {found} this time, not {expect}: the app does not "
                      "answer them the same way, so the crawl cannot rely on replaying them")  # fmt: skip
            self.errors.append(CrawlError(path, detail))
            return None
        return call

    def _arrive(self, path: Inputs, call: SimulatedCall) -> _Node:
        node_id, label = _identify(call)
        known = self.nodes.get(node_id)
        if known is not None:
            return known
        gather = call.gather
        node = _Node(node_id, label, path, call.state, call.outcome,
                     entry=gather is not None and gather.get("numDigits") != "1",
                     heard=call.heard)  # fmt: skip
        self.nodes[node_id] = node
        if call.outcome is not None and call.outcome.kind == "error":
            self.errors.append(CrawlError(path, call.outcome.detail or "error"))
        if node.waiting:
            self.queue.append(node_id)
        return node

    def _finish(self, call: SimulatedCall) -> None:
        if self.flow is not None:
            self.observed.update(transitions_in(call.transcript, self.flow.initial))
        if self.options.hang_up and not call.ended:
            call.hangup()

    # -- findings ----------------------------------------------------------------------------

    def report(self, line: str | None) -> CrawlReport:
        nodes = list(self.nodes.values())
        report = CrawlReport(self.to, line, self.now, self.options, calls=self.calls,
                             truncated=self.truncated, errors=self.errors)  # fmt: skip
        corpus = "\n".join(n.heard for n in nodes).lower()
        for node in nodes:
            report.paths.append(CrawlPath(node.path, node.id, node.label, node.state, node.outcome,
                                          _distinctive(node.heard, corpus)))  # fmt: skip
            report.moves.extend(node.moves.values())
        report.frontier = [n.label for n in nodes if n.waiting and not n.explored]
        trapped = self._trapped(nodes)
        dead = [n for n in trapped if all(m.dest == n.id for m in n.moves.values())]
        report.dead_ends = [n.label for n in dead]
        report.no_exit = [[self.nodes[i].label for i in group]
                          for group in _components({n.id for n in trapped}, report.moves)
                          if len(group) > 1]  # fmt: skip
        report.dead_keys = [k for n in nodes for k in _dead_keys(n)]
        if self.flow is not None:
            self._compare(report, self.flow)
        return report

    def _trapped(self, nodes: list[_Node]) -> list[_Node]:
        """Explored states from which no call in the discovered graph ever ends."""
        back: dict[str, set[str]] = {}
        for node in nodes:
            for move in node.moves.values():
                back.setdefault(move.dest, set()).add(move.source)
        # Calls that ended, and states not explored (nothing known against them), can finish.
        todo = [n.id for n in nodes if not n.waiting or not n.explored]
        finishing = set(todo)
        while todo:
            for source in back.get(todo.pop(), ()):
                if source not in finishing:
                    finishing.add(source)
                    todo.append(source)
        return [n for n in nodes if n.id not in finishing]

    def _compare(self, report: CrawlReport, flow: Flow) -> None:
        report.flow = flow.name
        seen = {p.state for p in report.paths if p.state}
        seen.update(s for t in self.observed for s in (t.source, t.dest))
        plain = plainly_reachable(flow)
        unexplored = self._past_frontier(flow, seen)
        missed = [s for s in flow.states if s not in seen]
        report.beyond_depth_states = [s for s in missed if s in unexplored]
        missed = [s for s in missed if s not in unexplored]
        report.unreached_states = [s for s in missed if s in plain]
        report.conditional_unreached_states = [s for s in missed if s not in plain]
        conditional = conditional_transitions(flow)
        left = [t for t in flow_transitions(flow) if t not in self.observed]
        report.beyond_depth_transitions = [t for t in left if t.source in unexplored]
        left = [t for t in left if t.source not in unexplored]
        # Leaving a state that only a condition leads to is conditional too.
        behind = set(report.conditional_unreached_states)
        report.unreached_transitions = [t for t in left if t not in conditional and t.source not in behind]
        report.conditional_unreached_transitions = [
            t for t in left if t in conditional or t.source in behind
        ]  # fmt: skip

    def _past_frontier(self, flow: Flow, seen: set[str]) -> set[str]:
        """States the crawl did not explore, and unseen states the flow reaches only past them."""
        todo = [n.state for n in self.nodes.values() if n.state and n.waiting and not n.explored]
        found = set(todo)
        while todo:
            for edge in flow.edges_from(todo.pop()):
                if edge.dest not in seen and edge.dest not in found:
                    found.add(edge.dest)
                    todo.append(edge.dest)
        return found


# -- scenarios ---------------------------------------------------------------------------------


def write_scenarios(report: CrawlReport, folder: Path) -> list[Path]:
    """Write one scenario file (docs/scenarios.md) per discovered path; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index, path in enumerate(report.paths, start=1):
        data = scenario_for(report, path)
        slug = re.sub(r"[^a-z0-9]+", "-", path.label.lower())[:40].strip("-")
        file = folder / f"{index:03d}-{slug or 'state'}.yaml"
        file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(file)
    return written


def scenario_for(report: CrawlReport, path: CrawlPath) -> dict[str, Any]:
    """The scenario that replays one path and checks what it heard and how it ended."""
    data: dict[str, Any] = {"name": f"crawl: {path.label} via {_show(path.inputs)}"}
    if report.line:
        data["line"] = report.line
    else:
        data["to"] = report.to
    if report.now:
        data["now"] = report.now
    data["tags"] = ["crawl"]
    steps: list[Any] = [SILENCE if inp == SILENCE else {"press": inp} for inp in path.inputs]
    if path.expect:
        steps.append({"expect": path.expect})
    outcome: dict[str, str] = {}
    if path.outcome is None:
        steps.append("hangup")  # the call waits here: the scenario ends it
        outcome["kind"] = "caller-hangup"
    else:
        outcome["kind"] = path.outcome.kind
        if path.outcome.target:
            outcome["target"] = path.outcome.target
    if path.state:
        outcome["state"] = path.state
    data["steps"] = steps
    data["outcome"] = outcome
    return data


# -- helpers -----------------------------------------------------------------------------------


def _give(call: SimulatedCall, inp: str) -> None:
    if inp == SILENCE:
        call.silence()
    else:
        call.press(inp)


def _identify(call: SimulatedCall) -> tuple[str, str]:
    """The node a call is at, and a label for people: X-IVR-State, else a fingerprint."""
    outcome = call.outcome
    if outcome is not None and outcome.kind == "error":
        detail = outcome.detail or ""
        return f"error:{_digest(detail)}", f"error ({detail[:60]})"
    state = call.state
    if state is not None:
        return state, state
    if call.gather is not None:
        text = _gather_text(call.gather) or call.heard
        return f"menu:{_digest(text)}", f"menu “{_excerpt(text)}”"
    says = [h.text for h in call.heard_all if h.kind == "say"]
    text = says[-1] if says else ""
    return f"{outcome}:{_digest(text)}", f"{outcome} “{_excerpt(text)}”"


def _gather_text(gather: ElementTree.Element) -> str:
    return " ".join(" ".join("".join(say.itertext()).split()) for say in gather.iter("Say"))


def _digest(text: str) -> str:
    normal = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    return hashlib.sha256(normal.encode()).hexdigest()[:10]


def _excerpt(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def _last_trigger(call: SimulatedCall) -> str | None:
    for step in reversed(call.transcript.steps):
        if step.trigger:
            return step.trigger
        if step.input is not None:
            return None
    return None


def mentioned_keys(text: str) -> dict[str, str]:
    """Keys a prompt tells the caller to press, each with the words that name it."""
    found: dict[str, str] = {}
    for sentence in _SENTENCES.split(text):
        for match in _PRESS.finditer(sentence):
            found.setdefault(_KEY_WORDS[match.group(1).lower()], sentence.strip())
            for part in sentence[match.end() :].split(",")[1:]:
                listed = _LISTED.match(part)
                if listed:
                    found.setdefault(_KEY_WORDS[listed.group(1).lower()], sentence.strip())
    return found


def _dead_keys(node: _Node) -> list[DeadKey]:
    if not node.explored or node.entry:
        return []
    dead: list[DeadKey] = []
    for key, sentence in mentioned_keys(node.heard).items():
        move = node.moves.get((key,))
        if move is None:
            continue
        if move.trigger is not None:
            is_dead = move.trigger == "invalid"
        else:  # no X-IVR-Trigger: the app answered with the same prompt, and not to repeat it
            is_dead = move.dest == node.id and not _REPEAT.search(sentence)
        if is_dead:
            dead.append(DeadKey(node.id, node.label, key, sentence, node.path))
    return dead


def _components(ids: set[str], moves: list[Move]) -> list[list[str]]:
    """Groups of `ids` linked by moves in either direction, each sorted."""
    links: dict[str, set[str]] = {i: set() for i in ids}
    for m in moves:
        if m.source in ids and m.dest in ids:
            links[m.source].add(m.dest)
            links[m.dest].add(m.source)
    groups: list[list[str]] = []
    left = set(ids)
    while left:
        todo = [min(left)]
        group: set[str] = set()
        while todo:
            item = todo.pop()
            if item in group:
                continue
            group.add(item)
            todo.extend(links[item] - group)
        left -= group
        groups.append(sorted(group))
    return groups


def _distinctive(text: str, corpus: str) -> str | None:
    """A phrase of `text` heard in no other state (`corpus`: every state's words, one a line).

    Long phrases and late ones (the prompt, after any notice) come first; digits are avoided,
    as some vary per call (reference numbers).
    """
    own = text.lower()
    sentences = [s.split() for s in _SENTENCES.split(text) if s.strip()]
    fallback: str | None = None
    for size in range(8, 2, -1):
        for words in reversed(sentences):
            for start in range(len(words) - size + 1):
                window = " ".join(words[start : start + size])
                if any(c.isdigit() for c in window):
                    continue
                fallback = fallback or window
                if corpus.count(window.lower()) == own.count(window.lower()):
                    return window
    return fallback


def _show(inputs: Inputs) -> str:
    return " ".join("(silence)" if i == SILENCE else i for i in inputs) or "(dial)"


def _section(lines: list[str], title: str, items: list[str]) -> None:
    lines.append(f"{title} ({len(items)}):" if items else f"{title}: none")
    indent = " " * (len(title) - len(title.lstrip()) + 2)
    lines.extend(f"{indent}{item}" for item in items)
