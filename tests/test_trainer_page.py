"""The trainer page in a real headless Chromium: call, keys, speech, diagram, history, analytics.

The app is served over HTTP by werkzeug in a thread; the browser is Debian's Chromium driven by
Playwright (never `playwright install`). Screenshots of each major state go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.commands.target import Target
from ivr.qa.scenarios import load_scenario, run_scenario
from ivr.sim import HttpTransport, SimulatedCall

from .phone import MAIN

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' (installs playwright)")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
AFTER_HOURS = "2026-11-24T21:30"

# Record what the page asks the browser to say and which tones it plays; speech still runs.
RECORDER = """
window.__spoken = [];
window.__tones = [];
if (window.speechSynthesis) {
  const speak = window.speechSynthesis.speak.bind(window.speechSynthesis);
  window.speechSynthesis.speak = (u) => {
    window.__spoken.push({ text: u.text, lang: u.lang });
    try { speak(u); } catch (e) { /* no voice installed */ }
  };
}
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones.push(this.frequency.value);
  return start.apply(this, args);
};
"""

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


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    # Reduced motion: the diagram jumps instead of gliding (tests/test_trainer_views.py tests both).
    context = browser.new_context(
        viewport={"width": 1600, "height": 900}, accept_downloads=True, reduced_motion="reduce"
    )
    context.add_init_script(RECORDER)
    requested: list[str] = []
    tab = context.new_page()
    tab.on("request", lambda request: requested.append(request.url))
    tab.set_default_timeout(8000)
    tab.goto(server + "/")
    expect(tab.locator("body")).to_have_attribute("data-ready", "1")
    expect(tab.locator("#diagram canvas").first).to_be_visible()  # Cytoscape draws on a canvas
    yield tab
    context.close()
    outside = [u for u in requested if not u.startswith(server) and not u.startswith("data:")]
    assert outside == [], "the page must work offline"


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(350)  # let the diagram's smooth scroll settle
    page.screenshot(path=str(ARTIFACTS / f"trainer-{name}.png"), full_page=full_page)


def spoken(page: Page) -> list[dict[str, str]]:
    result: list[dict[str, str]] = page.evaluate("window.__spoken")
    return result


def drawn(page: Page) -> dict[str, Any]:
    """What the diagram draws (IvrDiagram.describe: current state, visited, arrows taken)."""
    result: dict[str, Any] = page.evaluate("() => IvrDiagram.describe(document.querySelector('#diagram'))")
    return result


def current(page: Page, state: str) -> None:
    page.wait_for_function(
        "(s) => (IvrDiagram.describe(document.querySelector('#diagram')) || {}).current === s", arg=state
    )


def api(server: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API as the page calls it: a POST is same-origin JSON with the page's CSRF token."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    headers = {"Content-Type": "application/json"}
    if body is not None:
        with opener.open(server + "/", timeout=10) as page:
            token = re.search(r'name="csrf-token" content="([^"]+)"', page.read().decode())
        assert token is not None, "the page carries its CSRF token"
        headers.update({"Origin": server, "X-CSRF-Token": token.group(1)})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server + "/trainer/api" + path, data=data, headers=headers)
    with opener.open(request, timeout=10) as response:
        result: dict[str, Any] = json.load(response)
    return result


def test_call_press_1_speaks_tones_and_highlights_the_identity_check(page: Page) -> None:
    page.keyboard.press("Enter")  # Enter places the call
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Thanks for calling the Caremark mail order pharmacy")
    expect(page.locator("#call")).to_have_text("Hang up")
    current(page, "main_menu")
    assert any(s["lang"] == "en-US" and "For refills or delivery status" in s["text"] for s in spoken(page))
    # The Spanish offer is spoken in its own Spanish voice, not read out by the English one.
    assert any(s["lang"] == "es-US" and s["text"] == "Para español, oprima 9." for s in spoken(page))

    page.keyboard.press("1")
    expect(transcript.locator(".who-caller").last).to_contain_text("pressed 1")
    expect(transcript.locator(".who-ivr").last).to_contain_text("I need to verify your identity")
    current(page, "verify_id")
    assert "main_menu" in drawn(page)["visited"]
    taken = [(e["source"], e["target"]) for e in drawn(page)["taken"]]
    assert taken.count(("main_menu", "verify_id")) == 1
    expect(page.locator("#display-state")).to_have_text("State: verify id")
    assert page.evaluate("window.__tones") == [697, 1209]  # the two frequencies of key 1
    assert any("verify your identity" in s["text"] and s["lang"] == "en-US" for s in spoken(page))
    shot(page, "01-identity-check")

    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.evaluate("window.__spoken = []; window.__tones = []")
    for key in "1020":
        page.click(f'#keypad [data-key="{key}"]')
    expect(page.locator("#display-keys")).to_contain_text("••••")  # a member ID is never shown
    page.keyboard.type("3040#")
    expect(transcript.locator(".who-caller").last).to_have_text(re.compile("entered \\[8 digits hidden\\]"))
    current(page, "verify_dob")
    assert spoken(page) == [] and page.evaluate("window.__tones") == []  # muted: no sound at all


def test_pressing_9_switches_the_call_to_spanish(page: Page) -> None:
    page.click("#call")
    current(page, "main_menu")
    page.keyboard.press("9")
    last = page.locator("#transcript .who-ivr").last
    expect(last).to_contain_text("Para resurtidos o entregas, oprima 1")
    expect(last.locator(".lang")).to_have_text("es-US")
    expect(page.locator("#display-lang")).to_contain_text("Spanish · ref")
    assert any(s["lang"] == "es-US" and s["text"].startswith("Para resurtidos") for s in spoken(page))
    assert any(s["lang"] == "es-US" and s["text"].startswith("Gracias por llamar") for s in spoken(page))
    assert any(s["lang"] == "en-US" and s["text"] == "For English, press 9." for s in spoken(page))
    shot(page, "02-spanish")


def test_the_tty_line_after_hours_plays_its_closed_message(page: Page) -> None:
    page.select_option("#line", "tty")
    expect(page.locator("#hours-note")).to_contain_text("Mon–Sat 08:00–20:00")
    page.fill("#clock-at", AFTER_HOURS)
    expect(page.locator("#clock-chosen")).to_be_checked()
    page.click("#call")
    expect(page.locator("#transcript")).to_contain_text("The TTY line is closed now.")
    current(page, "closed")
    expect(page.locator("#display-state")).to_have_text("Call ended: closed (outside hours)")
    expect(page.locator("#call")).to_have_text("Call")
    shot(page, "03-tty-after-hours")


def test_hang_up_then_history_export_and_replay(page: Page, server: str, tmp_path: Path) -> None:
    page.click("#call")
    current(page, "main_menu")
    page.fill("#say-text", "billing")
    page.press("#say-text", "Enter")
    current(page, "billing_menu")
    expect(page.locator("#transcript .who-caller").last).to_have_text(re.compile('said "billing"'))
    page.locator("#transcript").click()  # leave the text field: keys are shortcuts again
    page.keyboard.press(" ")  # Space: silence
    expect(page.locator("#transcript .who-caller").last).to_contain_text("silence (no input)")
    expect(page.locator("#transcript")).to_contain_text("Sorry, I didn't hear anything.")
    page.keyboard.press("1")
    current(page, "billing_discrepancy")
    page.keyboard.press("Enter")  # hang up
    expect(page.locator("#display-state")).to_have_text("Call ended: hung up in billing discrepancy")

    page.click("#tab-history")
    row = page.locator("#history tbody tr").first
    expect(row).to_contain_text("hung up in billing discrepancy")
    expect(row.locator(".path")).to_have_text("incoming → main menu → billing menu → billing discrepancy")
    expect(row).to_contain_text("this page")
    expect(row.locator(".ref")).to_have_text(re.compile(r"^[1-9]\d{7}$"))
    shot(page, "04-history")

    with page.expect_download() as download:
        row.locator("a.export").click()
    exported = tmp_path / "exported.yaml"
    download.value.save_as(exported)
    scenario = load_scenario(exported)
    result = run_scenario(scenario, Target(HttpTransport(), server, in_process=False))
    assert result.passed, result.message

    row.locator("button.open").click()
    expect(page.locator("#viewer")).to_be_visible()
    position = page.locator("#replay-pos")
    expect(position).to_contain_text("Step 4 of 4")
    current(page, "billing_discrepancy")
    page.click("#replay-prev")
    page.click("#replay-prev")
    expect(position).to_contain_text('Step 2 of 4: said "billing" → billing menu')
    current(page, "billing_menu")
    expect(page.locator("#transcript .entry.now").last).to_contain_text("Billing and insurance")
    shot(page, "05-replay")
    page.click("#replay-play")
    expect(position).to_contain_text("Step 4 of 4", timeout=6000)
    current(page, "billing_discrepancy")


def test_a_call_from_the_history_is_followed_live(page: Page, server: str) -> None:
    phone = SimulatedCall(HttpTransport(), to=MAIN, base_url=server, caller="+15551239876").dial()
    page.click("#tab-history")
    row = page.locator(f'#history tbody tr[data-sid="{phone.call_sid}"]')
    expect(row.locator(".badge.live")).to_be_visible()
    row.locator("button.open").click()
    expect(page.locator("#viewer-live")).to_be_visible()
    expect(page.locator("#viewer-facts")).to_contain_text("***9876")
    current(page, "main_menu")
    page.evaluate("window.__spoken = []")

    phone.press("2")  # another client, the way Twilio posts: the page follows
    current(page, "billing_menu")
    expect(page.locator("#replay-pos")).to_contain_text("Step 2 of 2: pressed 2 → billing menu")
    page.wait_for_function("window.__spoken.length > 0")
    assert spoken(page)[-1]["text"].startswith("Billing and insurance.")
    phone.press("3")
    current(page, "billing_updates")
    shot(page, "06-live-follow")
    phone.hangup()
    expect(page.locator("#viewer-live")).to_be_hidden()
    page.click("#close-viewer")
    expect(page.locator("#softphone")).to_be_visible()


def test_analytics_show_bars_per_question(page: Page, server: str) -> None:
    for keys in ("0", "2", "21", "3"):
        sid = api(server, "/calls", {"line": "main"})["call"]["call_sid"]
        for key in keys:
            api(server, f"/calls/{sid}/press", {"keys": key})
        api(server, f"/calls/{sid}/hangup", {})
    page.click("#tab-analytics")
    charts = page.locator("#charts")
    ended = charts.locator("figure", has_text="How calls ended")
    expect(ended.locator(".bar")).not_to_have_count(0)
    expect(ended.locator('.bar[data-label="hung up"]')).to_have_count(1)
    menu = charts.locator("figure", has=page.locator("figcaption", has_text=re.compile("^main menu$")))
    expect(menu.locator('.bar[data-label="2 → billing menu"]')).to_have_count(1)
    expect(charts.locator("figure", has_text="Where callers hang up").locator(".bar")).not_to_have_count(0)
    expect(charts.locator(".tile").first).to_contain_text("calls")
    shot(page, "07-analytics", full_page=True)
