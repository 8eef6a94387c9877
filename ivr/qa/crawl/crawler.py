"""The crawl itself: calls placed breadth-first, each replaying the shortest way to a state, then findings."""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from ivr.engine.flow import Flow
from ivr.qa.coverage import (
    Transition,
    conditional_transitions,
    flow_transitions,
    plainly_reachable,
    transitions_in,
)
from ivr.qa.crawl.prompts import _REPEAT, _digest, _distinctive, _excerpt, _gather_text, mentioned_keys
from ivr.qa.crawl.report import (
    SILENCE,
    CrawlError,
    CrawlFailure,
    CrawlOptions,
    CrawlPath,
    CrawlReport,
    DeadKey,
    Inputs,
    Move,
)
from ivr.sim import Outcome, SimulatedCall, SimulationError, Transport
from ivr.sim.caller import error_summary
from ivr.sim.callers import NUMBERED_CALLERS, numbered_caller

log = logging.getLogger(__name__)

_FAILURE_TRIGGERS = frozenset(["invalid", "no_input", "entry"])


@dataclass
class _Node:
    id: str
    label: str
    path: Inputs
    state: str | None
    outcome: Outcome | None
    entry: bool
    heard: str
    seconds: float = 0.0  # virtual seconds of the call on arrival (the simulated caller's clock)
    moves: dict[Inputs, Move] = field(default_factory=dict)
    explored: bool = False
    gather: ElementTree.Element | None = None

    @property
    def waiting(self) -> bool:
        return self.outcome is None


def crawl(
    transport: Transport,
    to: str,
    *,
    base_url: str = "http://localhost",
    simulated_now: str | None = None,
    flow: Flow | None = None,
    options: CrawlOptions | None = None,
    line: str | None = None,
    call_options: Mapping[str, Any] | None = None,
) -> CrawlReport:
    """Crawl the line reached by calling `to`; compare with `flow` when it is given.

    Raises CrawlError when the first call fails, so that nothing could be crawled; a call that
    fails later is one of the report's errors. `call_options` are SimulatedCall keywords (the
    number's voice URL and method, request fields, ...).
    """
    crawler = _Crawler(transport, to, base_url, simulated_now, flow, options or CrawlOptions())
    crawler.call_options = dict(call_options or {})
    started = time.perf_counter()
    crawler.run()
    report = crawler.report(line)
    failure = _start_failure(report)
    if failure is not None:
        raise CrawlError(f"the first call failed, so nothing was crawled: {failure}.")
    report.seconds = time.perf_counter() - started
    log.info("crawl of %s: %d states, %d calls, %.1fs", to, len(report.paths), report.calls, report.seconds)
    return report


class _Crawler:
    def __init__(
        self,
        transport: Transport,
        to: str,
        base_url: str,
        now: str | None,
        flow: Flow | None,
        options: CrawlOptions,
    ) -> None:
        self.transport = transport
        self.to = to
        self.base_url = base_url
        self.now = now
        self.flow = flow
        self.options = options
        self.nodes: dict[str, _Node] = {}
        self.queue: deque[str] = deque()
        self.calls = 0  # calls placed
        self.replays = 0  # calls placed or taken up again (see _replay)
        self.truncated = False
        self.errors: list[CrawlFailure] = []
        self.observed: set[Transition] = set()
        self.call_options: dict[str, Any] = {}
        # Each call from a fictional number of its own (unless call_options give one), from a
        # place in the list drawn per crawl: the app's per-number limits (the identity lockout
        # counts a number's failures over all its calls) never make one call of a crawl, or of
        # the crawl run before it on the same server, answer another's inputs differently.
        self.first_caller = secrets.randbelow(NUMBERED_CALLERS)
        # Calls kept up instead of hung up, to go on from where they are rather than be placed
        # again and replayed there: a call that just reached a new node by the node's own path
        # (it takes that node's first input), and a call an input left at its node (persisting
        # with that input goes on from it).
        self.parked: dict[str, SimulatedCall] = {}
        self.stayed: dict[tuple[str, str], SimulatedCall] = {}

    # -- walking -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._walk()
        finally:
            for call in [*self.parked.values(), *self.stayed.values()]:
                self._finish(call)
            self.parked.clear()
            self.stayed.clear()

    def _walk(self) -> None:
        call = self._replay((), None)
        if call is None:
            return
        self._settle(call, self._arrive((), call), ())
        while self.queue:
            node = self.nodes[self.queue.popleft()]
            if len(node.path) >= self.options.depth:
                continue
            for inp in self._inputs_at(node):
                self._try(node, inp)
            self._persist(node)
            for key in [k for k in self.stayed if k[0] == node.id]:
                self._finish(self.stayed.pop(key))  # not persisted with
            if self.truncated:
                return  # half explored: judged as not explored at all
            node.explored = True

    def _inputs_at(self, node: _Node) -> Inputs:
        if not node.entry:
            return (*self.options.keys, SILENCE)
        table = self.options.entry_inputs_at.get(node.id)
        if table is None and node.state is None and node.gather is not None:
            # Someone else's app: what its Gather asks for, not our fictional member's ID.
            table = gather_inputs(node.gather) or None
        return (*(table or self.options.entry_inputs), SILENCE)

    def _try(self, node: _Node, inp: str) -> None:
        call = self._replay(node.path, node.id)
        if call is None:
            return
        try:
            _give(call, inp)
        except Exception as exc:  # noqa: BLE001 - one failing path must not end the crawl
            self.errors.append(CrawlFailure((*node.path, inp), _why(exc)))
            return
        dest = self._arrive((*node.path, inp), call)
        node.moves[(inp,)] = Move(node.id, (inp,), dest.id, _last_trigger(call))
        if dest is node and not call.ended and self.options.persist >= 2:
            self.stayed[(node.id, inp)] = call  # the first of the inputs _persist repeats
        else:
            self._settle(call, dest, (*node.path, inp))

    def _persist(self, node: _Node) -> None:
        """Repeat inputs that kept the call in place: counters of failures lead somewhere."""
        staying = [
            seq[0]
            for seq, m in node.moves.items()
            if m.dest == node.id and (m.trigger is None or m.trigger in _FAILURE_TRIGGERS)
        ]
        if not staying or self.options.persist < 2:
            return
        mentioned = set(mentioned_keys(node.heard))
        keys = [k for k in staying if k != SILENCE]
        picks = [k for k in staying if k == SILENCE]
        picks += sorted(keys, key=lambda k: k in mentioned)[:1]
        for inp in picks:
            # The call that tried `inp` once (in _try) and stayed goes on; else one is placed.
            kept = self.stayed.pop((node.id, inp), None)
            call = self._replay(node.path, node.id, kept)
            if call is None:
                continue
            count = 0 if kept is None else 1
            dest = node
            try:
                while count < self.options.persist and dest is node:
                    _give(call, inp)
                    count += 1
                    dest = self._arrive((*node.path, *(inp,) * count), call)
            except Exception as exc:  # noqa: BLE001 - a partial report, not an abort
                self.errors.append(CrawlFailure((*node.path, *(inp,) * (count + 1)), _why(exc)))
                continue
            seq = (inp,) * count
            node.moves[seq] = Move(node.id, seq, dest.id, _last_trigger(call))
            self._settle(call, dest, (*node.path, *seq))

    def _replay(
        self, path: Inputs, expect: str | None, kept: SimulatedCall | None = None
    ) -> SimulatedCall | None:
        """A call at `expect` by `path`: `kept` or a parked one when there is one, else a new
        call replaying `path`. Each counts against max_calls as a call placed would, so the
        bound stops a crawl where it always did; `calls` counts the calls placed."""
        if self.replays >= self.options.max_calls:
            self.truncated = True
            self.queue.clear()
            if kept is not None:
                self._finish(kept)
            return None
        self.replays += 1
        if kept is None and expect is not None:
            kept = self.parked.pop(expect, None)
        if kept is not None:
            return kept  # at `expect` by `path` already
        self.calls += 1
        options = self.call_options
        if "caller" not in options:
            options = {**options, "caller": numbered_caller(self.first_caller + self.calls)}
        call = SimulatedCall(
            self.transport, self.to, base_url=self.base_url, simulated_now=self.now, **options
        )
        try:
            call.dial()
            for inp in path:
                _give(call, inp)
        except Exception as exc:  # noqa: BLE001 - a partial report, not an abort
            self.errors.append(CrawlFailure(path, f"replay failed: {_why(exc)}"))
            return None
        if expect is not None and (found := _identify(call)[0]) != expect:
            detail = (
                f"the same inputs led to {found} this time, not {expect}: the app does not "
                "answer them the same way, so the crawl cannot rely on replaying them"
            )
            self.errors.append(CrawlFailure(path, detail))
            return None
        return call

    def _arrive(self, path: Inputs, call: SimulatedCall) -> _Node:
        node_id, label = _identify(call)
        known = self.nodes.get(node_id)
        if known is not None:
            return known
        gather = call.gather
        node = _Node(
            node_id,
            label,
            path,
            call.state,
            call.outcome,
            entry=gather is not None and gather.get("numDigits") != "1",
            heard=call.heard,
            seconds=_listened(call),
            gather=gather,
        )
        self.nodes[node_id] = node
        if call.outcome is not None and call.outcome.kind == "error":
            self.errors.append(CrawlFailure(path, error_summary(call.outcome)))
        if node.waiting:
            self.queue.append(node_id)
        return node

    def _settle(self, call: SimulatedCall, node: _Node, path: Inputs) -> None:
        """Keep a call that just found `node` (by `path`) for the node's first input, else finish it."""
        found_it = node.path == path and node.id not in self.parked
        if found_it and node.waiting and not node.explored and len(node.path) < self.options.depth:
            self.parked[node.id] = call
        else:
            self._finish(call)

    def _finish(self, call: SimulatedCall) -> None:
        if self.flow is not None:
            self.observed.update(transitions_in(call.transcript, self.flow.initial))
        if self.options.hang_up and not call.ended:
            call.hangup()

    # -- findings ----------------------------------------------------------------------------

    def report(self, line: str | None) -> CrawlReport:
        nodes = list(self.nodes.values())
        report = CrawlReport(
            self.to,
            line,
            self.now,
            self.options,
            calls=self.calls,
            truncated=self.truncated,
            errors=self.errors,
        )
        corpus = "\n".join(n.heard for n in nodes).lower()
        for node in nodes:
            report.paths.append(
                CrawlPath(
                    node.path,
                    node.id,
                    node.label,
                    node.state,
                    node.outcome,
                    _distinctive(node.heard, corpus),
                    node.seconds,
                )
            )
            report.moves.extend(node.moves.values())
        report.frontier = [n.label for n in nodes if n.waiting and not n.explored]
        trapped = self._trapped(nodes)
        dead = [n for n in trapped if all(m.dest == n.id for m in n.moves.values())]
        report.dead_ends = [n.label for n in dead]
        report.no_exit = [
            [self.nodes[i].label for i in group]
            for group in _components({n.id for n in trapped}, report.moves)
            if len(group) > 1
        ]
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
        report.conditional_unreached_transitions = [t for t in left if t in conditional or t.source in behind]

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


# -- helpers -----------------------------------------------------------------------------------


def _start_failure(report: CrawlReport) -> str | None:
    """Why the first call failed (it was never answered, or answered with an error), if it did."""
    if not report.paths:
        return report.errors[0].detail if report.errors else None
    first = report.paths[0].outcome
    if first is not None and first.kind == "error":
        return error_summary(first)
    return None


def gather_inputs(gather: ElementTree.Element) -> Inputs:
    """Inputs a Gather asks for: `numDigits` digits (and one short), or digits then its
    `finishOnKey`; empty when it names neither (the configured entry inputs are used)."""
    digits = _int_attr(gather.get("numDigits"))
    finish = gather.get("finishOnKey")
    if digits and digits > 1:
        return (_digits(digits), _digits(digits - 1) + (finish or "#"))
    if finish is not None and finish != "":
        return (_digits(4) + finish, _digits(8) + finish)
    return ()


def _digits(count: int) -> str:
    return "".join(str((i + 1) % 10) for i in range(count))


def _int_attr(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, SimulationError) else f"{type(exc).__name__}: {exc}"


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


def _listened(call: SimulatedCall) -> float:
    """Virtual seconds from dialling to here; a queued caller's hold message is not counted."""
    waits = [step.at for step in call.transcript.steps if step.kind == "wait"]
    if call.outcome is not None and call.outcome.kind == "enqueue" and waits:
        return waits[-1]
    return call.clock


def _last_trigger(call: SimulatedCall) -> str | None:
    for step in reversed(call.transcript.steps):
        if step.trigger:
            return step.trigger
        if step.input is not None:
            return None
    return None


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
