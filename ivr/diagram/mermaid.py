"""The menu graph as a Mermaid stateDiagram-v2, the text GitHub draws in a ```mermaid block."""

from __future__ import annotations

import json

from ivr.engine.flow import Flow

from .graph import menu_graph

# -- Mermaid ---------------------------------------------------------------------------------

_MERMAID_STYLES: dict[str, str] = {
    "start": "fill:#f2f2f2,stroke:#777",
    "menu": "fill:#e8f0fe,stroke:#4a6fa5",
    "info": "fill:#e6f4ea,stroke:#3b7d4f",
    "entry": "fill:#fff6cc,stroke:#a68a00",
    "transfer": "fill:#fde8d0,stroke:#b35c00",
    "goodbye": "fill:#e6e6e6,stroke:#555",
    "closed": "fill:#e6e6e6,stroke:#555",
}


def to_mermaid(flow: Flow, detail: str = "menu") -> str:
    """A Mermaid stateDiagram-v2 of the menu graph (renders on GitHub in a ```mermaid block)."""
    graph = menu_graph(flow, detail=detail)
    lines = [
        "---",
        f"title: {json.dumps(f'{graph.title} ({detail} view)', ensure_ascii=False)}",
        "---",
        "stateDiagram-v2",
        "  direction LR",
    ]
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
