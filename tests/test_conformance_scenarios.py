"""Scenario files speak Twilio's terms: the number's settings, request fields, <Play>/<Pause>
expectations and an `error` outcome with its Twilio code."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from ivr.commands.target import Target
from ivr.qa.scenarios import ScenarioError, junit_xml, load_scenario, render_report, run_scenario
from ivr.qa.scenarios.model import Suite
from ivr.sim import WsgiTransport

from .conformance import RunScenario, run_yaml
from .conformance_apps import app, doc, reply
from .twiml_apps import TwimlApp

__all__ = ["run_yaml"]


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


HANGUP = "<Response><Hangup/></Response>"


def test_far_end_steps_can_name_the_dial_or_the_target(run_yaml: RunScenario) -> None:
    """`far_end` plans are set up before the call; `dial: N` applies to the call's Nth <Dial>,
    `to:` to every <Dial> that rings that target ("The first call to pick up is connected to
    the current call and the rest are hung up": the client rings 1 s, the number the default
    2 s), and a plain `far_end` to the next <Dial> no other plan claims, as before."""
    served = app(
        {
            "/": doc('<Dial action="/one"><Number>+15551230000</Number><Client>alice</Client></Dial>'),
            "/one": doc('<Dial action="/two">+15559990000</Dial>'),
            "/two": doc('<Dial action="/three">+15558880000</Dial>'),
            "/three": HANGUP,
        }
    )
    result = run_yaml(
        served,
        """
to: "+18005550100"
number: {voice_url: /}
steps:
  - far_end: {dial: 2, answer: busy}
  - far_end: {to: "client:alice", ring: 1}
  - far_end: {talk: 9}
outcome: {kind: hangup}
""",
    )
    assert result.passed, render_report([result])
    sent = [served.to(path)[0].form for path in ("/one", "/two", "/three")]
    assert [(f["DialCallStatus"], f["DialCallDuration"]) for f in sent] == [
        ("completed", "5"),
        ("busy", "0"),
        ("completed", "9"),
    ]
    alice = next(leg for leg in result.transcript.legs if leg.target == "client:alice")
    assert sent[0]["DialCallSid"] == alice.sid


def test_far_end_answered_by_picks_the_parallel_noun_that_answers(run_yaml: RunScenario) -> None:
    """In a <Dial> with several nouns the scenario says which one picks up (`answered_by`); the
    others ring on and are hung up (their legs end canceled)."""
    served = app(
        {
            "/": doc(
                '<Dial action="/done"><Number>+15551230000</Number><Number>+15559990000</Number></Dial>'
            ),
            "/done": HANGUP,
        }
    )
    result = run_yaml(
        served,
        """
to: "+18005550100"
number: {voice_url: /}
steps:
  - far_end: {answered_by: "+15559990000", talk: 12}
outcome: {kind: hangup}
""",
    )
    assert result.passed, render_report([result])
    assert [(leg.target, leg.status) for leg in result.transcript.legs] == [
        ("number:+15551230000", "canceled"),
        ("number:+15559990000", "completed"),
    ]
    assert served.to("/done")[0].form["DialCallDuration"] == "12"


def test_dequeue_steps_name_the_queue_and_what_happens_after(run_yaml: RunScenario) -> None:
    """`dequeue: {queue, url, caller_hangs_up, transfer}`: the agent of queue support dequeues
    with a <Queue url> announcement and, after talking, transfers the caller (QueueResult
    "redirected-from-bridged: The queued and then successfully bridged session was transferred
    out")."""
    served = app(
        {
            "/": doc('<Enqueue waitUrl="/wait" action="/left">support</Enqueue>'),
            "/wait": doc('<Pause length="10"/>'),
            "/announce": doc("<Say>Connecting you now.</Say>"),
            "/left": HANGUP,
            "/billing": doc("<Say>Billing, how can I help?</Say><Hangup/>"),
        }
    )
    result = run_yaml(
        served,
        """
to: "+18005550100"
number: {voice_url: /}
steps:
  - dequeue: {queue: support, after: 15, url: /announce, talk: 30, transfer: /billing}
  - expect: Billing, how can I help
outcome: {kind: hangup}
""",
    )
    assert result.passed, render_report([result])
    assert served.to("/left")[0].form["QueueResult"] == "redirected-from-bridged"
    assert served.to("/announce")[0].form["QueueTime"] == "15"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        pytest.param("{dial: 0}", "counting from 1", id="dial-zero"),
        pytest.param('{dial: 1, to: "+15551230000"}', "not both", id="dial-and-to"),
        pytest.param("{to: 15551230000}", "quote it", id="unquoted-number"),
        pytest.param('{to: "queue:support"}', "client:NAME or sip:URI", id="not-a-dial-target"),
    ],
)
def test_a_far_end_step_that_names_no_dial_clearly_is_refused(
    tmp_path: Path, step: str, message: str
) -> None:
    """A plan that cannot say which <Dial> it is for is refused with the file, step and field."""
    file = tmp_path / "s.yaml"
    file.write_text(f'to: "+18005550100"\nsteps:\n  - far_end: {step}\n')

    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(file)
    assert caught.value.step == 1


def _doc_examples(section: str) -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text()
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in part.split("```yaml\n")[1:]]


@pytest.mark.parametrize("index", range(4))
def test_the_scenario_doc_examples_for_dial_queues_record_and_conferences_load(
    tmp_path: Path, index: int
) -> None:
    """The copy-pasteable examples of docs/scenarios.md's "Dial, queues, voicemail and
    conferences" section are valid scenario files (one per verb)."""
    examples = _doc_examples("Dial, queues, voicemail and conferences")
    assert len(examples) == 4
    file = tmp_path / "example.yaml"
    file.write_text(examples[index])

    scenario = load_scenario(file)

    assert scenario.steps
