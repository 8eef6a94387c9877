"""The menu graph as a standalone SVG, laid out here in layers: no Graphviz needed."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree

from ivr.engine.flow import TERMINAL_TYPES, Flow

from .graph import GraphEdge, GraphNode, MenuGraph, _depths, _wrap, menu_graph

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
.state-info rect { fill: #e6f4ea; stroke: #3b7d4f; }
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
    svg = ElementTree.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "ivr-diagram",
            "viewBox": f"0 0 {width:.0f} {height:.0f}",
            "width": f"{width:.0f}",
            "height": f"{height:.0f}",
            "data-line": graph.name,
            "data-detail": detail,
        },
    )
    ElementTree.SubElement(svg, "title").text = f"{graph.title} ({detail} view)"
    ElementTree.SubElement(svg, "style").text = _SVG_STYLE
    defs = ElementTree.SubElement(svg, "defs")
    marker = ElementTree.SubElement(
        defs,
        "marker",
        {
            "id": "arrow",
            "viewBox": "0 0 10 10",
            "refX": "9",
            "refY": "5",
            "markerWidth": "7",
            "markerHeight": "7",
            "orient": "auto-start-reverse",
        },
    )
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
                centres = [
                    boxes[n].y + boxes[n].height / 2
                    for n in near.get(name, [])
                    if boxes[n].layer != boxes[name].layer
                ]
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
    parent: ElementTree.Element,
    edge: GraphEdge,
    index: int,
    boxes: dict[str, _Box],
    chain: list[str],
    ports: dict[tuple[int, str], float],
) -> None:
    source, dest = boxes[edge.source], boxes[edge.dest]
    attrs = {
        "data-source": edge.source,
        "data-dest": edge.dest,
        "data-keys": " ".join(edge.keys),
        "data-triggers": " ".join(dict.fromkeys(edge.triggers)),
    }
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
    ElementTree.SubElement(group, "path", {"class": "edge", **attrs, "d": d, "marker-end": "url(#arrow)"})
    label = ElementTree.SubElement(
        group,
        "text",
        {
            "class": "edge-label",
            **attrs,
            "x": f"{label_at[0]:.1f}",
            "y": f"{label_at[1]:.1f}",
            "text-anchor": "middle",
        },
    )
    label.text = edge.label


def _svg_node(parent: ElementTree.Element, node: GraphNode, box: _Box) -> None:
    x, y = _x(box.layer), box.y
    group = ElementTree.SubElement(
        parent,
        "g",
        {
            "class": f"node state-{node.type}",
            "id": f"state-{node.name}",
            "data-state": node.name,
        },
    )
    ElementTree.SubElement(group, "title").text = "\n".join(
        [f"{node.name} ({node.type})", node.summary, *node.badges]
    ).strip()
    ElementTree.SubElement(
        group,
        "rect",
        {
            "x": f"{x:.1f}",
            "y": f"{y:.1f}",
            "width": f"{_NODE_W}",
            "height": f"{box.height:.1f}",
            "rx": "6",
            "ry": "6",
        },
    )
    text = ElementTree.SubElement(group, "text", {"x": f"{x + _PAD:.1f}", "y": f"{y + _PAD:.1f}"})
    for kind, line in box.lines:
        span = ElementTree.SubElement(
            text, "tspan", {"class": kind, "x": f"{x + _PAD:.1f}", "dy": f"{_LINE}"}
        )
        span.text = line
