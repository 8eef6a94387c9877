"""The `ivr_call` pytest plugin: QA tests in plain pytest, run here in generated test files."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

OPEN_HOURS = "2026-11-23T10:00:00-06:00"
TTY_CLOSED = "2026-11-23T23:00:00-06:00"

PASSING = f'''
import re
from ivr.sim import WsgiTransport

SEEN = []

def test_billing_by_keys(ivr_call):
    call = ivr_call(line="main", now="{OPEN_HOURS}")
    assert call.heard("THANKS FOR CALLING")
    call.press("2")
    assert call.heard("billing and insurance")
    assert not call.heard("thanks for calling")
    assert call.heard_re(r"discrepancy, press \\d")
    assert call.heard_re(r"BILLING AND") and not call.heard_re(r"BILLING AND", flags=0)
    assert call.state == "billing_menu" and call.language == "en-US"
    call.press("0")
    assert call.outcome.kind == "enqueue" and call.outcome.target == "sim-representative"
    assert call.ended

def test_tty_after_hours_and_speech(ivr_call, ivr_target):
    closed = ivr_call(line="tty", now="{TTY_CLOSED}")
    assert closed.heard("The TTY line is closed now") and str(closed.outcome) == "hangup"
    spoken = ivr_call(to="+15551234567", now="{OPEN_HOURS}").say("representative")
    assert spoken.outcome.kind == "enqueue"
    assert isinstance(ivr_target.transport, WsgiTransport)
    SEEN.append(ivr_target)

def test_one_app_per_session_its_calls_in_memory(ivr_target):
    assert SEEN == [ivr_target]
    assert ivr_target.app.config["DATABASE"] == ":memory:"
    assert type(ivr_target.engine().store).__name__ == "MemoryStore"

def test_silence_then_hangup(ivr_call):
    call = ivr_call("specialty", now="{OPEN_HOURS}").silence()
    assert call.heard("didn't hear anything")
    assert str(call.hangup().outcome) == "caller-hangup"
'''

FAILING = f'''
def test_wrong_menu(ivr_call):
    call = ivr_call(now="{OPEN_HOURS}")
    call.press("2")
    assert call.heard("Medicare Part D support line")

def test_without_calls():
    assert 1 == 2
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In-process runs see `ivr` and `app` already imported, too late for assertion rewriting;
    # hypothesis's plugin costs most of a second per run and these files do not use it.
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning", "-p", "no:hypothesispytest")
    return pytester.runpytest("-p", "no:cacheprovider", *quiet, *args)


def test_passing_qa_tests_run_in_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_qa=PASSING)
    result = run(pytester)
    result.assert_outcomes(passed=4)
    assert "ivr call" not in result.stdout.str()
    assert "warning" not in result.stdout.str().lower()


def test_a_failing_test_reports_the_transcript_of_its_calls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_qa=FAILING)
    result = run(pytester, f"--junitxml={pytester.path / 'out.xml'}")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    wrong, without = out.split("_ test_without_calls _")
    # the assertion names the call: where it is and what it heard
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert False",
            "E        +  where False = heard('Medicare Part D support line')",
            "E        +    where heard = <IvrCall to +18002372765 state=billing_menu outcome=None "
            "heard='Billing and insurance. For a billing discrepancy, press 1.*...'>.heard",
        ]
    )
    assert "- ivr call 1 of 1 (call) -" in wrong
    assert "call CA" in wrong and "input: keys 2  state: billing_menu" in wrong
    assert "heard (en-US): Billing and insurance.\n" in wrong  # the confirmation, a <Say> of its own
    assert "heard (en-US): For a billing discrepancy, press 1." in wrong
    assert "outcome: in progress" in wrong
    assert "ivr call" not in without.split("short test summary")[0]
    xml = (pytester.path / "out.xml").read_text(encoding="utf-8")
    assert xml.count('<property name="ivr_transcript_1"') == 1
    assert "input: keys 2  state: billing_menu" in xml


def test_unknown_line_says_which_lines_exist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_bad(ivr_call):\n    ivr_call(line='pharmacy')\n")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ValueError: unknown line 'pharmacy': use one of main, specialty, tty, or to="]
    )


def test_a_bad_app_factory_fails_the_test_with_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_call(ivr_call):\n    ivr_call()\n")
    result = run(pytester, "--ivr-app", "no_such_module:create_app")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ivr_call: cannot start the app 'no_such_module:create_app':*"])


def test_ivr_url_sends_the_calls_over_http(pytester: pytest.Pytester, server: str) -> None:
    pytester.makepyfile(
        "from ivr.sim import HttpTransport\n"
        "def test_http(ivr_call, ivr_target):\n"
        "    assert isinstance(ivr_target.transport, HttpTransport) and ivr_target.app is None\n"
        "    call = ivr_call().press('2')\n"
        "    assert call.heard('billing and insurance'), call\n"
        f"    assert call.transcript.steps[0].url == '{server}/voice'\n"
    )
    result = run(pytester, "--ivr-url", server + "/")
    result.assert_outcomes(passed=1)


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--ivr-url=URL*", "*--ivr-app=MODULE:FACTORY*"])


def test_entry_point_is_declared_for_pytest() -> None:
    declared = {(ep.name, ep.value) for ep in entry_points(group="pytest11")}
    assert ("ivr", "ivr.pytest_plugin") in declared


def test_loading_the_plugin_imports_nothing_of_the_engine() -> None:
    code = (
        "import sys, ivr.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith(('ivr.', 'app', 'flask'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['ivr.pytest_plugin']"


NUMBER_SETTINGS = f'''
from urllib.parse import parse_qsl, urlsplit

def test_the_number_settings_are_keywords(ivr_call):
    call = ivr_call(
        now="{OPEN_HOURS}",
        voice_url="/voice/nowhere",
        voice_method="GET",
        fallback_url="/voice/fallback",
        fallback_method="GET",
        status_callback="/voice/status",
        status_callback_method="POST",
        status_callback_events=("initiated", "answered", "completed"),
    )
    steps = [(s.kind, s.method, s.url.split("?")[0]) for s in call.transcript.steps]
    assert steps == [
        ("status", "POST", "http://localhost/voice/status"),
        ("voice", "GET", "http://localhost/voice/nowhere"),
        ("fallback", "GET", "http://localhost/voice/fallback"),
        ("status", "POST", "http://localhost/voice/status"),
        ("wait", "POST", "http://localhost/voice/hold"),
        ("status", "POST", "http://localhost/voice/status"),
    ], steps
    fallback = dict(parse_qsl(urlsplit(call.transcript.steps[2].url).query))  # a GET: in the query
    assert fallback["ErrorUrl"] == "http://localhost/voice/nowhere"
    assert fallback["ErrorCode"] == "11200"
    statuses = [s.fields["CallStatus"] for s in call.transcript.steps if s.kind == "status"]
    assert statuses == ["initiated", "in-progress", "completed"]
    assert call.outcome.kind == "enqueue"  # the fallback hands the caller to a representative

def test_without_a_status_callback_none_is_sent(ivr_call):
    call = ivr_call(now="{OPEN_HOURS}", status_callback=None).hangup()
    assert [s.kind for s in call.transcript.steps] == ["voice"]
'''


def test_the_number_settings_reach_the_simulated_call(pytester: pytest.Pytester) -> None:
    """ivr_call's keywords are the number's settings: voice URL and method, status callback
    (URL, method, events) and fallback URL and method, as the console sets them."""
    pytester.makepyfile(test_number=NUMBER_SETTINGS)
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_an_ivr_url_with_a_path_is_the_voice_url(pytester: pytest.Pytester, server: str) -> None:
    """--ivr-url with a path is the number's voice URL, requested as it is (query kept), with no
    status callback unless a test sets one; a test's keywords still change the settings."""
    pytester.makepyfile(
        "def test_path(ivr_call):\n"
        "    call = ivr_call()\n"
        f"    assert [s.url for s in call.transcript.steps] == ['{server}/voice?src=qa'], call\n"
        "def test_keywords_win(ivr_call):\n"
        "    call = ivr_call(\n"
        "        voice_url='/voice/fallback', voice_method='GET', status_callback='/voice/status'\n"
        "    )\n"
        "    first = call.transcript.steps[0]\n"
        f"    assert (first.method, first.url.split('?')[0]) == ('GET', '{server}/voice/fallback')\n"
        "    assert call.transcript.steps[-1].kind == 'status'\n"
    )
    result = run(pytester, "--ivr-url", server + "/voice?src=qa")
    result.assert_outcomes(passed=2)
