"""The ways through a line as a caller takes them: seconds of listening and menu levels.

A caller at a menu listens up to the sentence that names the key they want (barge-in), presses
it, and hears the next document from the start: the shortest listening path to each state is a
shortest path over (state, how the caller arrived) with those seconds as weights.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from ivr.engine.config import EngineConfig
from ivr.engine.flow import KEY_TRIGGERS, Edge, Flow, key_for_trigger

from .listening import Document, Hearing, Timer

#: How a caller arrives at a state, which decides its document's first words.
GREETING, CONFIRM, PLAIN = "greeting", "confirm", "plain"
ENTRY = "(digits)"
SILENCE = "(silence)"
_KEY_NAMES = frozenset(KEY_TRIGGERS.values())


@dataclass(frozen=True)
class Reach:
    """The quickest way to a state: seconds listened before its document, and the inputs."""

    state: str
    before: float  # seconds listened before this state's document starts
    document: float  # seconds of this state's document, heard whole
    inputs: tuple[str, ...]  # keys pressed (ENTRY for digits typed at an entry)
    arrival: str  # GREETING, CONFIRM or PLAIN

    @property
    def seconds(self) -> float:
        return self.before + self.document


@dataclass(frozen=True)
class EdgeTime:
    """Seconds of listening at `source` before `key` can be pressed to go to `dest`."""

    source: str
    key: str
    dest: str
    seconds: float


def walk_edges(flow: Flow, state: str) -> list[Edge]:
    """The edges a caller on a fresh call takes from `state`: per key its default (the last
    transition), at an entry the accepted entry (the first that moves on), every start."""
    by_trigger: dict[str, list[Edge]] = {}
    for edge in flow.edges_from(state):
        by_trigger.setdefault(edge.trigger, []).append(edge)
    out: list[Edge] = []
    for trigger, edges in by_trigger.items():
        if trigger in _KEY_NAMES:
            out.append(edges[-1])
        elif trigger == "entry":
            out.extend([e for e in edges if e.dest != e.source][:1])
        elif trigger == "start":
            out.extend(edges)
    return out


def start_state(flow: Flow) -> str:
    """The state a call opens in when nothing special holds (the default `start` transition)."""
    starts = [e for e in flow.edges_from(flow.initial) if e.trigger == "start"]
    return starts[-1].dest if starts else flow.initial


def language_key(flow: Flow, state: str) -> str | None:
    """The key that switches the language at `state`, if any."""
    for edge in flow.edges_from(state):
        if "toggle_language" in edge.actions:
            return key_for_trigger(edge.trigger)
    return None


class Paths:
    """Shortest listening paths of one line in one language."""

    def __init__(self, flow: Flow, hearing: Hearing, timer: Timer, lang: str, before: float = 0.0) -> None:
        self.flow = flow
        self.hearing = hearing
        self.timer = timer
        self.lang = lang
        self.max_failures = EngineConfig().max_failures
        self.reach: dict[str, Reach] = {}
        self.edges: list[EdgeTime] = []
        self._walk(before)

    def doc(self, state: str, arrival: str) -> Document:
        return self.hearing.document(
            state, self.lang, greeting=arrival == GREETING, confirm=arrival == CONFIRM
        )

    def _walk(self, before: float) -> None:
        flow = self.flow
        best: dict[tuple[str, str], float] = {}
        heap: list[tuple[float, int, str, str, tuple[str, ...]]] = []
        order = 0
        for edge in walk_edges(flow, flow.initial):
            heapq.heappush(heap, (before, order, edge.dest, GREETING, ()))
            order += 1
        while heap:
            cost, _, state, arrival, inputs = heapq.heappop(heap)
            if (state, arrival) in best:
                continue
            best[(state, arrival)] = cost
            doc = self.doc(state, arrival)
            if state not in self.reach:
                self.reach[state] = Reach(state, cost, self.timer.document(doc), inputs, arrival)
                self._time_edges(state, doc)
            for edge in walk_edges(flow, state):
                if edge.dest == edge.source:
                    continue
                key = key_for_trigger(edge.trigger)
                listened = self.timer.listen(doc, key)
                nxt = CONFIRM if key is not None else PLAIN
                heapq.heappush(heap, (cost + listened, order, edge.dest, nxt, (*inputs, key or ENTRY)))
                order += 1
            silent = self._silence(state, doc)
            if silent is not None:
                dest, seconds, times = silent
                heapq.heappush(heap, (cost + seconds, order, dest, PLAIN, (*inputs, *[SILENCE] * times)))
                order += 1

    def _silence(self, state: str, doc: Document) -> tuple[str, float, int] | None:
        """Where saying nothing leads in the end (an information leaf's `finished`, a menu's
        failover): the destination, seconds heard and waited, and how many silences it takes."""
        spec = self.flow.states[state]
        edges = [e for e in self.flow.edges_from(state) if e.trigger == "no_input"]
        if spec.gather is None or not edges or edges[-1].dest == state:
            return None
        retries = self.max_failures - 1 if any(e.dest == state for e in edges) else 0
        again = self.hearing.document(state, self.lang, reprompt=True, notice="no_input")
        wait = spec.gather.timeout
        seconds = self.timer.document(doc) + wait + retries * (self.timer.document(again) + wait)
        return edges[-1].dest, seconds, retries + 1

    def _time_edges(self, state: str, doc: Document) -> None:
        """Every key transition from `state`, timed on the document the quickest caller hears."""
        for edge in self.flow.edges_from(state):
            key = key_for_trigger(edge.trigger)
            if key is not None:
                self.edges.append(EdgeTime(state, key, edge.dest, self.timer.listen(doc, key)))


def menu_depths(flow: Flow) -> dict[str, tuple[int, Edge | None]]:
    """Each reachable state's fewest menu levels from the start, and the edge that leads there.

    The start document's menu is level 1; only menus add a level (entries and leaves do not).
    """
    found: dict[str, tuple[int, Edge | None]] = {}
    heap: list[tuple[int, int, str, Edge | None]] = []
    order = 0
    for edge in walk_edges(flow, flow.initial):
        heap.append((0, order, edge.dest, None))
        order += 1
    heapq.heapify(heap)
    while heap:
        above, _, state, via = heapq.heappop(heap)
        if state in found:
            continue
        level = above + (flow.states[state].type == "menu")
        found[state] = (level, via)
        for edge in flow.edges_from(state):
            if edge.dest != edge.source and (edge.trigger in _KEY_NAMES or edge.trigger == "entry"):
                heapq.heappush(heap, (level, order, edge.dest, edge))
                order += 1
    return found
