"""Scenario files speak Twilio's terms: the number's settings, request fields, <Play>/<Pause>
expectations and an `error` outcome with its Twilio code."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from ivr.commands.target import Target
from ivr.qa.scenarios import junit_xml, load_scenario, render_report, run_scenario
from ivr.qa.scenarios.model import Suite
from ivr.sim import WsgiTransport

from .conformance_apps import app, doc, reply
from .twiml_apps import TwimlApp


def _run(tmp_path: Path, served: TwimlApp, text: str):  # type: ignore[no-untyped-def]
    file = tmp_path / "s.yaml"
    file.write_text(text)
    scenario = load_scenario(file)
    target = Target(WsgiTransport(served), "http://localhost", in_process=False)
    return scenario, run_scenario(scenario, target)


def test_error_outcome_with_its_code_passes(tmp_path: Path) -> None:
    """Fallback URLs: "If Twilio is unable to retrieve or execute TwiML from your web server"
    the call fails with the error code (11200 "HTTP retrieval failure" for a 500); a scenario
    can expect exactly that: the step that causes it passes, later steps are skipped."""
    served = app(
        {
            "/": doc('<Gather action="/got" numDigits="1"><Say>Press.</Say></Gather>'),
            "/got": reply("down", 500, "text/plain"),
        }
    )
    scenario, result = _run(
        tmp_path,
        served,
        """
name: broken action
to: "+18005550100"
number: {voice_url: /, status_callback: null}
steps:
  - press: "1"
  - expect: We are sorry, an application error has occurred
  - press: "2"
outcome: {kind: error, code: 11200}
""",
    )
    assert result.passed, render_report([result])
    assert [s.status for s in result.steps] == ["pass", "pass", "pass", "skip", "pass"]
    assert "Twilio error 11200 HTTP retrieval failure at http://localhost/got" in result.steps[-1].reason
    xml = ElementTree.fromstring(junit_xml([Suite("s", (scenario,))], [result]))
    assert xml.get("failures") == "0"


def test_error_outcome_with_another_code_fails_and_says_both(tmp_path: Path) -> None:
    """Every failure is reported "with the error code of the failure" (ErrorCode): a different
    code than expected fails the outcome, and the JUnit failure names the real code."""
    served = app({"/": reply("{}", mimetype="application/json")})
    scenario, result = _run(
        tmp_path,
        served,
        """
to: "+18005550100"
number: {voice_url: /}
outcome: {kind: error, code: 11200}
""",
    )
    assert not result.passed
    assert "Twilio error 12300" in result.message and "expected 11200" in result.message
    xml = junit_xml([Suite("s", (scenario,))], [result])
    assert "12300 Invalid Content-Type" in xml


def test_number_settings_and_caller_fields_reach_the_app(tmp_path: Path) -> None:
    """The number's "voice URL" and "HTTP method" as the console sets them, and the request
    parameters "FromState" etc. configured per scenario (`caller_fields`, snake_case)."""
    served = app({"/ivr/welcome": doc("<Say>Hi.</Say>")})
    _, result = _run(
        tmp_path,
        served,
        """
to: "+18005550100"
number:
  voice_url: /ivr/welcome
  voice_method: GET
  status_callback: /status
  status_callback_events: [answered, completed]
caller_fields: {from_state: CA, from_city: Oakland}
outcome: {kind: completed}
""",
    )
    assert result.passed, render_report([result])
    (seen,) = served.to("/ivr/welcome")
    assert (seen.method, seen.args["FromState"], seen.args["FromCity"]) == ("GET", "CA", "Oakland")
    assert [c.form["CallStatus"] for c in served.to("/status")] == ["in-progress", "completed"]


def test_expect_play_and_pause(tmp_path: Path) -> None:
    """<Play> "plays an audio file back to the caller" and <Pause> "waits silently": a scenario
    checks the URL (exact or by pattern) and the pause's length."""
    served = app(
        {
            "/": doc(
                '<Play>https://example.com/beep.mp3</Play><Pause length="2"/>'
                '<Gather numDigits="1"><Say>Now.</Say></Gather>'
            )
        }
    )
    _, result = _run(
        tmp_path,
        served,
        """
to: "+18005550100"
number: {voice_url: /}
steps:
  - expect: {play: "https://example.com/beep.mp3"}
  - expect: {play_regex: "beep\\\\.mp3$"}
  - expect: {pause: 2}
  - expect: {pause: 3}
""",
    )
    assert [s.status for s in result.steps[1:5]] == ["pass", "pass", "pass", "fail"]
    assert "no pause of 3s" in result.steps[4].reason
