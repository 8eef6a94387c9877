"""A line for another organisation's menu is one YAML file and no Python."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from app import create_app
from ivr.sim import SimulatedCall, WsgiTransport

LIBRARY = """
name: library
title: City library
languages: [en]
numbers: ["+15550102030"]
initial: incoming
failover: desk
finished: bye
greeting:
  en: Welcome to the city library.
keys:
  "0": desk
  "*": repeat
  "#": menu
messages:
  no_input: {en: "Sorry, I did not hear you."}
  invalid: {en: "Sorry, that is not an option."}
  invalid_entry: {en: "Sorry, that card number is not valid."}
  failover: {en: Let me get you to the desk.}
  reference: {en: "Your reference is {reference}."}
  transfer: {en: Please hold.}
  error: {en: Something went wrong.}
  hold: {en: All librarians are busy.}
  ended: {en: This call has ended.}
  after_transfer: {en: Goodbye.}
states:
  - {name: incoming, type: start}
  - name: menu
    type: menu
    prompt: {en: "For opening hours, press 1. To renew a book, press 2. For the desk, press 0."}
    reprompt: {en: "Press 1 for hours, 2 to renew, 0 for the desk."}
  - name: hours
    type: info
    confirm: {en: Opening hours.}
    prompt: {en: "We open at 9 a.m. every day. Questions? Call {phone:555-010-2030}. To repeat, press star."}
    reprompt: {en: "Press star to repeat or 0 for the desk."}
  - name: renew
    type: entry
    confirm: {en: Renewals.}
    gather: {finish_on_key: "#"}
    prompt: {en: "Enter your library card number, then pound."}
  - {name: desk, type: transfer, desk: representative, prompt: {en: Connecting you to the desk.}}
  - {name: bye, type: goodbye, prompt: {en: Thanks for calling the library.}}
transitions:
  - {trigger: start, source: incoming, dest: menu}
  - {trigger: press_1, source: menu, dest: hours}
  - {trigger: press_2, source: menu, dest: renew}
  - {trigger: entry, source: renew, dest: bye}
"""


def test_a_new_line_from_one_yaml_file(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "library.yaml").write_text(LIBRARY, encoding="utf-8")
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "db.sqlite3"), "FLOWS_DIR": str(flows)})
    engine = app.extensions["ivr"]
    assert engine.flows.names() == ["library"]
    assert engine.line_for("+15550102030") == "library"
    assert engine.line_for("+15559999999") == "library"  # the only line is the default

    call = SimulatedCall(WsgiTransport(app), to="+1 555 010 2030").dial()
    assert call.state == "menu"
    assert call.heard.startswith("Welcome to the city library. For opening hours, press 1.")
    call.press("1")
    assert call.state == "hours"
    assert call.heard.startswith("Opening hours. We open at 9 a.m.")
    root = ElementTree.fromstring(call.transcript.steps[-1].twiml)
    phones = [e for e in root.iter("say-as") if e.get("interpret-as") == "telephone"]
    assert [p.text for p in phones] == ["555-010-2030"]
    assert "5 5 5, 0 1 0, 2 0 3 0" in call.heard
    call.press("#")  # the key map: back to the menu
    assert call.state == "menu"
    call.press("2").press("12345#")
    assert call.state == "bye" and call.ended
    assert call.outcome is not None and call.outcome.kind == "hangup"
    app.extensions["ivr"].store.close()


def test_key_map_reaches_every_menu_of_the_new_line(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "library.yaml").write_text(LIBRARY, encoding="utf-8")
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "db.sqlite3"), "FLOWS_DIR": str(flows)})
    flow = app.extensions["ivr"].flow("library")
    for state in ("menu", "hours"):
        dests = {e.trigger: e.dest for e in flow.edges_from(state) if e.trigger.startswith("press_")}
        assert dests["press_0"] == "desk" and dests["press_star"] == state and dests["press_pound"] == "menu"
    # Silence at an information leaf: retried, then the caller is done.
    assert [e.dest for e in flow.edges_from("hours") if e.trigger == "no_input"] == ["hours", "bye"]
    assert [e.dest for e in flow.edges_from("menu") if e.trigger == "no_input"] == ["menu", "desk"]
    app.extensions["ivr"].store.close()
