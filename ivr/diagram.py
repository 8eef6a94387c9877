"""A flow drawn for people: the menu graph, and that graph as Mermaid, DOT or a self-laid-out SVG.

`menu_graph` is the one source of every picture. With detail="menu" it hides what every menu
has (retries, and 0, *, #, 9 shared by many menus): those become badges on each node instead of
arrows. detail="full" keeps one arrow per (source, dest) for every transition of the flow.

Example:
    Path("main.svg").write_text(to_svg(flow))
    Path("main.png").write_bytes(render_graphviz(to_dot(flow), "png"))
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass
from xml.etree import ElementTree

from .call import CallContext
from .config import EngineConfig
from .errors import IvrError
from .flow import FAILURE_TRIGGERS, TERMINAL_TYPES, Edge, Flow, key_for_trigger

DETAILS = ("menu", "full")
GRAPHVIZ_FORMATS = ("svg", "png")
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
    "member_id_ok": "well-formed ID",
    "identity_matches": "ID and birth date match",
    "identity_retry_allowed": "no match, retry",
    "rx_number_ok": "well-formed Rx number",
}
_UNLESS: dict[str, str] = {"line_open": "closed"}
_WORDS: dict[str, str] = {"no_input": "no input", "invalid": "invalid", "entry": "entry",
                          "start": "call"}  # fmt: skip
_DOES: dict[str, str] = {"toggle_language": "language"}  # what a key that stays in place does
_TITLE_WORDS: dict[str, str] = {"id": "ID", "dob": "DOB", "lis": "LIS", "rx": "Rx", "tty": "TTY",
                                "medicare": "Medicare", "intl": "Intl"}  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z¿¡])")
_PLACEHOLDER = re.compile(r"\{[a-z_0-9]+\}")
_SUMMARY_CHARS = 72


class GraphvizError(IvrError):
    """Graphviz's `dot` is missing or failed."""


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
                does = next((_DOES[a] for a in edge.after if a in _DOES), "repeat")
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
    text = texts.get("en") or texts.get(flow.languages[0], "")
    sentences = _SENTENCE_END.split(" ".join(text.split()), maxsplit=2)
    sentence = " ".join(sentences[:2]) if len(sentences[0].split()) < 3 else sentences[0]
    sentence = _PLACEHOLDER.sub("…", sentence)
    if len(sentence) > _SUMMARY_CHARS:
        sentence = sentence[: _SUMMARY_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return sentence


# -- Mermaid ---------------------------------------------------------------------------------

_MERMAID_STYLES: dict[str, str] = {
    "start": "fill:#f2f2f2,stroke:#777",
    "menu": "fill:#e8f0fe,stroke:#4a6fa5",
    "entry": "fill:#fff6cc,stroke:#a68a00",
    "transfer": "fill:#fde8d0,stroke:#b35c00",
    "goodbye": "fill:#e6e6e6,stroke:#555",
    "closed": "fill:#e6e6e6,stroke:#555",
}


def to_mermaid(flow: Flow, detail: str = "menu") -> str:
    """A Mermaid stateDiagram-v2 of the menu graph (renders on GitHub in a ```mermaid block)."""
    graph = menu_graph(flow, detail=detail)
    lines = ["---", f"title: {json.dumps(f'{graph.title} ({detail} view)', ensure_ascii=False)}",
             "---", "stateDiagram-v2", "  direction LR"]  # fmt: skip
    types = dict.fromkeys(n.type for n in graph.nodes)
    lines += [f"  classDef {t} {_MERMAID_STYLES.get(t, 'fill:#fff')}" for t in types]
    for node in graph.nodes:
        lines.append(f'  state "{_mermaid_text(node.title)}" as {node.name}')
        if node.summary:
            lines.append(f"  {node.name} : {_mermaid_text(node.summary)}")
        if node.badges:
            lines.append(f"  {node.name} : {_mermaid_text(' · '.join(node.badges))}")
    for kind in types:
        members = [n.name for n in graph.nodes if n.type == kind]
        lines.append(f"  class {','.join(members)} {kind}")
    lines.append(f"  [*] --> {graph.initial}")
    for edge in graph.edges:
        lines.append(f"  {edge.source} --> {edge.dest} : {_mermaid_text(edge.label)}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Mermaid ends a description at ':' or ';', and a quoted state name at '"'.
    return text.replace(":", " –").replace(";", ",").replace('"', "'")


# -- Graphviz --------------------------------------------------------------------------------

_DOT_FILL: dict[str, str] = {"start": "#f2f2f2", "menu": "#e8f0fe", "entry": "#fff6cc",
                             "transfer": "#fde8d0", "goodbye": "#e6e6e6", "closed": "#e6e6e6"}  # fmt: skip


def to_dot(flow: Flow, detail: str = "menu") -> str:
    """A Graphviz DOT digraph of the menu graph; nodes have id "state-<name>" in dot's SVG."""
    graph = menu_graph(flow, detail=detail)
    lines = [
        f"digraph {_dot_quote(graph.name)} {{",
        f"  graph [rankdir=LR, label={_dot_quote(f'{graph.title} ({detail} view)')}, labelloc=t,"
        ' fontname="Helvetica", nodesep=0.2, ranksep=0.7];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#333333"];',
    ]
    for node in graph.nodes:
        text = [node.title, *_wrap(node.summary, 38)]
        if node.badges:
            text += _wrap(" · ".join(node.badges), 44)
        attrs = {
            "id": f"state-{node.name}",
            "class": f"state-{node.type}",
            "label": "\n".join(text),
            "fillcolor": _DOT_FILL.get(node.type, "#ffffff"),
        }
        if node.type in ("goodbye", "closed"):
            attrs["peripheries"] = "2"
        if node.type == "start":
            attrs["shape"] = "oval"
        lines.append(f"  {_dot_quote(node.name)} [{_dot_attrs(attrs)}];")
    for edge in graph.edges:
        attrs = {"id": f"edge-{edge.source}--{edge.dest}", "label": edge.label}
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.dest)} [{_dot_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n") + '"'


def _dot_attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{k}={_dot_quote(v)}" for k, v in attrs.items())


def render_graphviz(dot: str, fmt: str) -> bytes:
    """Lay out DOT text with Graphviz's `dot` program; fmt is "svg" or "png"."""
    if fmt not in GRAPHVIZ_FORMATS:
        raise ValueError(f"format must be one of {', '.join(GRAPHVIZ_FORMATS)}, not {fmt!r}")
    program = shutil.which("dot")
    if program is None:
        raise GraphvizError(
            "Graphviz is not installed (no `dot` program on PATH). Install it (apt-get install "
            "graphviz, or brew install graphviz), or use the built-in SVG or Mermaid instead."
        )
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True,
                              timeout=120, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphvizError(f"could not run {program}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise GraphvizError(f"dot failed (exit {done.returncode}): {message}")
    return done.stdout


# -- a layered layout, in Python -------------------------------------------------------------

_NODE_W = 210
_PAD = 8
_LINE = 14
_COL_GAP = 170
_ROW_GAP = 18
_DUMMY_H = 10
_MARGIN = 40
_SUMMARY_WRAP = 32
_BADGE_WRAP = 38
_SWEEPS = 6

_SVG_STYLE = """
.node rect { stroke: #4a6fa5; stroke-width: 1.2; fill: #e8f0fe; }
.state-start rect { fill: #f2f2f2; stroke: #777; }
.state-entry rect { fill: #fff6cc; stroke: #a68a00; }
.state-transfer rect { fill: #fde8d0; stroke: #b35c00; }
.state-goodbye rect, .state-closed rect { fill: #e6e6e6; stroke: #555; stroke-width: 2; }
.node text { font: 11px Helvetica, Arial, sans-serif; fill: #222; }
.node .title { font-weight: bold; font-size: 12px; }
.node .badges { font-size: 10px; fill: #555; }
.edge { fill: none; stroke: #667; stroke-width: 1.2; }
.edge-label { font: 9px Helvetica, Arial, sans-serif; fill: #333;
  paint-order: stroke; stroke: #fff; stroke-width: 3px; }
"""


@dataclass
class _Box:
    name: str
    layer: int
    height: float
    lines: list[tuple[str, str]]  # (css class, text)
    dummy: bool = False
    y: float = 0.0


def to_svg(flow: Flow, detail: str = "menu") -> str:
    """A standalone SVG of the menu graph, laid out here: no Graphviz needed.

    Columns are breadth-first depths from the initial state, with the states that end a call
    in one last column; within a column, a few barycenter sweeps reduce crossings. Each state
    is `<g class="node state-<type>" id="state-<name>" data-state="<name>">`, each arrow a
    `<path class="edge" data-source data-dest data-keys data-triggers>` with a label.
    """
    graph = menu_graph(flow, detail=detail)
    boxes, chains, layers = _layout(graph)
    width = _MARGIN * 2 + len(layers) * _NODE_W + (len(layers) - 1) * _COL_GAP
    height = _MARGIN + max((b.y + b.height for b in boxes.values()), default=0.0)
    svg = ElementTree.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "class": "ivr-diagram",
        "viewBox": f"0 0 {width:.0f} {height:.0f}", "width": f"{width:.0f}",
        "height": f"{height:.0f}", "data-line": graph.name, "data-detail": detail,
    })  # fmt: skip
    ElementTree.SubElement(svg, "title").text = f"{graph.title} ({detail} view)"
    ElementTree.SubElement(svg, "style").text = _SVG_STYLE
    defs = ElementTree.SubElement(svg, "defs")
    marker = ElementTree.SubElement(defs, "marker", {
        "id": "arrow", "viewBox": "0 0 10 10", "refX": "9", "refY": "5", "markerWidth": "7",
        "markerHeight": "7", "orient": "auto-start-reverse",
    })  # fmt: skip
    ElementTree.SubElement(marker, "path", {"d": "M0,0 L10,5 L0,10 z", "fill": "#667"})
    edges_group = ElementTree.SubElement(svg, "g", {"class": "edges"})
    ports = _ports(graph, boxes, chains)
    for index, edge in enumerate(graph.edges):
        _svg_edge(edges_group, edge, index, boxes, chains[index], ports)
    nodes_group = ElementTree.SubElement(svg, "g", {"class": "nodes"})
    for node in graph.nodes:
        _svg_node(nodes_group, node, boxes[node.name])
    return ElementTree.tostring(svg, encoding="unicode") + "\n"


def _x(layer: int) -> float:
    return _MARGIN + layer * (_NODE_W + _COL_GAP)


def _layout(graph: MenuGraph) -> tuple[dict[str, _Box], list[list[str]], list[list[str]]]:
    """Boxes with layers and y, each edge's chain of boxes (dummies in between), the columns."""
    depth = _depths(graph.initial, [(e.source, e.dest) for e in graph.edges])
    last = max((d for n, d in depth.items() if graph.node(n).type not in TERMINAL_TYPES), default=0)
    boxes: dict[str, _Box] = {}
    for node in graph.nodes:
        if node.type in TERMINAL_TYPES or node.name not in depth:
            layer = last + 1
        else:
            layer = depth[node.name]
        lines = [("title", node.title)] + [("summary", t) for t in _wrap(node.summary, _SUMMARY_WRAP)]
        lines += [("badges", t) for t in _wrap(" · ".join(node.badges), _BADGE_WRAP)]
        boxes[node.name] = _Box(node.name, layer, _PAD * 2 + _LINE * len(lines), lines)
    chains: list[list[str]] = []
    for index, edge in enumerate(graph.edges):
        a, b = boxes[edge.source].layer, boxes[edge.dest].layer
        chain = [edge.source]
        step = 1 if b > a else -1
        for k, layer in enumerate(range(a + step, b, step)):
            dummy = f"~{index}.{k}"
            boxes[dummy] = _Box(dummy, layer, _DUMMY_H, [], dummy=True)
            chain.append(dummy)
        chains.append([*chain, edge.dest])
    count = max(b.layer for b in boxes.values()) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    order = sorted(boxes.values(), key=lambda b: (depth.get(b.name, len(boxes)), b.dummy))
    for box in order:
        layers[box.layer].append(box.name)
    links = [(c[i], c[i + 1]) for c in chains for i in range(len(c) - 1) if c[i] != c[i + 1]]
    layers = _reduce_crossings(layers, links, boxes)
    _place(layers, links, boxes)
    return boxes, chains, layers


def _reduce_crossings(
    layers: list[list[str]], links: list[tuple[str, str]], boxes: dict[str, _Box]
) -> list[list[str]]:
    """Barycenter sweeps down and up the columns; keep the order with the fewest crossings."""
    near: dict[str, list[str]] = {}
    for a, b in links:
        if abs(boxes[a].layer - boxes[b].layer) == 1:
            near.setdefault(a, []).append(b)
            near.setdefault(b, []).append(a)
    best = [list(layer) for layer in layers]
    best_count = _crossings(best, links, boxes)
    current = [list(layer) for layer in layers]
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        indices = range(1, len(current)) if forward else range(len(current) - 2, -1, -1)
        for i in indices:
            ref = current[i - 1] if forward else current[i + 1]
            pos = {name: k for k, name in enumerate(ref)}
            layer = current[i]

            def centre(name: str, layer: list[str] = layer, pos: dict[str, int] = pos) -> float:
                seen = [pos[n] for n in near.get(name, []) if n in pos]
                if seen:
                    return sum(seen) / len(seen)
                return layer.index(name) * max(len(pos) - 1, 1) / max(len(layer) - 1, 1)

            current[i] = sorted(layer, key=centre)
        count = _crossings(current, links, boxes)
        if count < best_count:
            best, best_count = [list(layer) for layer in current], count
    return best


def _crossings(layers: list[list[str]], links: list[tuple[str, str]], boxes: dict[str, _Box]) -> int:
    pos = {name: k for layer in layers for k, name in enumerate(layer)}
    by_gap: dict[int, list[tuple[int, int]]] = {}
    for a, b in links:
        la, lb = boxes[a].layer, boxes[b].layer
        if abs(la - lb) != 1:
            continue
        left, right = (a, b) if la < lb else (b, a)
        by_gap.setdefault(min(la, lb), []).append((pos[left], pos[right]))
    total = 0
    for pairs in by_gap.values():
        for i, (a1, b1) in enumerate(pairs):
            for a2, b2 in pairs[i + 1 :]:
                total += (a1 - a2) * (b1 - b2) < 0
    return total


def _place(layers: list[list[str]], links: list[tuple[str, str]], boxes: dict[str, _Box]) -> None:
    """Give each box a y: stacked in column order, pulled towards its neighbours' centres."""
    near: dict[str, list[str]] = {}
    for a, b in links:
        near.setdefault(a, []).append(b)
        near.setdefault(b, []).append(a)
    for layer in layers:
        _stack(layer, boxes, {n: 0.0 for n in layer})
    for sweep in range(8):
        order = layers if sweep % 2 == 0 else list(reversed(layers))
        for layer in order:
            wanted: dict[str, float] = {}
            for name in layer:
                centres = [boxes[n].y + boxes[n].height / 2 for n in near.get(name, [])
                           if boxes[n].layer != boxes[name].layer]  # fmt: skip
                box = boxes[name]
                wanted[name] = (sum(centres) / len(centres) - box.height / 2) if centres else box.y
            _stack(layer, boxes, wanted)
    top = min((b.y for b in boxes.values()), default=0.0)
    for box in boxes.values():
        box.y += _MARGIN - top


def _stack(layer: list[str], boxes: dict[str, _Box], wanted: dict[str, float]) -> None:
    """Place a column in order without overlaps, as close to the wanted tops as it can."""
    y = float("-inf")
    placed: list[float] = []
    for name in layer:
        top = max(wanted[name], y)
        placed.append(top)
        y = top + boxes[name].height + _ROW_GAP
    # Pushing down only would drift the column: shift it back by the mean overshoot.
    shift = sum(p - wanted[n] for p, n in zip(placed, layer, strict=True)) / max(len(layer), 1)
    for top, name in zip(placed, layer, strict=True):
        boxes[name].y = top - shift


def _ports(graph: MenuGraph, boxes: dict[str, _Box], chains: list[list[str]]) -> dict[tuple[int, str], float]:
    """Where each edge leaves and enters a box: spread along the side, ordered by the far end."""
    sides: dict[tuple[str, str], list[tuple[float, int, str]]] = {}
    for index, (edge, chain) in enumerate(zip(graph.edges, chains, strict=True)):
        if edge.source == edge.dest:
            continue
        first, last = boxes[chain[1]], boxes[chain[-2]]
        forward = boxes[edge.dest].layer > boxes[edge.source].layer
        same = boxes[edge.dest].layer == boxes[edge.source].layer
        out_side = "right" if forward or same else "left"
        in_side = "left" if forward else "right"
        sides.setdefault((edge.source, out_side), []).append((first.y + first.height / 2, index, "out"))
        sides.setdefault((edge.dest, in_side), []).append((last.y + last.height / 2, index, "in"))
    ports: dict[tuple[int, str], float] = {}
    for (name, _), ends in sides.items():
        box = boxes[name]
        ends.sort()
        for k, (_, index, end) in enumerate(ends):
            ports[(index, end)] = box.y + box.height * (k + 1) / (len(ends) + 1)
    return ports


def _svg_edge(
    parent: ElementTree.Element, edge: GraphEdge, index: int, boxes: dict[str, _Box],
    chain: list[str], ports: dict[tuple[int, str], float],
) -> None:  # fmt: skip
    source, dest = boxes[edge.source], boxes[edge.dest]
    attrs = {"data-source": edge.source, "data-dest": edge.dest, "data-keys": " ".join(edge.keys),
             "data-triggers": " ".join(dict.fromkeys(edge.triggers))}  # fmt: skip
    if edge.source == edge.dest:
        x, y = _x(source.layer) + _NODE_W, source.y
        d = f"M{x - 30:.1f},{y:.1f} C{x - 30:.1f},{y - 30:.1f} {x + 26:.1f},{y - 18:.1f} {x:.1f},{y + 10:.1f}"
        label_at = (x - 4, y - 24)
    elif source.layer == dest.layer:
        x = _x(source.layer) + _NODE_W
        y1, y2 = ports[(index, "out")], ports[(index, "in")]
        bend = 40 + abs(y2 - y1) / 6
        d = f"M{x:.1f},{y1:.1f} C{x + bend:.1f},{y1:.1f} {x + bend:.1f},{y2:.1f} {x:.1f},{y2:.1f}"
        label_at = (x + bend * 0.75, (y1 + y2) / 2)
    else:
        forward = dest.layer > source.layer
        points = [(_x(source.layer) + (_NODE_W if forward else 0), ports[(index, "out")])]
        for name in chain[1:-1]:
            box = boxes[name]
            points.append((_x(box.layer) + _NODE_W / 2, box.y + box.height / 2))
        points.append((_x(dest.layer) + (0 if forward else _NODE_W), ports[(index, "in")]))
        d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            dx = (x1 - x0) / 2
            d += f" C{x0 + dx:.1f},{y0:.1f} {x1 - dx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        (x0, y0), (x1, y1) = points[0], points[1]
        label_at = (x0 + (x1 - x0) * 0.5, (y0 + y1) / 2 - 3)
    group = ElementTree.SubElement(parent, "g", {"class": "edge-group", **attrs})
    ElementTree.SubElement(group, "title").text = f"{edge.source} → {edge.dest}: {edge.label}"
    ElementTree.SubElement(group, "path", {"class": "edge", **attrs, "d": d,
                                           "marker-end": "url(#arrow)"})  # fmt: skip
    label = ElementTree.SubElement(group, "text", {
        "class": "edge-label", **attrs, "x": f"{label_at[0]:.1f}", "y": f"{label_at[1]:.1f}",
        "text-anchor": "middle",
    })  # fmt: skip
    label.text = edge.label


def _svg_node(parent: ElementTree.Element, node: GraphNode, box: _Box) -> None:
    x, y = _x(box.layer), box.y
    group = ElementTree.SubElement(parent, "g", {
        "class": f"node state-{node.type}", "id": f"state-{node.name}", "data-state": node.name,
    })  # fmt: skip
    ElementTree.SubElement(group, "title").text = "\n".join(
        [f"{node.name} ({node.type})", node.summary, *node.badges]
    ).strip()
    ElementTree.SubElement(group, "rect", {
        "x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{_NODE_W}", "height": f"{box.height:.1f}",
        "rx": "6", "ry": "6",
    })  # fmt: skip
    text = ElementTree.SubElement(group, "text", {"x": f"{x + _PAD:.1f}", "y": f"{y + _PAD:.1f}"})
    for kind, line in box.lines:
        span = ElementTree.SubElement(text, "tspan", {"class": kind, "x": f"{x + _PAD:.1f}",
                                                      "dy": f"{_LINE}"})  # fmt: skip
        span.text = line


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
