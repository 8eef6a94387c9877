"""A flow as graph data for Cytoscape.js: nodes and edges, labelled in one language.

Every hop a caller can make is in it, so a call's path can always be traced. A hop that many
menus share to the same place (0 to a representative, # to the main menu, no input or invalid
three times) is drawn once, from a node "From any menu" (kind `any`); such an edge lists the
menus it applies from in `sources`. `trace_hop` says which edge a hop from one state to another
took; the trainer page applies the same rule.

    data = cytoscape_graph(flow, "es", seconds={("main_menu", "1", "verify_id"): 6.2})
"""

from __future__ import annotations

import re
from typing import Any

from ivr.engine.config import EngineConfig
from ivr.engine.flow import FAILURE_TRIGGERS, Edge, Flow, key_for_trigger
from ivr.engine.render import heard

from .graph import _title

#: The id of the "From any menu" node.
ANY = "any"
#: A hop shared by this many states to the same destination is drawn from the `any` node.
_SHARED = 3
_SHARED_TRIGGERS = frozenset(["press_0", "press_star", "press_pound", "press_9", *FAILURE_TRIGGERS])
_KINDS = {
    "menu": "menu",
    "entry": "entry",
    "info": "info",
    "transfer": "transfer",
    "goodbye": "end",
    "closed": "end",
    "start": "start",
}
_KEYS = {"no_input": "timeout", "invalid": "invalid", "entry": "entry", "start": "start"}
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "any": "From any menu",
        "timeout": "no input",
        "invalid": "invalid",
        "entry": "entry",
        "invalid entry": "invalid entry",
        "start": "call",
        "retry": "retry",
        "language": "language",
        "repeat": "repeat",
        "say": "say",
        "and": "and",
        "times": "×",
        "verified": "verified",
        "locked": "locked out",
        "open": "open",
        "closed": "closed",
        "well-formed ID": "well-formed ID",
        "ID and birth date match": "ID and birth date match",
        "no match, retry": "no match, retry",
        "well-formed Rx number": "well-formed Rx number",
    },
    "es": {
        "any": "Desde cualquier menú",
        "timeout": "sin respuesta",
        "invalid": "opción no válida",
        "entry": "entrada",
        "invalid entry": "entrada no válida",
        "start": "llamada",
        "retry": "reintento",
        "language": "idioma",
        "repeat": "repetir",
        "say": "diga",
        "and": "y",
        "times": "×",
        "verified": "verificado",
        "locked": "bloqueado",
        "open": "abierto",
        "closed": "cerrado",
        "well-formed ID": "número de miembro válido",
        "ID and birth date match": "número y fecha de nacimiento coinciden",
        "no match, retry": "no coinciden, reintento",
        "well-formed Rx number": "número de receta válido",
    },
}
_CONDITIONS = {
    "identity_verified": "verified",
    "identity_locked": "locked",
    "line_open": "open",
    "member_id_ok": "well-formed ID",
    "identity_matches": "ID and birth date match",
    "identity_retry_allowed": "no match, retry",
    "rx_number_ok": "well-formed Rx number",
}
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z¿¡])")
_LABEL_CHARS = 48


def cytoscape_graph(
    flow: Flow, lang: str, seconds: dict[tuple[str, str, str], float] | None = None
) -> dict[str, Any]:
    """The flow as `{"line", "lang", "nodes", "edges"}` (docs/trainer-api.md), labelled in `lang`.

    seconds: listening seconds per (source, key, dest), from `ivr lint`, put on matching edges.
    """
    if lang not in flow.languages:
        raise ValueError(f"line {flow.name!r} speaks {', '.join(flow.languages)}, not {lang!r}")
    words = _WORDS.get(lang, _WORDS["en"])
    seconds = seconds or {}
    shared = _shared(flow)
    nodes: list[dict[str, Any]] = [_node(flow, name, lang) for name in flow.states]
    edges: dict[str, dict[str, Any]] = {}
    labels: dict[str, set[str]] = {}
    for edge in flow.edges:
        via_any = (edge.trigger, edge.dest) in shared and edge.source in shared[(edge.trigger, edge.dest)]
        source = ANY if via_any else edge.source
        edge_id = f"{source}--{edge.trigger}--{edge.dest}"
        key = key_for_trigger(edge.trigger) or _KEYS.get(edge.trigger, edge.trigger)
        label = _label(flow, edge, key, lang, words, shared=via_any)
        found = edges.get(edge_id)
        if found is None:
            found = {
                "id": edge_id,
                "source": source,
                "target": edge.dest,
                "label": label,
                "key": key,
                "kind": _kind(edge, via_any),
            }
            if via_any:
                found["sources"] = []
            edges[edge_id] = found
        elif label not in labels[edge_id]:
            found["label"] += f"; {label}"
        labels.setdefault(edge_id, set()).add(label)
        if via_any and edge.source not in found["sources"]:
            found["sources"].append(edge.source)
        listened = seconds.get((edge.source, key, edge.dest))
        if listened is not None and not via_any:
            found["seconds"] = round(listened, 1)
    if shared:
        nodes.append({"id": ANY, "label": words["any"], "kind": "any"})
    return {
        "line": flow.name,
        "title": flow.title,
        "lang": lang,
        "nodes": nodes,
        "edges": list(edges.values()),
    }


def trace_hop(graph: dict[str, Any], source: str, target: str) -> dict[str, Any] | None:
    """The edge a hop from `source` to `target` took: a direct one, else one from the `any`
    node that lists `source`; None when the graph has neither (a broken trace)."""
    for edge in graph["edges"]:
        if edge["source"] == source and edge["target"] == target:
            return dict(edge)
    for edge in graph["edges"]:
        if edge["source"] == ANY and edge["target"] == target and source in edge.get("sources", ()):
            return dict(edge)
    return None


def _shared(flow: Flow) -> dict[tuple[str, str], set[str]]:
    """(trigger, dest) -> the states it leaves from, for hops many states share."""
    sources: dict[tuple[str, str], set[str]] = {}
    for edge in flow.edges:
        if edge.trigger in _SHARED_TRIGGERS and edge.dest != edge.source:
            sources.setdefault((edge.trigger, edge.dest), set()).add(edge.source)
    return {hop: states for hop, states in sources.items() if len(states) >= _SHARED}


def _node(flow: Flow, name: str, lang: str) -> dict[str, Any]:
    spec = flow.states[name]
    node: dict[str, Any] = {
        "id": name,
        "label": _node_label(flow, name, lang),
        "kind": _KINDS.get(spec.type, "info"),
    }
    if spec.desk:
        node["desk"] = spec.desk
    return node


def _node_label(flow: Flow, name: str, lang: str) -> str:
    """The words a caller knows the state by: its confirmation, else its prompt's first sentence."""
    spec = flow.states[name]
    if spec.type == "start":
        return flow.title if lang == "en" else _sentence(flow.greeting.get(lang, ""), lang) or flow.title
    confirm = spec.confirm.get(lang, "")
    if confirm and spec.type == "menu":
        return _clip(heard(confirm, lang).rstrip("."))
    if lang == "en":
        return _title(name)
    return _sentence(spec.prompt.get(lang, ""), lang) or _title(name)


def _sentence(text: str, lang: str) -> str:
    words = " ".join(heard(text, lang).split())
    sentences = _SENTENCE_END.split(words, maxsplit=2)
    first = " ".join(sentences[:2]) if len(sentences[0].split()) < 3 else sentences[0]
    return _clip(first.rstrip(".")) if words else ""


def _clip(text: str) -> str:
    if len(text) <= _LABEL_CHARS:
        return text
    return text[: _LABEL_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _label(
    flow: Flow, edge: Edge, key: str, lang: str, words: dict[str, str], *, shared: bool = False
) -> str:
    conditions = [words.get(_CONDITIONS.get(c, c), c.replace("_", " ")) for c in edge.conditions]
    conditions += [words["closed"] if u == "line_open" else "not " + u.replace("_", " ") for u in edge.unless]
    if "can_retry" in edge.conditions:
        conditions = [c for c in conditions if c != "can retry"]
        base = words.get(key, key)
        return f"{base} ({words['retry']})"
    if key_for_trigger(edge.trigger) is not None:
        text = key
        if "toggle_language" in edge.actions:
            text += f" {words['language']}"
        elif edge.dest == edge.source:
            text += f" {words['repeat']}"
        phrase = _phrase(flow, edge, key, lang, shared=shared)
        if phrase:
            text += f" / {words['say']} “{phrase}”"
    else:
        text = words.get(key, key)
        if edge.trigger == "entry" and edge.dest == edge.source:
            text = words["invalid entry"]
        elif edge.trigger in FAILURE_TRIGGERS and edge.dest != edge.source and _retries(flow, edge):
            text += f" ×{EngineConfig.max_failures}"
    joiner = f" {words['and']} "
    return f"{text}: {joiner.join(conditions)}" if conditions else text


def _phrase(flow: Flow, edge: Edge, key: str, lang: str, *, shared: bool = False) -> str:
    """The first words that say `key` at the edge's menu (the line's own words when shared)."""
    spec = flow.states[edge.source]
    if spec.gather is None or "speech" not in spec.gather.input:
        return ""
    own = {} if shared else spec.speech.get(key)
    phrases = (own or flow.speech.get(key) or {}).get(lang) or ()
    return phrases[0] if phrases else ""


def _retries(flow: Flow, edge: Edge) -> bool:
    """Whether the failure `edge` comes after retries in the same state (the last of them)."""
    return any(
        e.trigger == edge.trigger and e.dest == e.source and "can_retry" in e.conditions
        for e in flow.edges_from(edge.source)
    )


def _kind(edge: Edge, via_any: bool) -> str:
    if edge.trigger == "start":
        return "auto"
    failed = edge.trigger in FAILURE_TRIGGERS or (edge.trigger == "entry" and edge.dest == edge.source)
    if failed or "can_retry" in edge.conditions:
        return "retry" if edge.dest == edge.source else "failover"
    if via_any or edge.trigger in ("press_0", "press_star", "press_pound", "press_9"):
        return "global"
    return "choice"
