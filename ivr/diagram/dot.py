"""The menu graph as Graphviz DOT, and DOT laid out by Graphviz's `dot` program (SVG or PNG)."""

from __future__ import annotations

import shutil
import subprocess

from ivr.engine.errors import IvrError
from ivr.engine.flow import Flow

from .graph import _wrap, menu_graph

GRAPHVIZ_FORMATS = ("svg", "png")


class GraphvizError(IvrError):
    """Graphviz's `dot` is missing or failed."""


# -- Graphviz --------------------------------------------------------------------------------

_DOT_FILL: dict[str, str] = {
    "start": "#f2f2f2",
    "menu": "#e8f0fe",
    "info": "#e6f4ea",
    "entry": "#fff6cc",
    "transfer": "#fde8d0",
    "goodbye": "#e6e6e6",
    "closed": "#e6e6e6",
}


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
        done = subprocess.run(
            [program, f"-T{fmt}"], input=dot.encode(), capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphvizError(f"could not run {program}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise GraphvizError(f"dot failed (exit {done.returncode}): {message}")
    return done.stdout
