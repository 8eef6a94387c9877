"""The trainer page in front of a room: the Cytoscape diagram, the presenter and classroom views,
keyboard and phone layouts, accessibility, at 1366×768, 1920×1080 (a projector) and 390×844 (a phone).

Debian's Chromium driven by Playwright, launched as tests/test_trainer_page.py does. Screenshots of
every view at every size go to test-artifacts/screenshots/ (kept by CI as artifacts).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.sim import HttpTransport, SimulatedCall

from .phone import MAIN
from .test_trainer_page import ARGS, ARTIFACTS, CHROMIUM

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' (installs playwright)")
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE = "/trainer/static/vendor/axe-core-4.14.1/axe.min.js"
SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080), "390x844": (390, 844)}
VIEWS = {"phone": "/", "presenter": "/?view=presenter", "classroom": "/?view=classroom"}
MEMBER_ID, BIRTH_DATE = "10203040", "03071956"  # ivr/data/members.yaml: Alex Rivera
ORDER_WORDS = "two prescriptions shipped on Monday"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does) or set CHROMIUM",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Tabs:
    """Browser contexts at a viewport; every request checked to stay on our server (offline)."""

    def __init__(self, browser: Browser, server: str) -> None:
        self.browser, self.server = browser, server
        self.contexts: list[BrowserContext] = []
        self.outside: list[str] = []
        self.errors: list[str] = []

    def open(self, path: str = "/", size: str = "1366x768", motion: bool = False) -> Page:
        """`motion`: as a browser with no motion preference (the diagram glides); by default the
        user asked for reduced motion (the view jumps): the same drawing, far less rendering."""
        width, height = SIZES[size]
        context = self.browser.new_context(
            viewport={"width": width, "height": height},
            reduced_motion="no-preference" if motion else "reduce",
        )
        context.add_init_script("window.speechSynthesis && (window.speechSynthesis.speak = () => {});")
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10000)
        page.on("request", self._request)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(self.server + path)
        expect(page.locator("body")).to_have_attribute("data-ready", "1")
        return page

    def _request(self, request: Any) -> None:
        url = str(request.url)
        if not url.startswith(self.server) and not url.startswith("data:"):
            self.outside.append(url)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def tabs(browser: Browser, server: str) -> Iterator[Tabs]:
    opened = Tabs(browser, server)
    yield opened
    opened.close()
    assert opened.outside == [], "the page must work offline"
    assert opened.errors == [], "no script errors"


def diagram(page: Page, selector: str = "#diagram") -> dict[str, Any]:
    """What the Cytoscape diagram draws (IvrDiagram.describe), once it has stopped moving."""
    page.wait_for_function(
        "(s) => { const d = IvrDiagram.describe(document.querySelector(s)); return d && !d.animating; }",
        arg=selector,
    )
    result: dict[str, Any] = page.evaluate("(s) => IvrDiagram.describe(document.querySelector(s))", selector)
    return result


def at_state(page: Page, state: str) -> dict[str, Any]:
    page.wait_for_function(
        "(s) => { const d = IvrDiagram.describe(document.querySelector('#diagram'));"
        " return d && d.current === s && !d.animating; }",
        arg=state,
    )
    return diagram(page)


def focused(page: Page) -> str:
    result: str = page.evaluate("document.activeElement ? document.activeElement.id : ''")
    return result


def tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the control has focus (keyboard only)."""
    for _ in range(40):
        if focused(page) == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def serious_violations(page: Page, server: str) -> list[dict[str, Any]]:
    """axe-core (vendored, loaded from our own server under the page's CSP) on the whole page."""
    page.add_script_tag(url=server + AXE)
    result: list[dict[str, Any]] = page.evaluate(
        """async () => {
          const report = await axe.run(document, { resultTypes: ["violations"] });
          return report.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
        }"""
    )
    return result


def phone_call(server: str) -> SimulatedCall:
    """A call the way Twilio makes one: webhooks over HTTP, not the page."""
    return SimulatedCall(HttpTransport(), to=MAIN, base_url=server, caller="+15551230042").dial()


def snapshot(server: str, line: str = "main") -> dict[str, Any]:
    with urllib.request.urlopen(f"{server}/trainer/api/lines/{line}/live.json", timeout=10) as response:  # noqa: S310
        result: dict[str, Any] = json.load(response)
    return result


def no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide on a {widths[1]} px screen"


# -- the diagram follows the call ----------------------------------------------------------------


def test_graph_endpoint_has_what_the_diagram_draws(server: str) -> None:
    with urllib.request.urlopen(f"{server}/trainer/api/lines/main/graph?lang=es", timeout=10) as response:  # noqa: S310
        graph = json.load(response)
    assert graph["line"] == "main" and graph["lang"] == "es"
    ids = {node["id"] for node in graph["nodes"]}
    assert {"main_menu", "billing_menu", "representative"} <= ids
    assert any(node["kind"] == "any" for node in graph["nodes"]), "an explicit 'from any menu' node"
    for edge in graph["edges"]:
        assert edge["source"] in ids and edge["target"] in ids, edge
        assert edge["kind"] in ("choice", "global", "retry", "failover", "auto"), edge
    # The contract the page was built against (tests/fixtures/make_graph.py) has the same fields.
    fixture = json.loads((ROOT / "tests/fixtures/graph_main_en.json").read_text(encoding="utf-8"))
    assert set(fixture) <= set(graph)
    assert {"id", "label", "kind"} <= set(graph["nodes"][0])
    assert {"id", "source", "target", "label", "key", "kind"} <= set(graph["edges"][0])


def test_not_blank_on_load_and_the_current_node_is_readable_at_1080p(tabs: Tabs) -> None:
    page = tabs.open("/", "1920x1080")
    loaded = diagram(page)
    assert loaded["line"] == "main" and len(loaded["labels"]) > 10
    page.keyboard.press("Enter")
    expect(page.locator("#call")).to_have_text("Hang up")
    page.keyboard.press("2")
    drawn = at_state(page, "billing_menu")
    box, panel = drawn["currentBox"], drawn["panel"]
    assert panel["left"] <= box["left"] and box["right"] <= panel["right"], (box, panel)
    assert panel["top"] <= box["top"] and box["bottom"] <= panel["bottom"], (box, panel)
    assert drawn["currentFontPx"] >= 20, drawn["currentFontPx"]
    taken = [(e["source"], e["target"]) for e in drawn["taken"]]
    assert ("main_menu", "billing_menu") in taken and drawn["broken"] == []
    assert "main_menu" in drawn["visited"]


def _glides(page: Page, key: str) -> bool:
    """Press `key` and say whether the diagram was seen moving to the new state."""
    page.evaluate(
        """() => { window.__moved = false; const tick = () => {
             const d = IvrDiagram.describe(document.querySelector('#diagram'));
             if (d && d.animating) window.__moved = true;
             if (!window.__stop) requestAnimationFrame(tick); }; window.__stop = false; tick(); }"""
    )
    page.keyboard.press(key)
    page.wait_for_function(
        "() => { const d = IvrDiagram.describe(document.querySelector('#diagram'));"
        " return d && d.current === 'billing_menu' && !d.animating; }"
    )
    moved: bool = page.evaluate("() => { window.__stop = true; return window.__moved; }")
    return moved


@pytest.mark.parametrize("motion", [True, False], ids=["no-preference", "reduced-motion"])
def test_the_diagram_glides_unless_the_user_asked_for_less_motion(tabs: Tabs, motion: bool) -> None:
    page = tabs.open("/", "1366x768", motion=motion)
    page.keyboard.press("Enter")
    expect(page.locator("#call")).to_have_text("Hang up")
    at_state(page, "main_menu")
    assert _glides(page, "2") is motion
    assert at_state(page, "billing_menu")["broken"] == []


def test_a_trace_after_2_then_0_reaches_the_representative(tabs: Tabs) -> None:
    page = tabs.open("/", "1366x768")
    page.keyboard.press("Enter")
    page.keyboard.press("2")
    at_state(page, "billing_menu")
    page.keyboard.press("0")
    drawn = at_state(page, "representative")
    last = [e for e in drawn["taken"] if e["last"]]
    assert len(last) == 1 and last[0]["target"] == "representative" and last[0]["key"] == "0", drawn["taken"]
    assert drawn["broken"] == [], "every hop of the call is an edge on the diagram"
    assert drawn["currentFontPx"] >= 16  # 20 px on a projector (1080p), 16 px on a laptop
    shot(page, "trace-2-then-0-1366x768")


def test_the_diagram_speaks_the_call_s_language(tabs: Tabs) -> None:
    page = tabs.open("/", "1366x768")
    english = diagram(page)["labels"]
    page.keyboard.press("Enter")
    at_state(page, "main_menu")
    page.keyboard.press("9")
    page.wait_for_function("() => IvrDiagram.describe(document.querySelector('#diagram')).lang === 'es'")
    spanish = diagram(page)
    assert spanish["current"] == "main_menu"
    assert spanish["labels"] != english, "the graph is fetched again with lang=es"
    page.click("#seconds")  # the seconds of listening from `ivr lint` on each choice
    expect(page.locator("#seconds")).to_have_attribute("aria-pressed", "true")
    assert any(re.search(r" · \d+ s$", label) for label in diagram(page)["edgeLabels"])


# -- keyboard, the keypad and the display --------------------------------------------------------


def test_a_call_walked_by_keyboard_only(tabs: Tabs) -> None:
    page = tabs.open("/", "1366x768")
    page.keyboard.press("Enter")  # nothing has focus: Enter places the call
    expect(page.locator("#call")).to_have_text("Hang up")
    page.keyboard.press("2")
    at_state(page, "billing_menu")

    tab_to(page, "mute")
    page.keyboard.press(" ")  # Space activates the focused button, it does not send silence
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#transcript .who-caller")).to_have_count(1)  # still only "pressed 2"

    page.keyboard.press("1")  # digits are key presses even with a button focused
    at_state(page, "billing_discrepancy")

    tab_to(page, "tab-history")
    page.keyboard.press("Enter")  # the tab opens its view; the call goes on
    expect(page.locator("#view-history")).to_be_visible()
    expect(page.locator("#tab-history")).to_have_attribute("aria-pressed", "true")
    tab_to(page, "tab-phone")
    page.keyboard.press(" ")
    expect(page.locator("#view-phone")).to_be_visible()
    expect(page.locator("#call")).to_have_text("Hang up")

    tab_to(page, "call")
    page.keyboard.press("Enter")
    expect(page.locator("#display-state")).to_have_text("Call ended: hung up in billing discrepancy")


@pytest.mark.parametrize("size", ["1366x768", "390x844"])
def test_the_keypad_never_moves_while_an_id_is_typed(tabs: Tabs, size: str) -> None:
    page = tabs.open("/", size)
    page.click("#call")
    page.click('#keypad [data-key="1"]')
    at_state(page, "verify_id")
    keypad = page.locator("#keypad")
    before = keypad.bounding_box()
    scrolled = page.evaluate("window.scrollY")
    for index, key in enumerate(MEMBER_ID[:-1]):
        page.click(f'#keypad [data-key="{key}"]')
        expect(page.locator("#display-keys")).to_contain_text("•" * (index + 1))
        assert keypad.bounding_box() == before, f"the keypad moved after {index + 1} keys"
    assert page.evaluate("window.scrollY") == scrolled, "a key press must not scroll the page"
    no_horizontal_overflow(page)
    shot(page, f"typing-an-id-{size}")

    page.click("#call")  # hang up, switch lines: the display starts afresh
    expect(page.locator("#call")).to_have_text("Call")
    page.select_option("#line", "tty")
    expect(page.locator("#display-state")).to_have_text("No call")
    expect(page.locator("#display-keys")).to_have_text("")
    page.wait_for_function("() => IvrDiagram.describe(document.querySelector('#diagram')).line === 'tty'")


def test_replay_shows_the_words_the_caller_heard(tabs: Tabs) -> None:
    page = tabs.open("/", "1366x768")
    page.keyboard.press("Enter")
    page.keyboard.press("1")
    at_state(page, "verify_id")
    page.keyboard.type(MEMBER_ID + "#")
    at_state(page, "verify_dob")
    page.keyboard.type(BIRTH_DATE)  # eight digits end the entry by themselves
    at_state(page, "refill_menu")
    page.keyboard.press("2")
    at_state(page, "track_shipment")
    expect(page.locator("#transcript")).to_contain_text(ORDER_WORDS)
    page.keyboard.press("Enter")  # hang up
    expect(page.locator("#call")).to_have_text("Call")

    page.click("#tab-history")
    row = page.locator("#history tbody tr").first
    expect(row.locator('td[data-label="Started"]')).to_have_count(1)  # named for the narrow layout
    row.locator("button.open").click()
    expect(page.locator("#viewer")).to_be_visible()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text(ORDER_WORDS)  # the words heard, not the prompt's template
    expect(transcript).not_to_contain_text("{order_status}")
    expect(page.locator("#viewer-facts")).to_contain_text(re.compile(r"\d{1,2}:\d{2}:\d{2} [AP]M CT"))
    shot(page, "replay-1366x768")


# -- the classroom -------------------------------------------------------------------------------


def _no_live_calls(server: str, seconds: float = 10.0) -> None:
    """Wait for the calls of earlier tests on this server to end (a closed tab hangs up by a
    beacon, which a loaded machine may deliver late)."""
    deadline = time.monotonic() + seconds
    while sum(snapshot(server)["counts"].values()):
        assert time.monotonic() < deadline, f"calls still live: {snapshot(server)['counts']}"
        time.sleep(0.1)


def test_the_classroom_shows_every_live_call(tabs: Tabs, server: str) -> None:
    _no_live_calls(server)
    trainees = [tabs.open("/", "1366x768"), tabs.open("/", "390x844")]
    for trainee, key in zip(trainees, "23", strict=True):
        trainee.keyboard.press("Enter")
        trainee.keyboard.press(key)
    at_state(trainees[0], "billing_menu")
    at_state(trainees[1], "medicare_menu")
    phone = phone_call(server)

    room = tabs.open("/classroom", "1366x768")
    expect(room.locator("#view-classroom")).to_be_visible()
    assert "view=classroom" in room.url
    calls = room.locator("#classroom-calls li")
    expect(calls).to_have_count(3)
    expect(room.locator("#classroom-count")).to_have_text("3")
    expect(calls.filter(has_text="phone")).to_have_count(1)
    expect(room.locator('#classroom-states tr[data-state="billing_menu"] .now')).to_have_text("1")
    expect(room.locator('#classroom-states tr[data-state="medicare_menu"] .now')).to_have_text("1")
    room.wait_for_function(
        "() => IvrDiagram.describe(document.querySelector('#classroom-diagram')).markers"
        ".reduce((n, m) => n + m.count, 0) === 3"
    )
    markers = diagram(room, "#classroom-diagram")["markers"]
    assert {(m["state"], m["kind"]) for m in markers} >= {("billing_menu", "page"), ("medicare_menu", "page")}
    assert any(m["kind"] == "twilio" for m in markers)
    shot(room, "classroom-three-calls-1366x768")

    phone.press("2")  # the room sees the phone call move, pushed by the event stream
    expect(room.locator('#classroom-states tr[data-state="billing_menu"] .now')).to_have_text("2")
    phone.hangup()
    trainees[1].close()  # a closed tab hangs up its call (pagehide beacon)
    expect(calls).to_have_count(1)
    expect(room.locator('#classroom-states tr[data-state="medicare_menu"] .dropped')).not_to_have_text("0")
    assert snapshot(server)["counts"].get("billing_menu") == 1


# -- every view at every size: layout, accessibility, screenshots --------------------------------


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("view", list(VIEWS))
def test_each_view_at_each_size(tabs: Tabs, server: str, view: str, size: str) -> None:
    phone = phone_call(server) if view == "classroom" else None
    page = tabs.open(VIEWS[view], size)
    if view == "classroom":
        expect(page.locator("#classroom-calls li").first).to_be_visible()
        diagram(page, "#classroom-diagram")
    else:
        page.keyboard.press("Enter")
        page.keyboard.press("2")
        at_state(page, "billing_menu")
        if view == "presenter":
            expect(page.locator("#banner-state")).to_have_text("Billing and insurance")  # the diagram's name
            expect(page.locator("#keypad")).to_be_hidden()  # the controls are tucked away
            size_px = page.evaluate(
                "parseFloat(getComputedStyle(document.querySelector('#banner-state')).fontSize)"
            )
            assert size_px >= (40 if size == "1920x1080" else 22)
    no_horizontal_overflow(page)
    if size == "390x844":
        top_bar = page.locator(".topbar").bounding_box()
        tab = page.locator("#tab-history").bounding_box()
        assert top_bar is not None and tab is not None
        hit = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button')?.id",
            [tab["x"] + tab["width"] / 2, tab["y"] + tab["height"] / 2],
        )
        assert hit == "tab-history", "a tap on a tab reaches the tab"
    shot(page, f"{view}-{size}")
    assert serious_violations(page, server) == []
    if phone is not None:
        phone.hangup()


def test_history_fits_a_phone(tabs: Tabs, server: str) -> None:
    phone_call(server).press("2").hangup()
    page = tabs.open("/?view=history", "390x844")
    expect(page.locator("#history tbody tr").first).to_contain_text("billing menu")
    no_horizontal_overflow(page)
    shot(page, "history-390x844")
    assert serious_violations(page, server) == []


def test_the_vendored_files_match_their_checksums() -> None:
    vendor = ROOT / "web/static/vendor"
    for line in (vendor / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
