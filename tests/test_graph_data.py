"""The graph data the trainer page draws with Cytoscape.js (ivr.diagram.cytoscape): every hop a
caller can make is an edge, or an edge from the "From any menu" node, so a trace never breaks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.diagram.cytoscape import ANY, cytoscape_graph, trace_hop
from ivr.engine.config import FLOWS_DIR
from ivr.engine.flow import Flow
from ivr.engine.flow_loader import load_flow

from .phone import Phone

LINES = ["main", "specialty", "tty"]
NODE_KINDS = {"menu", "entry", "info", "transfer", "end", "any", "start"}
EDGE_KINDS = {"choice", "global", "retry", "failover", "auto"}


def flow(line: str) -> Flow:
    return load_flow(FLOWS_DIR / f"{line}.yaml")


def _trace(graph: dict[str, Any], path: list[str]) -> list[dict[str, Any]]:
    hops = []
    for source, target in zip(path, path[1:], strict=False):
        edge = trace_hop(graph, source, target)
        assert edge is not None, f"no edge for the hop {source} -> {target}"
        hops.append(edge)
    return hops


@pytest.mark.parametrize("line", LINES)
@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_node_and_edge_has_the_fields_the_page_draws(line: str, lang: str) -> None:
    graph = cytoscape_graph(flow(line), lang)
    assert (graph["line"], graph["lang"]) == (line, lang)
    ids = [n["id"] for n in graph["nodes"]]
    assert len(ids) == len(set(ids)) and set(flow(line).states) | {ANY} == set(ids)
    for node in graph["nodes"]:
        assert node["kind"] in NODE_KINDS and node["label"].strip(), node
    edge_ids = [e["id"] for e in graph["edges"]]
    assert len(edge_ids) == len(set(edge_ids))
    for edge in graph["edges"]:
        assert {edge["source"], edge["target"]} <= set(ids), edge
        assert edge["kind"] in EDGE_KINDS and edge["label"].strip() and edge["key"], edge
        assert (edge["source"] == ANY) == ("sources" in edge)


@pytest.mark.parametrize("line", LINES)
def test_every_hop_of_the_flow_is_traceable(line: str) -> None:
    """Each transition to another state, 0, #, 9 and failovers from a submenu included."""
    f = flow(line)
    graph = cytoscape_graph(f, "en")
    for edge in f.edges:
        if edge.source != edge.dest:
            assert trace_hop(graph, edge.source, edge.dest) is not None, edge


def test_a_shared_hop_goes_through_the_any_node() -> None:
    graph = cytoscape_graph(flow("main"), "en")
    zero = trace_hop(graph, "billing_menu", "representative")
    assert zero is not None
    assert (zero["source"], zero["key"], zero["kind"]) == (ANY, "0", "global")
    assert {"main_menu", "billing_menu", "billing_cost"} <= set(zero["sources"])
    pound = trace_hop(graph, "billing_cost", "main_menu")
    assert pound is not None and pound["key"] == "#"
    failover = next(
        e
        for e in graph["edges"]
        if e["source"] == ANY and e["key"] == "timeout" and e["target"] == "representative"
    )
    assert failover["kind"] == "failover" and failover["label"] == "no input ×3"
    assert trace_hop(graph, "goodbye", "main_menu") is None  # a hop no caller can make


def test_retries_star_and_nine_are_loops_on_their_menu() -> None:
    graph = cytoscape_graph(flow("main"), "en")
    loops = {(e["key"], e["kind"]) for e in graph["edges"] if e["source"] == e["target"] == "billing_menu"}
    assert {("*", "global"), ("9", "global"), ("timeout", "retry"), ("invalid", "retry")} <= loops
    nine = next(e for e in graph["edges"] if e["id"] == "billing_menu--press_9--billing_menu")
    assert nine["label"].startswith("9 language")


def test_labels_are_in_the_requested_language() -> None:
    en, es = cytoscape_graph(flow("main"), "en"), cytoscape_graph(flow("main"), "es")
    label = {g["lang"]: {n["id"]: n["label"] for n in g["nodes"]} for g in (en, es)}
    assert label["en"]["billing_menu"] == "Billing and insurance"
    assert label["es"]["billing_menu"] == "Facturación y seguro"
    assert label["es"][ANY] == "Desde cualquier menú"
    edge = {
        g["lang"]: next(e for e in g["edges"] if e["id"] == "main_menu--press_2--billing_menu")
        for g in (en, es)
    }
    assert "facturación" in edge["es"]["label"] and "billing" in edge["en"]["label"]
    with pytest.raises(ValueError, match="speaks"):
        cytoscape_graph(flow("main"), "fr")


def test_listening_seconds_go_on_their_edges() -> None:
    graph = cytoscape_graph(flow("main"), "en", seconds={("main_menu", "2", "billing_menu"): 7.04})
    edge = next(e for e in graph["edges"] if e["id"] == "main_menu--press_2--billing_menu")
    assert edge["seconds"] == 7.0
    assert "seconds" not in next(e for e in graph["edges"] if e["id"] == "main_menu--press_3--medicare_menu")


def test_a_calls_path_after_2_then_0_is_traced_into_the_representative(
    app: Flask, client: FlaskClient, call: Callable[..., Phone]
) -> None:
    phone = call().press("2").press("0")
    record = app.extensions["ivr"].store.get_call(phone.sid)
    assert record is not None
    path = [record.events[0].source] + [e.dest for e in record.events]
    assert path == ["incoming", "main_menu", "billing_menu", "representative"]
    response = client.get("/trainer/api/lines/main/graph?lang=en")
    assert response.status_code == 200
    graph = response.get_json()
    hops = _trace(graph, path)
    assert [h["key"] for h in hops] == ["start", "2", "0"]
    assert hops[-1]["source"] == ANY and "billing_menu" in hops[-1]["sources"]
    assert any("seconds" in e for e in graph["edges"])  # ivr lint's listening seconds


def test_the_graph_endpoint_refuses_what_it_cannot_draw(client: FlaskClient) -> None:
    assert client.get("/trainer/api/lines/nope/graph").status_code == 404
    bad = client.get("/trainer/api/lines/main/graph?lang=fr")
    assert bad.status_code == 400 and "speaks en, es" in bad.get_json()["error"]
    assert client.get("/trainer/api/lines/tty/graph?lang=es").get_json()["lang"] == "es"
