"""Diagrams of every flow (ivr.diagram) and the `ivr graph` command that writes them."""

from __future__ import annotations

import re
import shutil
from collections import deque
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result
from transitions.extensions.diagrams import GraphMachine

from ivr.cli import main
from ivr.diagram import (
    GraphvizError,
    menu_graph,
    render_graphviz,
    to_dot,
    to_mermaid,
    to_svg,
)
from ivr.diagram import svg as diagram_svg
from ivr.engine.config import FLOWS_DIR
from ivr.engine.flow import STATE_TYPES, Flow
from ivr.engine.flow_loader import load_flow

from .test_flow_loader import MINIMAL, edit

FLOW_FILES = sorted(FLOWS_DIR.glob("*.yaml"))
FLOWS = {path.stem: load_flow(path) for path in FLOW_FILES}
NAMES = sorted(FLOWS)
DETAILS = ["menu", "full"]
SVG = "{http://www.w3.org/2000/svg}"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed")
ODD_PROMPT = 'Tom & Jerry <b>"help"</b>: press 1; or 0.'

Pair = tuple[str, str]


def graph_pairs(flow: Flow, detail: str) -> set[Pair]:
    return {(e.source, e.dest) for e in menu_graph(flow, detail=detail).edges}


@pytest.fixture
def odd_flow(tmp_path: Path) -> Flow:
    """A small flow whose prompt holds every character that must be escaped somewhere."""
    text = edit(MINIMAL, "en: Press 1 for help or 0 for a representative.", f"en: '{ODD_PROMPT}'")
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    return load_flow(path)


def test_every_shipped_flow_is_drawn() -> None:
    assert NAMES == ["main", "specialty", "tty"]


# -- the menu graph ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_full_detail_keeps_the_pairs_of_transitions_own_diagram(name: str) -> None:
    """transitions' GraphMachine (mermaid engine) is the oracle of which states are joined."""
    flow = FLOWS[name]
    model = type("Model", (), {})()
    machine = GraphMachine(
        model=model, graph_engine="mermaid", auto_transitions=False, **flow.machine_config()
    )
    source: str = machine.get_combined_graph().source  # type: ignore[attr-defined]
    pairs = set(re.findall(r"^\s*([a-z_0-9]+) --> ([a-z_0-9]+):", source, re.MULTILINE))
    assert len(pairs) > len(flow.states) // 2
    assert graph_pairs(flow, "full") == pairs


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_menu_detail_has_fewer_arrows_no_loops_and_reaches_every_state(name: str) -> None:
    flow = FLOWS[name]
    menu, full = graph_pairs(flow, "menu"), graph_pairs(flow, "full")
    assert menu < full
    assert [p for p in menu if p[0] == p[1]] == []
    after: dict[str, list[str]] = {}
    for source, dest in menu:
        after.setdefault(source, []).append(dest)
    seen, queue = {flow.initial}, deque([flow.initial])
    while queue:
        for dest in after.get(queue.popleft(), []):
            if dest not in seen:
                seen.add(dest)
                queue.append(dest)
    assert seen == set(flow.states)


LABELS = [
    pytest.param("main", "menu", "main_menu", "billing_menu", "2/say billing", id="key-and-word"),
    pytest.param("main", "menu", "main_menu", "refill_menu", "1/say refill if verified", id="condition"),
    pytest.param("main", "menu", "main_menu", "representative", "1/say refill if locked out", id="lockout"),
    pytest.param("main", "menu", "verify_id", "verify_dob", "well-formed ID", id="entry-accepted"),
    pytest.param("main", "menu", "verify_id", "representative", "invalid entry ×3", id="entry-failover"),
    pytest.param("main", "menu", "verify_dob", "representative", "no match ×2", id="identity-failover"),
    pytest.param("main", "menu", "verify_dob", "verify_id", "no match, retry", id="identity-retry"),
    pytest.param(
        "main",
        "full",
        "main_menu",
        "representative",
        "1/say refill if locked out, 0/say representative, no input ×3, invalid ×3",
        id="merged",
    ),
    pytest.param(
        "main",
        "full",
        "billing_menu",
        "billing_menu",
        "*/say repeat, 9/say spanish, no input (retry), invalid (retry)",
        id="loop",
    ),
    pytest.param(
        "main",
        "full",
        "main_menu",
        "main_menu",
        "*/say repeat, #/say main menu, 9/say spanish, no input (retry), invalid (retry)",
        id="language",
    ),
    pytest.param("main", "full", "billing_discrepancy", "goodbye", "no input ×3", id="finished"),
    pytest.param("main", "menu", "billing_menu", "billing_appeals", "4/say appeal", id="appeals"),
    pytest.param("tty", "menu", "incoming", "closed", "closed", id="hours-closed"),
    pytest.param("tty", "menu", "incoming", "main_menu", "call", id="hours-open"),
]


@pytest.mark.parametrize(("name", "detail", "source", "dest", "label"), LABELS)
def test_edge_labels(name: str, detail: str, source: str, dest: str, label: str) -> None:
    graph = menu_graph(FLOWS[name], detail=detail)
    [edge] = [e for e in graph.edges if (e.source, e.dest) == (source, dest)]
    assert edge.label == label


BADGES = [
    pytest.param(
        "billing_menu",
        [
            "0 → Representative",
            "* repeat",
            "# → Main menu",
            "9 language",
            "no input/invalid ×3 → Representative",
        ],
        id="sub-menu",
    ),
    pytest.param(
        "main_menu",
        ["0 → Representative", "* repeat", "# repeat", "9 language", "no input/invalid ×3 → Representative"],
        id="main-menu",
    ),
    pytest.param(
        "medicare_gap",
        [
            "0 → Medicare team",
            "* repeat",
            "# → Main menu",
            "9 language",
            "invalid ×3 → Representative",
            "no input ×3 → Goodbye",
        ],
        id="medicare",
    ),
    pytest.param("verify_id", ["no input ×3 → Representative"], id="entry"),
    pytest.param("representative", [], id="transfer"),
]


@pytest.mark.parametrize(("state", "badges"), BADGES)
def test_menu_detail_turns_shared_keys_into_badges(state: str, badges: list[str]) -> None:
    assert list(menu_graph(FLOWS["main"]).node(state).badges) == badges
    assert menu_graph(FLOWS["main"], detail="full").node(state).badges == ()


NODES = [
    pytest.param("main_menu", "menu", "Main menu", "For refills or delivery status, press 1.", id="menu"),
    pytest.param(
        "incoming",
        "start",
        "Incoming",
        "Thanks for calling the Caremark mail order pharmacy simulator.",
        id="greeting",
    ),
    pytest.param(
        "verify_dob",
        "entry",
        "Verify DOB",
        "Thank you. Now enter your date of birth as eight digits: two for the…",
        id="short",
    ),
    pytest.param(
        "refill_submitted",
        "info",
        "Refill submitted",
        "Your refill request for the prescription ending in … has been received.",
        id="placeholder",
    ),
    pytest.param(
        "pharmacist",
        "transfer",
        "Pharmacist",
        "Connecting you with a licensed clinical pharmacist, who can help with…",
        id="long",
    ),
]


@pytest.mark.parametrize(("state", "kind", "title", "summary"), NODES)
def test_node_title_and_first_sentence(state: str, kind: str, title: str, summary: str) -> None:
    node = menu_graph(FLOWS["main"]).node(state)
    assert (node.type, node.title, node.summary) == (kind, title, summary)


def test_an_unknown_detail_is_refused() -> None:
    with pytest.raises(ValueError, match="menu, full"):
        menu_graph(FLOWS["main"], detail="some")


# -- Mermaid ----------------------------------------------------------------------------------

_M_NODE = re.compile(r'^  state "([^":;]+)" as ([a-z][a-z0-9_]*)$')
_M_DESCR = re.compile(r"^  ([a-z][a-z0-9_]*) : ([^:;\n]+)$")
_M_EDGE = re.compile(r"^  ([a-z][a-z0-9_]*) --> ([a-z][a-z0-9_]*) : ([^:;\n]+)$")
_M_START = re.compile(r"^  \[\*\] --> ([a-z][a-z0-9_]*)$")
_M_CLASSDEF = re.compile(r"^  classDef ([a-z]+) [a-z-]+:[^ ;]+$")
_M_CLASS = re.compile(r"^  class ([a-z0-9_,]+) ([a-z]+)$")


def parse_mermaid(text: str) -> dict[str, list[tuple[str, ...]]]:
    """Every line of a Mermaid state diagram, sorted by kind; an unknown line fails the test."""
    lines = text.splitlines()
    assert lines[0] == "---" and lines[1].startswith("title: ") and lines[2] == "---"
    assert lines[3:5] == ["stateDiagram-v2", "  direction LR"]
    found: dict[str, list[tuple[str, ...]]] = {
        k: [] for k in ("node", "descr", "edge", "start", "classdef", "class")
    }
    patterns = {
        "node": _M_NODE,
        "descr": _M_DESCR,
        "edge": _M_EDGE,
        "start": _M_START,
        "classdef": _M_CLASSDEF,
        "class": _M_CLASS,
    }
    for line in lines[5:]:
        kind = next((k for k, p in patterns.items() if p.match(line)), None)
        assert kind is not None, f"not a line of a Mermaid state diagram: {line!r}"
        found[kind].append(patterns[kind].match(line).groups())  # type: ignore[union-attr]
    return found


@pytest.mark.parametrize("detail", DETAILS)
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_mermaid_declares_every_state_and_joins_only_declared_ones(name: str, detail: str) -> None:
    flow = FLOWS[name]
    parsed = parse_mermaid(to_mermaid(flow, detail))
    declared = [name for _, name in parsed["node"]]
    assert sorted(declared) == sorted(flow.states)
    assert {name for name, _ in parsed["descr"]} <= set(declared)
    assert parsed["start"] == [(flow.initial,)]
    edges = [(s, d) for s, d, _ in parsed["edge"]]
    assert len(edges) == len(set(edges))
    assert set(edges) == graph_pairs(flow, detail)
    classed = {state: kind for states, kind in parsed["class"] for state in states.split(",")}
    assert classed == {state: spec.type for state, spec in flow.states.items()}
    assert {kind for kind, *_ in parsed["classdef"]} == set(classed.values())


@pytest.mark.parametrize("kind", sorted(STATE_TYPES))
def test_every_state_type_has_a_style_of_its_own_in_every_format(kind: str) -> None:
    from ivr.diagram.dot import _DOT_FILL
    from ivr.diagram.mermaid import _MERMAID_STYLES
    from ivr.diagram.svg import _SVG_STYLE

    assert kind in _MERMAID_STYLES and kind in _DOT_FILL
    assert kind == "menu" or f".state-{kind} rect" in _SVG_STYLE  # menu is the default .node rect


def test_mermaid_of_the_main_line_reads_as_a_menu() -> None:
    text = to_mermaid(FLOWS["main"])
    billing = '  state "Billing menu" as billing_menu\n  billing_menu : For a billing discrepancy, press 1.\n'
    assert billing in text
    assert "  main_menu --> billing_menu : 2/say billing\n" in text
    assert "Your most recent order – …" in text  # ':' would end a Mermaid description


def test_mermaid_keeps_text_that_would_break_it_out(odd_flow: Flow) -> None:
    parsed = parse_mermaid(to_mermaid(odd_flow))
    descriptions = {name: text for name, text in parsed["descr"]}
    assert descriptions["main_menu"] == "Tom & Jerry <b>'help'</b> – press 1, or 0."


def test_docs_hold_the_main_line_diagram() -> None:
    path = Path(__file__).resolve().parent.parent / "docs" / "main-line.mmd"
    assert path.read_text(encoding="utf-8") == to_mermaid(FLOWS["main"], "menu"), (
        "docs/main-line.mmd is out of date: ivr graph --line main -o docs/main-line.mmd"
    )


# -- DOT and Graphviz -------------------------------------------------------------------------

_D_NODE = re.compile(r'^  "([a-z0-9_]+)" \[id="state-\1", class="state-([a-z]+)", label="')
_D_EDGE = re.compile(r'^  "([a-z0-9_]+)" -> "([a-z0-9_]+)" \[id="edge-\1--\2", label="')


@pytest.mark.parametrize("detail", DETAILS)
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_dot_has_every_node_and_every_edge(name: str, detail: str) -> None:
    flow = FLOWS[name]
    lines = to_dot(flow, detail).splitlines()
    assert lines[0] == f'digraph "{name}" {{' and lines[-1] == "}"
    nodes = {m[1]: m[2] for m in map(_D_NODE.match, lines) if m}
    assert nodes == {state: spec.type for state, spec in flow.states.items()}
    edges = [(m[1], m[2]) for m in map(_D_EDGE.match, lines) if m]
    assert sorted(edges) == sorted(graph_pairs(flow, detail))
    assert len(lines) == 5 + len(nodes) + len(edges)


def test_dot_escapes_quotes(odd_flow: Flow) -> None:
    assert r'label="Main menu\nTom & Jerry <b>\"help\"</b>: press 1;' in to_dot(odd_flow)


@needs_dot
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_graphviz_svg_has_a_group_per_state(name: str) -> None:
    flow = FLOWS[name]
    root = ElementTree.fromstring(render_graphviz(to_dot(flow), "svg"))
    ids = {g.get("id") for g in root.iter(f"{SVG}g") if "node" in (g.get("class") or "").split()}
    assert ids == {f"state-{state}" for state in flow.states}


@needs_dot
def test_graphviz_renders_png_and_odd_text(odd_flow: Flow) -> None:
    assert render_graphviz(to_dot(odd_flow), "png").startswith(b"\x89PNG\r\n\x1a\n")
    svg = render_graphviz(to_dot(odd_flow), "svg").decode()
    texts = [t.text or "" for t in ElementTree.fromstring(svg).iter(f"{SVG}text")]
    assert any(ODD_PROMPT[:30] in text for text in texts)


@needs_dot
def test_graphviz_failure_is_an_error_with_dot_s_message() -> None:
    with pytest.raises(GraphvizError, match=r"dot failed \(exit \d+\): .*syntax error"):
        render_graphviz("digraph { a -> }", "svg")


def test_graphviz_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizError, match=r"Graphviz is not installed .*apt-get install graphviz"):
        render_graphviz(to_dot(FLOWS["main"]), "png")


def test_graphviz_formats_are_svg_and_png() -> None:
    with pytest.raises(ValueError, match="svg, png"):
        render_graphviz("digraph {}", "pdf")


# -- the built-in SVG -------------------------------------------------------------------------

Rect = tuple[float, float, float, float]


def svg_parts(text: str) -> tuple[ElementTree.Element, list[ElementTree.Element], list[ElementTree.Element]]:
    root = ElementTree.fromstring(text)
    groups = list(root.iter(f"{SVG}g"))
    nodes = [g for g in groups if (g.get("class") or "").split()[:1] == ["node"]]
    paths = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    return root, nodes, paths


def rect_of(group: ElementTree.Element) -> Rect:
    rect = group.find(f"{SVG}rect")
    assert rect is not None
    return tuple(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


@pytest.mark.parametrize("detail", DETAILS)
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_svg_has_a_node_per_state_and_edges_between_states(name: str, detail: str) -> None:
    flow = FLOWS[name]
    root, nodes, paths = svg_parts(to_svg(flow, detail))
    assert root.tag == f"{SVG}svg"
    view = [float(v) for v in root.get("viewBox", "").split()]
    assert len(view) == 4 and view[:2] == [0, 0] and view[2] > 0 and view[3] > 0
    by_state = {g.get("data-state"): g for g in nodes}
    assert len(nodes) == len(by_state) == len(flow.states)
    for state, spec in flow.states.items():
        group = by_state[state]
        assert group.get("id") == f"state-{state}"
        assert group.get("class") == f"node state-{spec.type}"
        x, y, w, h = rect_of(group)
        assert 0 <= x and 0 <= y and x + w <= view[2] and y + h <= view[3]
        spans = [s.text for s in group.iter(f"{SVG}tspan")]
        assert spans[0] == menu_graph(flow, detail=detail).node(state).title
    pairs = [(p.get("data-source"), p.get("data-dest")) for p in paths]
    assert sorted(pairs) == sorted(graph_pairs(flow, detail))
    assert all(p.get("data-keys") and p.get("d", "").startswith("M") for p in paths)
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "edge-label"]
    assert [(t.get("data-source"), t.get("data-dest")) for t in labels] == pairs


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("detail", DETAILS)
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_svg_layout_has_no_overlapping_states(name: str, detail: str) -> None:
    _, nodes, _ = svg_parts(to_svg(FLOWS[name], detail))
    rects = {g.get("data-state"): rect_of(g) for g in nodes}
    clashes = [(a, b) for a in rects for b in rects if a < b and _overlap(rects[a], rects[b])]  # type: ignore[operator]
    assert clashes == []


def test_svg_columns_are_depths_with_endings_last() -> None:
    _, nodes, _ = svg_parts(to_svg(FLOWS["main"]))
    x = {g.get("data-state"): rect_of(g)[0] for g in nodes}
    assert x["incoming"] < x["main_menu"] < x["billing_menu"] < x["billing_cost"]
    assert x["billing_menu"] == x["verify_id"] == x["international_menu"]
    assert x["representative"] == x["goodbye"] == x["pharmacist"] == max(x.values())


def test_svg_edges_carry_keys_and_triggers() -> None:
    _, _, paths = svg_parts(to_svg(FLOWS["main"], "full"))
    [edge] = [
        p for p in paths if (p.get("data-source"), p.get("data-dest")) == ("main_menu", "representative")
    ]
    assert edge.get("data-keys") == "1 0 no_input invalid"
    assert edge.get("data-triggers") == "press_1 press_0 no_input invalid"


def test_svg_escapes_text(odd_flow: Flow) -> None:
    text = to_svg(odd_flow)
    assert "<b>" not in text and "&lt;b&gt;" in text
    _, nodes, _ = svg_parts(text)
    [menu] = [g for g in nodes if g.get("data-state") == "main_menu"]
    spoken = " ".join(s.text or "" for s in menu.iter(f"{SVG}tspan") if s.get("class") == "summary")
    assert spoken == ODD_PROMPT


CROSSED = [
    pytest.param([["a", "b"], ["c", "d"]], [("a", "d"), ("b", "c")], 1, id="two-edges"),
    pytest.param(
        [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]],
        [("a", "f"), ("b", "e"), ("c", "d"), ("d", "i"), ("e", "h"), ("f", "g")],
        6,
        id="three-layers",
    ),
]


@pytest.mark.parametrize(("layers", "links", "crossings"), CROSSED)
def test_barycenter_sweeps_remove_crossings(
    layers: list[list[str]], links: list[tuple[str, str]], crossings: int
) -> None:
    boxes = {name: diagram_svg._Box(name, i, 10.0, []) for i, layer in enumerate(layers) for name in layer}
    assert diagram_svg._crossings(layers, links, boxes) == crossings
    ordered = diagram_svg._reduce_crossings(layers, links, boxes)
    assert sorted(map(sorted, ordered)) == sorted(map(sorted, layers))
    assert diagram_svg._crossings(ordered, links, boxes) == 0


# -- ivr graph --------------------------------------------------------------------------------


def graph(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, ["graph", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("fmt", "starts"), [("mermaid", "---\ntitle: "), ("dot", 'digraph "tty" {')], ids=["mermaid", "dot"]
)
def test_graph_prints_text_formats(runner: CliRunner, fmt: str, starts: str) -> None:
    result = graph(runner, "--line", "tty", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(starts)
    assert result.stdout == (to_mermaid if fmt == "mermaid" else to_dot)(FLOWS["tty"], "menu")


def test_graph_defaults_to_the_main_line_as_mermaid(runner: CliRunner) -> None:
    assert graph(runner).stdout == to_mermaid(FLOWS["main"], "menu")


def test_graph_full_detail_has_more_arrows(runner: CliRunner) -> None:
    menu, full = graph(runner, "--detail", "menu").stdout, graph(runner, "--detail", "full").stdout
    assert full.count(" --> ") > menu.count(" --> ") > 10


@pytest.mark.parametrize(
    ("suffix", "fmt", "starts"),
    [
        ("mmd", "mermaid", b"---\ntitle: "),
        ("dot", "dot", b'digraph "main" {'),
        ("svg", "svg", b"<"),
    ],
    ids=["mmd", "dot", "svg"],
)
def test_graph_writes_a_file_in_the_format_of_its_suffix(
    runner: CliRunner, tmp_path: Path, suffix: str, fmt: str, starts: bytes
) -> None:
    out = tmp_path / f"menu.{suffix}"
    result = graph(runner, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.endswith(f"wrote {out} ({fmt}, main line, menu view)\n")
    assert out.read_bytes().startswith(starts)


def test_graph_svg_without_graphviz_uses_the_built_in_layout(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = graph(runner, "--format", "svg", "--line", "specialty")
    assert result.exit_code == 0, result.output
    assert result.stdout == to_svg(FLOWS["specialty"])
    assert "note: Graphviz is not installed" in result.stderr


def test_graph_png_without_graphviz_fails_clearly(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = graph(runner, "--format", "png", "-o", str(tmp_path / "main.png"))
    assert result.exit_code == 1
    assert "Graphviz is not installed" in result.stderr
    assert not (tmp_path / "main.png").exists()


@needs_dot
@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<?xml")], ids=["png", "svg"])
def test_graph_with_graphviz(runner: CliRunner, tmp_path: Path, fmt: str, magic: bytes) -> None:
    out = tmp_path / f"main.{fmt}"
    result = graph(runner, "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


def test_graph_help_has_an_example_and_bad_lines_are_refused(runner: CliRunner) -> None:
    helped = graph(runner, "--help")
    assert "ivr graph --line main --format svg -o main.svg" in helped.stdout
    refused = runner.invoke(main, ["graph", "--line", "nope"])
    assert refused.exit_code == 2
    assert "'nope' is not a line; choose one of: main, specialty, tty" in refused.stderr
