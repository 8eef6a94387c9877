"""The menu graph of a flow: the states as boxes, the transitions as labelled arrows.

`menu_graph` is the one source of every picture. With detail="menu" it hides what every menu
has (retries, and 0, *, #, 9 shared by many menus): those become badges on each node instead of
arrows. detail="full" keeps one arrow per (source, dest) for every transition of the flow.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from ivr.engine.call import CallContext
from ivr.engine.config import EngineConfig
from ivr.engine.flow import FAILURE_TRIGGERS, Edge, Flow, key_for_trigger
from ivr.engine.render import heard

DETAILS = ("menu", "full")
#: Keys that work the same way in many menus: shown as badges in the menu view.
_FURNITURE_KEYS = frozenset(["press_0", "press_star", "press_pound", "press_9"])
#: A key or failure edge shared by this many menus is furniture, not a choice.
_SHARED = 3
_MAX_FAILURES = EngineConfig.max_failures
_MAX_ID_ATTEMPTS = CallContext.max_identity_attempts
_IF: dict[str, str] = {
    "can_retry": "retry",
    "line_open": "open",
    "identity_verified": "verified",
    "identity_locked": "locked out",
    "member_id_ok": "well-formed ID",
    "identity_matches": "ID and birth date match",
    "identity_retry_allowed": "no match, retry",
    "rx_number_ok": "well-formed Rx number",
}
_UNLESS: dict[str, str] = {"line_open": "closed"}
_WORDS: dict[str, str] = {"no_input": "no input", "invalid": "invalid", "entry": "entry", "start": "call"}
_DOES: dict[str, str] = {"toggle_language": "language"}  # what a key that stays in place does
_TITLE_WORDS: dict[str, str] = {
    "id": "ID",
    "dob": "DOB",
    "lis": "LIS",
    "rx": "Rx",
    "tty": "TTY",
    "medicare": "Medicare",
    "intl": "Intl",
}
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z¿¡])")
_SUMMARY_CHARS = 72


@dataclass(frozen=True)
class GraphNode:
    """One state as a box: its type, a title from its name and its prompt's first sentence."""

    name: str
    type: str
    title: str
    summary: str
    badges: tuple[str, ...] = ()
    desk: str | None = None

    @property
    def label(self) -> str:
        return f"{self.title}\n{self.summary}" if self.summary else self.title


@dataclass(frozen=True)
class GraphEdge:
    """Every transition from `source` to `dest`, as one arrow labelled with its keys."""

    source: str
    dest: str
    triggers: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def label(self) -> str:
        return ", ".join(self.labels)

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys pressed ('1', '*', '#'), or the trigger for other input ('no_input')."""
        return tuple(dict.fromkeys(key_for_trigger(t) or t for t in self.triggers))


@dataclass(frozen=True)
class MenuGraph:
    """The graph a person reads: nodes in flow order, edges in the order they are declared."""

    name: str
    title: str
    initial: str
    detail: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    def node(self, name: str) -> GraphNode:
        return next(n for n in self.nodes if n.name == name)


# -- the graph -------------------------------------------------------------------------------


def menu_graph(flow: Flow, *, detail: str = "menu") -> MenuGraph:
    """Build the readable graph of `flow`; detail is "menu" (decluttered) or "full"."""
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}")
    labelled = _labelled(flow)
    shown, badges = (labelled, {}) if detail == "full" else _declutter(flow, labelled)
    merged: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for edge, label in shown:
        triggers, labels = merged.setdefault((edge.source, edge.dest), ([], []))
        triggers.append(edge.trigger)
        if label not in labels:
            labels.append(label)
    edges = tuple(GraphEdge(s, d, tuple(t), tuple(lb)) for (s, d), (t, lb) in merged.items())
    nodes = tuple(
        GraphNode(name, spec.type, _title(name), _summary(flow, name), badges.get(name, ()), spec.desk)
        for name, spec in flow.states.items()
    )
    return MenuGraph(flow.name, flow.title, flow.initial, detail, nodes, edges)


def _labelled(flow: Flow) -> list[tuple[Edge, str]]:
    out: list[tuple[Edge, str]] = []
    earlier: dict[tuple[str, str], list[Edge]] = {}
    for edge in flow.edges:
        siblings = earlier.setdefault((edge.source, edge.trigger), [])
        out.append((edge, _edge_label(flow, edge, siblings)))
        siblings.append(edge)
    return out


def _edge_label(flow: Flow, edge: Edge, earlier: list[Edge]) -> str:
    """'1', '0/say representative', '1 if verified', 'no input ×3', 'well-formed ID'..."""
    conditions = [_IF.get(c, c.replace("_", " ")) for c in edge.conditions]
    conditions += [_UNLESS.get(u, "not " + u.replace("_", " ")) for u in edge.unless]
    key = key_for_trigger(edge.trigger)
    if key is not None:
        text = key + _spoken(flow, edge.source, key)
        return f"{text} if {' and '.join(conditions)}" if conditions else text
    word = "invalid entry" if edge.trigger == "entry" and earlier else _WORDS[edge.trigger]
    if conditions == ["retry"]:
        return f"{word} (retry)"
    if conditions:
        return " and ".join(conditions)
    if any("can_retry" in e.conditions for e in earlier):
        return f"{word} ×{_MAX_FAILURES}"
    if any("identity_retry_allowed" in e.conditions for e in earlier):
        return f"no match ×{_MAX_ID_ATTEMPTS}"
    return word


def _spoken(flow: Flow, state: str, key: str) -> str:
    spec = flow.states[state]
    if spec.gather is None or "speech" not in spec.gather.input:
        return ""
    words = spec.speech.get(key) or flow.speech.get(key) or {}
    phrases = words.get("en") or words.get(flow.languages[0]) or ()
    return f"/say {phrases[0]}" if phrases else ""


def _declutter(
    flow: Flow, labelled: list[tuple[Edge, str]]
) -> tuple[list[tuple[Edge, str]], dict[str, tuple[str, ...]]]:
    """Keep the choices as arrows; retries and keys many menus share become badges."""
    sources: dict[tuple[str, str], set[str]] = {}
    for edge, _ in labelled:
        sources.setdefault((edge.trigger, edge.dest), set()).add(edge.source)

    def furniture(edge: Edge) -> bool:
        if edge.dest == edge.source:
            return edge.trigger in _FURNITURE_KEYS | FAILURE_TRIGGERS | {"entry"}
        shared = len(sources[(edge.trigger, edge.dest)]) >= _SHARED
        return shared and edge.trigger in _FURNITURE_KEYS | FAILURE_TRIGGERS

    kept = {id(e) for e, _ in labelled if not furniture(e)}
    # A state reached only through furniture keeps one arrow, from its shallowest source.
    depth = _depths(flow.initial, [(e.source, e.dest) for e, _ in labelled])
    entered = {e.dest for e, _ in labelled if id(e) in kept and e.dest != e.source} | {flow.initial}
    for edge, _ in sorted(labelled, key=lambda x: depth.get(x[0].source, len(depth))):
        if edge.dest not in entered and edge.dest != edge.source:
            kept.add(id(edge))
            entered.add(edge.dest)
    shown = [(e, lb) for e, lb in labelled if id(e) in kept]
    return shown, _badges(flow, [(e, lb) for e, lb in labelled if id(e) not in kept])


def _badges(flow: Flow, hidden: list[tuple[Edge, str]]) -> dict[str, tuple[str, ...]]:
    """'0 → Representative', '* repeat', 'no input/invalid ×3 → Representative', per state."""
    by_key: dict[str, dict[str, list[str]]] = {}  # state -> '0' or '* repeat' -> dest titles
    by_dest: dict[str, dict[str, list[str]]] = {}  # state -> dest title -> failure labels
    for edge, label in hidden:
        key = key_for_trigger(edge.trigger)
        if edge.dest == edge.source:
            if key is not None:  # a retry has no badge of its own: the failure badge counts them
                does = next((_DOES[a] for a in edge.actions if a in _DOES), "repeat")
                by_key.setdefault(edge.source, {}).setdefault(f"{key} {does}", [])
        elif key is not None:
            by_key.setdefault(edge.source, {}).setdefault(key, []).append(_title(edge.dest))
        else:
            by_dest.setdefault(edge.source, {}).setdefault(_title(edge.dest), []).append(label)
    badges: dict[str, tuple[str, ...]] = {}
    for name in flow.states:
        found = [f"{k} → {'/'.join(dests)}" if dests else k for k, dests in by_key.get(name, {}).items()]
        found += [f"{_join_failures(lbs)} → {dest}" for dest, lbs in by_dest.get(name, {}).items()]
        if found:
            badges[name] = tuple(found)
    return badges


def _join_failures(labels: list[str]) -> str:
    """['no input ×3', 'invalid ×3'] -> 'no input/invalid ×3'."""
    split = [label.rpartition(" ×") for label in labels]
    counts = {count for _, sep, count in split if sep}
    if len(counts) == 1 and all(sep for _, sep, _ in split):
        return "/".join(dict.fromkeys(head for head, _, _ in split)) + f" ×{counts.pop()}"
    return "/".join(dict.fromkeys(labels))


def _depths(initial: str, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Breadth-first depth of every state reachable from `initial` over `pairs`."""
    after: dict[str, list[str]] = {}
    for source, dest in pairs:
        after.setdefault(source, []).append(dest)
    depth = {initial: 0}
    queue = deque([initial])
    while queue:
        state = queue.popleft()
        for dest in after.get(state, []):
            if dest not in depth:
                depth[dest] = depth[state] + 1
                queue.append(dest)
    return depth


def _title(name: str) -> str:
    words = [_TITLE_WORDS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _summary(flow: Flow, name: str) -> str:
    """The first sentence a caller hears in the state (English when the flow has it)."""
    spec = flow.states[name]
    texts = flow.greeting if spec.type == "start" else spec.prompt
    lang = "en" if "en" in texts else flow.languages[0]
    text = heard(texts.get(lang, ""), lang)
    sentences = _SENTENCE_END.split(" ".join(text.split()), maxsplit=2)
    sentence = " ".join(sentences[:2]) if len(sentences[0].split()) < 3 else sentences[0]
    if len(sentence) > _SUMMARY_CHARS:
        sentence = sentence[: _SUMMARY_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return sentence


def _wrap(text: str, width: int, most: int = 4) -> list[str]:
    """Break text into lines of at most `width` characters (at most `most` lines)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = lines[-1][: width - 1].rstrip() + "…"
    return lines
