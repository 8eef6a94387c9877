"""A flow drawn for people: the menu graph, and that graph as Mermaid, DOT or a self-laid-out SVG.

`menu_graph` is the one source of every picture. With detail="menu" it hides what every menu
has (retries, and 0, *, #, 9 shared by many menus): those become badges on each node instead of
arrows. detail="full" keeps one arrow per (source, dest) for every transition of the flow.

Example:
    Path("main.svg").write_text(to_svg(flow))
    Path("main.png").write_bytes(render_graphviz(to_dot(flow), "png"))
"""

from .dot import GRAPHVIZ_FORMATS, GraphvizError, render_graphviz, to_dot
from .graph import DETAILS, GraphEdge, GraphNode, MenuGraph, menu_graph
from .mermaid import to_mermaid
from .svg import to_svg

__all__ = [
    "DETAILS",
    "GRAPHVIZ_FORMATS",
    "GraphEdge",
    "GraphNode",
    "GraphvizError",
    "MenuGraph",
    "menu_graph",
    "render_graphviz",
    "to_dot",
    "to_mermaid",
    "to_svg",
]
