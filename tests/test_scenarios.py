"""Scenario files: the loader's errors, the runner's verdicts, JUnit XML, the report and `ivr test`."""

from __future__ import annotations

import re
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.cli import main
from ivr.commands import test_cmd
from ivr.commands.target import Target, open_target
from ivr.qa.scenarios import (
    CallTarget,
    Scenario,
    ScenarioError,
    ScenarioErrors,
    ScenarioResult,
    Suite,
    junit_xml,
    load_paths,
    load_scenario,
    render_report,
    run_scenario,
    run_scenarios,
)
from ivr.qa.scenarios.checks import best_window, check_heard
from ivr.qa.scenarios.model import Check, Expect, Hangup, Press, Say, Silence, Wait
from ivr.sim import HttpReply, Transport, WsgiTransport
from ivr.sim.callers import numbered_caller

NO_TWILIO = {"TWILIO_AUTH_TOKEN": None, "TWILIO_WEBHOOK_SHARED_KEY": None, "TWILIO_ACCOUNT_SID": None}

BILLING = """\
name: Billing, then a representative
line: main
tags: [billing, smoke]
steps:
  - expect: Thanks for calling
  - press: "2"
  - expect: {contains: Billing and insurance}
  - expect: {regex: "discrepancy, press \\\\d"}
  - expect: {fuzzy: "billing and insurance for a billing discrepancy press one", threshold: 0.8}
  - expect: {not_contains: Medicare}
  - silence
  - expect: {contains: "didn't hear anything"}
  - say: representative
  - expect_state: representative
  - expect_language: en-US
outcome:
  kind: enqueue
  target: sim-representative
  state: representative
  language: en-US
"""

#: The same call, with a wrong expectation at step 3.
WRONG = """\
name: Billing, expecting Medicare
line: main
tags: [billing]
steps:
  - press: "2"
  - expect: Billing and insurance
  - expect: {contains: Medicare Part D support}
  - press: "0"
outcome: {kind: enqueue}
"""

TTY_CLOSED = """\
name: TTY after hours
line: tty
now: 2026-11-23T21:30:00-06:00
tags: [tty]
steps:
  - expect: The TTY line is closed now
outcome: {kind: hangup, state: closed}
"""


def write(folder: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Our app in-process, shared by the runner tests of this module (as `ivr test` shares it)."""
    folder = tmp_path_factory.mktemp("scenario-app")
    built = open_target(None, database=str(folder / "ivr.sqlite3"))
    yield built
    engine = built.engine()
    assert engine is not None  # in-process
    engine.store.close()


# -- loader: good files ------------------------------------------------------------------------


def test_a_full_scenario_file_loads_into_typed_steps(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BILLING))
    assert scenario.name == "Billing, then a representative"
    assert (scenario.line, scenario.to, scenario.caller) == ("main", "+18002372765", "+15005550006")
    assert scenario.tags == ("billing", "smoke")
    assert [type(s).__name__ for s in scenario.steps] == [
        "Expect",
        "Press",
        "Expect",
        "Expect",
        "Expect",
        "Expect",
        "Silence",
        "Expect",
        "Say",
        "ExpectState",
        "ExpectLanguage",
    ]
    assert [s.number for s in scenario.steps] == list(range(1, 12))
    first, regex, fuzzy = scenario.steps[0], scenario.steps[3], scenario.steps[4]
    assert isinstance(first, Expect) and first.check == Check("contains", "Thanks for calling")
    assert isinstance(regex, Expect) and regex.check.pattern is not None
    assert regex.check.pattern.pattern == "discrepancy, press \\d"
    assert isinstance(fuzzy, Expect) and fuzzy.check.threshold == 0.8
    assert scenario.steps[8] == Say(9, "representative", 0.92)
    assert scenario.outcome is not None
    assert (scenario.outcome.kind, scenario.outcome.target) == ("enqueue", "sim-representative")


def test_short_forms_and_optional_fields(tmp_path: Path) -> None:
    text = (
        'to: "+15551234567"\nfrom: "+15550001111"\nnow: 2026-11-23T21:30:00-06:00\nsteps:\n'
        "  - hangup\n  - silence:\n  - wait: 2.5\n  - say: {text: representante, confidence: 0.6}\n"
        "  - press: '1*#'\n"
    )
    scenario = load_scenario(write(tmp_path, text, "no_name.yaml"))
    assert scenario.name == "no_name"  # no `name:`: the file's name
    assert (scenario.line, scenario.to, scenario.caller) == (None, "+15551234567", "+15550001111")
    assert scenario.now == "2026-11-23T21:30:00-06:00"  # an unquoted timestamp, kept as ISO text
    assert scenario.steps == (
        Hangup(1),
        Silence(2),
        Wait(3, 2.5),
        Say(4, "representante", 0.6),
        Press(5, "1*#"),
    )
    assert scenario.outcome is None


@pytest.mark.parametrize(
    ("expression", "matches"),
    [("BILLING", True), ("representative", True), ("smok", True), ("tty", False)],
    ids=["name-any-case", "name-substring", "tag-substring", "neither"],
)
def test_selection_matches_name_or_tags(tmp_path: Path, expression: str, matches: bool) -> None:
    assert load_scenario(write(tmp_path, BILLING)).matches(expression) is matches


def test_a_folder_gives_one_suite_per_folder_holding_files(tmp_path: Path) -> None:
    write(tmp_path, BILLING, "main/billing.yaml")
    write(tmp_path, WRONG, "main/wrong.yml")
    write(tmp_path, TTY_CLOSED, "tty/closed.yaml")
    write(tmp_path, "not: a scenario", ".hidden/skip.yaml")
    write(tmp_path, "notes", "main/readme.txt")
    suites = load_paths([tmp_path])
    assert [s.name for s in suites] == [str(tmp_path / "main"), str(tmp_path / "tty")]
    assert [[c.name for c in s.scenarios] for s in suites] == [
        ["Billing, then a representative", "Billing, expecting Medicare"],
        ["TTY after hours"],
    ]


def test_a_file_given_by_name_is_a_suite_of_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, BILLING)
    [suite] = load_paths([path])
    assert suite.name == str(path)
    assert [s.file for s in suite.scenarios] == [path]


# -- loader: bad files -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    steps: str  # the YAML of the steps (or of the whole file when `whole`)
    step: int | None
    field: str | None
    says: str
    whole: bool = False
    line: int | None = None  # the line named; None: the step's (HEAD and `steps:` take 3 lines)


HEAD = "name: bad\nline: main\n"
BAD = [
    Bad("bad-key", '  - press: "1"\n  - press: "1A"\n', 2, "press", "'A' is not a phone key"),
    Bad("keys-as-number", "  - press: 307\n", 1, "press", 'quote the keys: press: "307"'),
    Bad("empty-keys", '  - press: ""\n', 1, "press", "press takes keys as text"),
    Bad(
        "two-actions", '  - press: "1"\n    expect: Billing\n', 1, "expect", "two actions in one step", line=5
    ),
    Bad("unknown-action", '  - presss: "1"\n', 1, "presss", "unknown action (did you mean 'press'?)"),
    Bad("bare-word", "  - silence\n  - pause\n", 2, None, "'pause' is not a step"),
    Bad("step-a-list", "  - [press, 1]\n", 1, None, "a list; a step is a mapping with one action"),
    Bad("bad-regex", '  - expect: {regex: "press (1"}\n', 1, "expect.regex", "does not compile"),
    Bad(
        "threshold-high",
        "  - expect: {fuzzy: billing, threshold: 1.5}\n",
        1,
        "expect.threshold",
        "1.5 is out of range; use a number from 0 to 1",
    ),
    Bad(
        "threshold-text",
        "  - expect: {fuzzy: billing, threshold: high}\n",
        1,
        "expect.threshold",
        "'high' is not a number",
    ),
    Bad(
        "threshold-not-fuzzy",
        "  - expect: {contains: billing, threshold: 0.5}\n",
        1,
        "expect.threshold",
        "threshold only goes with fuzzy",
    ),
    Bad("two-checks", "  - expect: {contains: a, regex: b}\n", 1, "expect", "contains and regex together"),
    Bad("unknown-check", "  - expect: {contain: billing}\n", 1, "expect.contain", "did you mean 'contains'?"),
    Bad("empty-expect", "  - expect: ''\n", 1, "expect", "empty"),
    Bad("confidence", "  - say: {text: hi, confidence: 2}\n", 1, "say.confidence", "out of range"),
    Bad("say-no-text", "  - say: {confidence: 0.5}\n", 1, "say.text", "missing"),
    Bad("wait-negative", "  - wait: -1\n", 1, "wait", "use a number at least 0"),
    Bad("silence-value", "  - silence: 3\n", 1, "silence", "silence takes no value"),
    Bad("state-empty", "  - expect_state:\n", 1, "expect_state", "nothing; write some text"),
    Bad(
        "unknown-top-key",
        "name: x\nline: main\ncolour: blue\nsteps: [silence]\n",
        None,
        "colour",
        "unknown key",
        whole=True,
        line=3,
    ),
    Bad(
        "unknown-line",
        "line: billing\nsteps: [silence]\n",
        None,
        "line",
        "'billing' is not one of our lines; use main, specialty, tty",
        whole=True,
        line=1,
    ),
    Bad(
        "line-and-to",
        'line: main\nto: "+15551234567"\nsteps: [silence]\n',
        None,
        "to",
        "either `line:` or `to:`",
        whole=True,
        line=2,
    ),
    Bad("no-number", "name: x\nsteps: [silence]\n", None, "line", "which number", whole=True, line=1),
    Bad(
        "to-as-number",
        "to: +18002372765\nsteps: [silence]\n",
        None,
        "to",
        'quote it: to: "+18002372765"',
        whole=True,
        line=1,
    ),
    Bad(
        "bad-now",
        "line: tty\nnow: tonight\nsteps: [silence]\n",
        None,
        "now",
        "not an ISO 8601 time",
        whole=True,
        line=2,
    ),
    Bad(
        "date-now",
        "line: tty\nnow: 2026-11-23\nsteps: [silence]\n",
        None,
        "now",
        "not a date and time",
        whole=True,
        line=2,
    ),
    Bad(
        "tags-text",
        "line: main\ntags: smoke\nsteps: [silence]\n",
        None,
        "tags",
        "not a list",
        whole=True,
        line=2,
    ),
    Bad(
        "steps-mapping",
        "line: main\nsteps: {press: '1'}\n",
        None,
        "steps",
        "steps is a list",
        whole=True,
        line=2,
    ),
    Bad("checks-nothing", "line: main\nsteps: []\n", None, "steps", "checks nothing", whole=True, line=2),
    Bad(
        "outcome-kind",
        "line: main\noutcome: {kind: transfer}\n",
        None,
        "outcome.kind",
        "'transfer' is not a way a call ends",
        whole=True,
        line=2,
    ),
    Bad(
        "outcome-key",
        "line: main\noutcome: {queue: x}\n",
        None,
        "outcome.queue",
        "unknown key",
        whole=True,
        line=2,
    ),
    Bad(
        "duplicate-key",
        "line: main\nsteps: [silence]\nline: tty\n",
        None,
        None,
        "duplicate key 'line' (first on line 1, again on line 3)",
        whole=True,
        line=3,
    ),
    Bad("not-yaml", "line: main\nsteps: [unclosed\n", None, None, "line ", whole=True, line=2),
    Bad("a-list", "- press: '1'\n", None, None, "the file holds a list", whole=True, line=1),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_a_bad_file_is_refused_naming_file_step_and_field(tmp_path: Path, bad: Bad) -> None:
    path = write(tmp_path, bad.steps if bad.whole else HEAD + "steps:\n" + bad.steps)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    line = bad.line if bad.line is not None else 3 + (bad.step or 0)
    assert (error.file, error.line, error.step, error.field) == (str(path), line, bad.step, bad.field)
    where = (
        f"{path}:{line}"
        + (f": step {bad.step}" if bad.step else "")
        + (f": field '{bad.field}'" if bad.field else "")
    )
    assert str(error).startswith(where + ": "), str(error)
    assert bad.says in error.detail, error.detail


def test_the_doc_example_message_reads_as_documented(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + 'steps:\n  - silence\n  - silence\n  - press: "A"\n', "x.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}:6: step 3: field 'press': 'A' is not a phone key; use 0-9, * and #"


def test_every_bad_file_of_a_folder_is_reported_together(tmp_path: Path) -> None:
    write(tmp_path, BILLING, "good.yaml")
    write(tmp_path, HEAD + "steps:\n  - press: X\n", "one.yaml")
    write(tmp_path, HEAD + "steps: [pause]\n", "two.yaml")
    with pytest.raises(ScenarioErrors) as caught:
        load_paths([tmp_path])
    assert [(Path(e.file).name, e.step, e.field) for e in caught.value.errors] == [
        ("one.yaml", 1, "press"),
        ("two.yaml", 1, None),
    ]


@pytest.mark.parametrize(
    ("layout", "says"),
    [({}, "no scenario files"), ({"a.yaml": BILLING, "b.yaml": BILLING}, "is also the name of")],
    ids=["empty-folder", "duplicate-names"],
)
def test_a_folder_problem_is_refused(tmp_path: Path, layout: dict[str, str], says: str) -> None:
    for name, text in layout.items():
        write(tmp_path, text, name)
    with pytest.raises(ScenarioErrors) as caught:
        load_paths([tmp_path])
    [error] = caught.value.errors
    assert says in str(error)


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioErrors) as caught:
        load_paths([tmp_path / "nowhere"])
    assert "no such file or folder" in str(caught.value)


# -- checks ------------------------------------------------------------------------------------

HEARD = "Billing and insurance. For a billing discrepancy, press 1. To learn what mail order costs, press 2."


@pytest.mark.parametrize(
    ("check", "heard", "passes", "reason"),
    [
        (Check("contains", "BILLING DISCREPANCY"), HEARD, True, ""),
        (Check("contains", "Medicare"), HEARD, False, "did not hear 'Medicare'; heard: 'Billing"),
        (Check("contains", "Billing"), "", False, "heard nothing since the last input"),
        (Check("not_contains", "medicare"), HEARD, True, ""),
        (Check("not_contains", "mail order"), HEARD, False, "heard 'mail order', which must not be said"),
        (Check("regex", r"press \d\.", pattern=re.compile(r"press \d\.")), HEARD, True, ""),
        (Check("regex", "BILLING", pattern=re.compile("BILLING")), HEARD, False, "nothing matches /BILLING/"),
        (Check("fuzzy", "for a billing discrepency press one"), HEARD, True, "best match scored 0.9"),
        (
            Check("fuzzy", "for a pharmacy discount dial nine", threshold=0.9),
            HEARD,
            False,
            "below the threshold 0.9",
        ),
    ],
    ids=[
        "contains-any-case",
        "contains-missing",
        "contains-nothing-heard",
        "not-contains",
        "not-contains-heard",
        "regex",
        "regex-is-case-sensitive",
        "fuzzy",
        "fuzzy-below",
    ],
)
def test_a_check_passes_or_says_why_not(check: Check, heard: str, passes: bool, reason: str) -> None:
    passed, why = check_heard(check, heard)
    assert passed is passes
    assert reason in why if reason else why == ""


def test_fuzzy_finds_the_best_window_of_about_as_many_words() -> None:
    score, window = best_window("a billing discrepancy press one", HEARD)
    assert window == "a billing discrepancy press 1"
    assert 0.9 < score < 1.0


_WORDS = st.lists(
    st.sampled_from(["press", "1", "10", "on", "one", "bill", "billing", "Billing.", "a", "x"]), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(_WORDS, _WORDS)
def test_a_window_said_word_for_word_scores_one_as_the_full_search_does(
    want: list[str], have: list[str]
) -> None:
    """best_window's shortcut (the words said exactly) answers what the search of every window
    answers: the same score, and the window the words themselves."""
    import difflib

    expected, heard = " ".join(want), " ".join(have)
    score, window = best_window(expected, heard)
    words = [w.casefold().strip(".") for w in want]
    target, spoken = " ".join(words), [w.casefold().strip(".") for w in have]
    windows = [
        " ".join(spoken[i : i + n])
        for n in range(max(1, len(words) - max(1, len(words) // 4)), len(words) + max(1, len(words) // 4) + 1)
        for i in range(max(1, len(spoken) - n + 1))
    ]
    full = max(
        (difflib.SequenceMatcher(None, w, target, autojunk=False).ratio() for w in windows), default=0.0
    )
    if not words or not spoken:
        assert (score, window) == (0.0, "")
    else:
        assert score == pytest.approx(full)
        if score == 1.0:
            assert window == target


# -- runner ------------------------------------------------------------------------------------


def _run(tmp_path: Path, target: CallTarget, text: str, name: str = "scenario.yaml") -> ScenarioResult:
    return run_scenario(load_scenario(write(tmp_path, text, name)), target)


def test_a_passing_scenario_passes_every_step_and_its_outcome(tmp_path: Path, target: Target) -> None:
    result = _run(tmp_path, target, BILLING)
    assert result.passed, result.message + "\n" + result.transcript.render()
    assert [s.where for s in result.steps] == ["dial", *(f"step {n}" for n in range(1, 12)), "outcome"]
    assert {s.status for s in result.steps} == {"pass"}
    assert result.steps[5].reason.startswith("best match scored")  # the fuzzy step says its score
    assert result.steps[-1].reason == "ended with enqueue:sim-representative"
    assert result.message == "" and result.error is None
    assert result.transcript.outcome is not None and result.transcript.outcome.kind == "enqueue"
    assert result.seconds > 0


def test_a_wrong_expectation_fails_that_step_and_names_it(tmp_path: Path, target: Target) -> None:
    result = _run(tmp_path, target, WRONG)
    assert not result.passed and result.error is None
    failure = result.first_failure
    assert failure is not None and failure.where == "step 3"
    assert result.message.startswith(
        "step 3 (expect contains 'Medicare Part D support'): did not hear 'Medicare Part D support'; "
        "heard: 'Billing and insurance."
    )
    assert [(s.where, s.status) for s in result.steps] == [
        ("dial", "pass"),
        ("step 1", "pass"),
        ("step 2", "pass"),
        ("step 3", "fail"),
        ("step 4", "skip"),
        ("outcome", "skip"),
    ]
    # The runner hangs up a call it leaves in progress, so the app closes its record.
    assert result.transcript.outcome is not None and result.transcript.outcome.kind == "caller-hangup"


def test_a_step_the_simulator_refuses_fails_that_step_without_crashing(
    tmp_path: Path, target: Target
) -> None:
    result = _run(tmp_path, target, HEAD + 'steps:\n  - press: "0"\n  - press: "1"\n  - silence\n')
    assert result.error is None
    assert result.message == (
        "step 2 (press 1): cannot press '1': the call has ended (enqueue:sim-representative)"
    )
    assert result.steps[-2].status == "skip"


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("{kind: hangup}", "ended with enqueue, expected hangup"),
        ("{target: sim-pharmacist}", "target 'sim-representative', expected 'sim-pharmacist'"),
        ("{state: goodbye}", "last state 'representative', expected 'goodbye'"),
        ("{language: es-US}", "language 'en-US', expected 'es-US'"),
        ("{kind: dial, state: main_menu}", "ended with enqueue, expected dial; last state"),
    ],
    ids=["kind", "target", "state", "language", "two-at-once"],
)
def test_a_wrong_outcome_fails_the_outcome(tmp_path: Path, target: Target, outcome: str, reason: str) -> None:
    result = _run(tmp_path, target, HEAD + f'steps:\n  - press: "0"\noutcome: {outcome}\n')
    failure = result.first_failure
    assert failure is not None and failure.where == "outcome"
    assert failure.reason.startswith(reason), failure.reason


def test_an_outcome_expected_of_a_call_still_waiting_fails(tmp_path: Path, target: Target) -> None:
    result = _run(tmp_path, target, HEAD + 'steps:\n  - press: "2"\noutcome: {kind: enqueue}\n')
    assert result.message.startswith(
        "outcome (outcome kind enqueue): the call was still waiting for input after the last step "
        "(state billing_menu)"
    )


@pytest.mark.parametrize(
    ("expected", "passes"),
    [("en-US", True), ("en", True), ("EN-us", True), ("es", False), ("en-GB", False)],
    ids=["exact", "no-region", "any-case", "other-language", "other-region"],
)
def test_expect_language(tmp_path: Path, target: Target, expected: str, passes: bool) -> None:
    result = _run(tmp_path, target, HEAD + f"steps:\n  - expect_language: {expected}\n")
    assert result.passed is passes, result.message


def test_now_gives_the_call_its_clock(tmp_path: Path, target: Target) -> None:
    result = _run(tmp_path, target, TTY_CLOSED)
    assert result.passed, result.message
    assert result.transcript.to == "+18007114041"


class _Broken:
    """A transport whose app is down in a way the simulator does not expect."""

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        raise RuntimeError("the wire melted")


class _ServerError:
    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        return HttpReply(500, {"content-type": "text/html"}, "<h1>Internal Server Error</h1>")


@dataclass
class _FakeTarget:
    transport: Transport
    base_url: str = "http://example.test"
    in_process: bool = False
    app: Any = None

    def engine(self) -> Any:
        return None


def test_an_app_error_fails_the_dial_with_its_cause(tmp_path: Path) -> None:
    result = _run(tmp_path, _FakeTarget(_ServerError()), HEAD + "steps: [silence]\n")
    assert result.error is None
    assert (
        result.message == "dial (dial +18002372765): the call failed: Twilio error 11200 HTTP "
        "retrieval failure at http://example.test/voice: HTTP 500 from http://example.test/voice"
    )
    assert [s.status for s in result.steps] == ["fail", "skip", "skip"]


def test_an_exception_in_a_run_is_an_error_of_that_scenario_only(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, HEAD + "steps: [silence]\n"))
    [result] = run_scenarios([scenario], _FakeTarget(_Broken()))
    assert result.error == "RuntimeError: the wire melted"
    assert not result.passed
    assert result.steps[0].reason == "the run crashed: RuntimeError: the wire melted"


class _Rendezvous:
    """Passes requests to the app, but holds the first of two calls until the second arrives."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(2)
        self.threads: set[int] = set()
        self._lock = threading.Lock()
        self._dials = 0

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        with self._lock:
            self.threads.add(threading.get_ident())
            first_two = url.endswith("/voice") and self._dials < 2
            self._dials += url.endswith("/voice")
        if first_two:
            try:
                self.barrier.wait(timeout=5)  # a sequential run would time out here
            except threading.BrokenBarrierError:
                pass
        return self.inner.request(method, url, fields, headers)


def test_scenarios_run_in_parallel_and_come_back_in_order(tmp_path: Path, target: Target) -> None:
    texts = [BILLING, WRONG, TTY_CLOSED] * 3
    scenarios = [load_scenario(write(tmp_path, t, f"s{i}.yaml")) for i, t in enumerate(texts)]
    transport = _Rendezvous(WsgiTransport(target.app))
    parallel = _FakeTarget(transport, base_url=target.base_url)
    seen: list[str] = []
    results = run_scenarios(
        scenarios, parallel, workers=4, on_result=lambda r: seen.append(r.scenario.file.name)
    )
    assert [r.scenario for r in results] == scenarios
    assert [r.passed for r in results] == [True, False, True] * 3
    assert sorted(seen) == sorted(s.file.name for s in scenarios)
    assert not transport.barrier.broken  # two calls were in flight at the same moment
    assert len(transport.threads) > 1
    assert len({r.transcript.call_sid for r in results}) == len(results)


def test_in_process_runs_share_the_one_app(tmp_path: Path, target: Target) -> None:
    scenarios = [load_scenario(write(tmp_path, BILLING, f"s{i}.yaml")) for i in range(4)]
    results = run_scenarios(scenarios, target, workers=4)
    engine = target.engine()
    assert engine is not None  # in-process
    store = engine.store
    records = [store.get_call(r.transcript.call_sid) for r in results]
    assert all(record is not None for record in records)


def test_workers_must_be_positive(tmp_path: Path, target: Target) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_scenarios([], target, workers=0)


# -- JUnit XML and the report ------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_two_suites(
    tmp_path_factory: pytest.TempPathFactory, target: Target
) -> tuple[list[Suite], list[ScenarioResult]]:
    folder = tmp_path_factory.mktemp("junit")
    write(folder, BILLING, "main/billing.yaml")
    write(folder, WRONG, "main/wrong.yaml")
    write(folder, TTY_CLOSED, "tty/closed.yaml")
    suites = load_paths([folder])
    results = run_scenarios([s for suite in suites for s in suite.scenarios], target)
    return suites, results


def test_junit_xml_element_by_element(run_two_suites: tuple[list[Suite], list[ScenarioResult]]) -> None:
    suites, results = run_two_suites
    root = ElementTree.fromstring(junit_xml(suites, results))
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("name", "tests", "failures", "errors")} == {
        "name": "ivr test",
        "tests": "3",
        "failures": "1",
        "errors": "0",
    }
    assert float(root.get("time", "-1")) >= 0
    main_suite, tty_suite = list(root)
    assert (main_suite.tag, main_suite.get("name"), main_suite.get("tests"), main_suite.get("failures")) == (
        "testsuite",
        suites[0].name,
        "2",
        "1",
    )
    tty_counts = (tty_suite.get("name"), tty_suite.get("tests"), tty_suite.get("failures"))
    assert tty_counts == (suites[1].name, "1", "0")
    for suite in (main_suite, tty_suite):
        assert set(suite.attrib) == {"name", "tests", "failures", "errors", "time"}
        for case in suite:
            assert case.tag == "testcase"
            assert set(case.attrib) == {"classname", "name", "time"}
            assert case.get("classname", "").endswith(Path(suite.get("name", "")).name)
            assert float(case.get("time", "-1")) >= 0
    good, bad = list(main_suite)
    assert good.get("name") == "Billing, then a representative" and list(good) == []
    assert bad.get("name") == "Billing, expecting Medicare"
    [failure] = list(bad)
    assert failure.tag == "failure"
    assert set(failure.attrib) == {"message", "type"}
    wrong = next(r for r in results if not r.passed)
    assert failure.get("message") == wrong.message
    assert failure.get("message", "").startswith("step 3 (expect contains 'Medicare Part D support')")
    body = failure.text or ""
    assert "✗ step 3" in body and "· step 4" in body
    assert wrong.transcript.render() in body  # the readable transcript of the failing call


def test_junit_leaves_out_suites_that_did_not_run(
    run_two_suites: tuple[list[Suite], list[ScenarioResult]],
) -> None:
    suites, results = run_two_suites
    tty_only = [r for r in results if r.scenario.line == "tty"]
    root = ElementTree.fromstring(junit_xml(suites, tty_only))
    assert [s.get("name") for s in root] == [suites[1].name]
    assert root.get("tests") == "1"


def test_an_error_is_a_junit_error(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, HEAD + "steps: [silence]\n"))
    results = run_scenarios([scenario], _FakeTarget(_Broken()))
    root = ElementTree.fromstring(junit_xml([Suite("x", (scenario,))], results))
    assert (root.get("failures"), root.get("errors")) == ("0", "1")
    [[case]] = [list(s) for s in root]
    [error] = list(case)
    assert error.tag == "error"
    assert error.get("message") == "dial (dial +18002372765): the run crashed: RuntimeError: the wire melted"


def test_the_report_marks_each_step_and_shows_failing_calls(
    run_two_suites: tuple[list[Suite], list[ScenarioResult]],
) -> None:
    _, results = run_two_suites
    text = render_report(results)
    lines = text.splitlines()
    heads = [line for line in lines if line[:1] in "✓✗"]
    assert [h.split("  (")[0] for h in heads] == [
        "✓ PASS  Billing, then a representative",
        "✗ FAIL  Billing, expecting Medicare",
        "✓ PASS  TTY after hours",
    ]
    assert "    ✗ step 3   expect contains 'Medicare Part D support'  -- did not hear" in text
    assert "    · step 4   press 0  -- not run: an earlier step failed" in text
    assert "    ✓ step 2   expect contains 'Billing and insurance'" in text
    assert text.count("transcript:") == 1  # only the failing call's
    assert lines[-1].startswith("3 scenarios: 2 passed, 1 failed in ")
    compact = render_report(results, steps_of_passing=False)
    assert "✓ step 1   expect contains 'Thanks for calling'" not in compact
    assert "✗ step 3" in compact


# -- ivr test ----------------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner(env={**NO_TWILIO, **(env or {})}).invoke(main, ["test", *args], catch_exceptions=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, BILLING, "cases/main/billing.yaml")
    write(tmp_path, TTY_CLOSED, "cases/tty/closed.yaml")
    return tmp_path / "cases"


def test_cli_all_pass_exits_0_and_writes_junit(folder: Path, tmp_path: Path) -> None:
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    result = invoke(str(folder), "--workers", "2", "--junit", str(junit), "--report", str(tmp_path / "r.txt"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-3].startswith("2 scenarios: 2 passed, 0 failed")
    root = ElementTree.fromstring(junit.read_text(encoding="utf-8"))
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["Billing, then a representative", "TTY after hours"]
    report = (tmp_path / "r.txt").read_text(encoding="utf-8")
    assert "✓ step 1   expect contains 'Thanks for calling'" in report


def test_cli_a_failure_exits_1_and_names_the_step(folder: Path) -> None:
    write(folder, WRONG, "main/wrong.yaml")
    result = invoke(str(folder))
    assert result.exit_code == 1
    assert "✗ FAIL  Billing, expecting Medicare" in result.stdout
    assert "✗ step 3   expect contains 'Medicare Part D support'" in result.stdout
    assert "3 scenarios: 2 passed, 1 failed" in result.stdout


def test_cli_a_bad_file_exits_2_naming_file_step_and_field(folder: Path) -> None:
    bad = write(folder, HEAD + 'steps:\n  - silence\n  - press: "A"\n', "main/bad.yaml")
    result = invoke(str(folder))
    assert result.exit_code == 2
    assert f"error: {bad}:5: step 2: field 'press': 'A' is not a phone key" in result.stderr
    assert "1 scenario file is not valid; nothing was run" in result.stderr
    assert result.stdout == ""


def test_cli_a_missing_path_exits_2(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("tty", ["TTY after hours"]),
        ("SMOKE", ["Billing, then a representative"]),
        ("billing", ["Billing, then a representative"]),
    ],
    ids=["by-tag", "by-tag-any-case", "by-name"],
)
def test_cli_k_selects_by_name_or_tag(
    folder: Path, tmp_path: Path, expression: str, names: list[str]
) -> None:
    junit = tmp_path / "junit.xml"
    result = invoke(str(folder), "-k", expression, "--junit", str(junit))
    assert result.exit_code == 0, result.output
    root = ElementTree.fromstring(junit.read_text(encoding="utf-8"))
    assert [c.get("name") for c in root.iter("testcase")] == names


def test_cli_k_matching_nothing_exits_2(folder: Path) -> None:
    result = invoke(str(folder), "-k", "nothing-like-this")
    assert result.exit_code == 2
    assert "no scenario name or tag contains 'nothing-like-this'" in result.stderr


@pytest.mark.parametrize("variable", ["TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_SHARED_KEY"])
def test_cli_signs_requests_when_the_app_checks_signatures(folder: Path, variable: str) -> None:
    result = invoke(str(folder), env={variable: "scenario-test-secret", "IVR_SECRET_KEY": "member-key"})
    assert result.exit_code == 0, result.output


def test_cli_defaults_to_the_scenarios_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    folder.rename(folder.parent / "scenarios")
    result = invoke("-k", "tty")
    assert result.exit_code == 0, result.output
    assert "(scenarios/tty/closed.yaml" in result.stdout


def test_cli_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["test", "--help"])
    assert result.exit_code == 0
    assert "ivr test scenarios/main -k billing --workers 8 --junit junit.xml" in result.stdout


class _FakeCoverage:
    def __init__(self, flow: Any, transcripts: list[Any]) -> None:
        self.flow, self.transcripts = flow, transcripts
        self.state_ratio = self.transition_ratio = 0.5
        self.missed_states: list[str] = []
        self.missed_transitions: list[str] = []

    def render(self) -> str:
        return f"flow {self.flow.name}: {len(self.transcripts)} transcripts"


def test_cli_coverage_measures_each_line_called(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("ivr.qa.coverage")
    module.measure = _FakeCoverage  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ivr.qa.coverage", module)
    result = invoke(str(folder), "--coverage")
    assert result.exit_code == 0, result.output
    assert "\nflow main: 1 transcripts\n" in result.stdout
    assert "\nflow tty: 1 transcripts\n" in result.stdout


def test_cli_coverage_says_when_it_is_unavailable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ivr.qa.coverage", None)  # an import of it now fails
    result = invoke(str(folder), "--coverage")
    assert result.exit_code == 0, result.output
    assert "warning: flow coverage is unavailable in this install" in result.stderr


def test_cli_coverage_over_a_url_is_refused_with_a_reason(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_open(url: str | None, *args: Any, **kwargs: Any) -> Any:
        return _FakeTarget(_ServerError(), base_url=str(url))

    monkeypatch.setattr(test_cmd, "open_target", fake_open)
    result = invoke(str(folder), "--url", "http://example.test", "--coverage")
    assert result.exit_code == 1  # the fake server answers 500
    assert "--coverage needs an in-process run of our app (leave out --url)" in result.stderr


@pytest.mark.parametrize(
    ("total", "tty", "shown"),
    [(10, True, True), (3, True, False), (10, False, False)],
    ids=["many-on-a-terminal", "few", "not-a-terminal"],
)
def test_the_progress_bar_shows_only_for_many_scenarios_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
    run_two_suites: tuple[list[Suite], list[ScenarioResult]],
    total: int,
    tty: bool,
    shown: bool,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    with test_cmd._progress(total) as advance:
        assert (advance is not None) is shown
        if advance is not None:
            for result in run_two_suites[1]:
                advance(result)


def test_a_scenario_is_hashable_for_junit_grouping(tmp_path: Path) -> None:
    scenario: Scenario = load_scenario(write(tmp_path, BILLING))
    assert {scenario: 1}[load_scenario(write(tmp_path, BILLING))] == 1


def test_a_bad_field_of_a_step_written_over_several_lines_names_its_own_line(tmp_path: Path) -> None:
    text = HEAD + 'steps:\n  - press: "1"\n  - expect:\n      fuzzy: billing\n      threshold: 2\n'
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert (error.line, error.step, error.field) == (7, 2, "expect.threshold")
    assert str(error) == (
        f"{path}:7: step 2: field 'expect.threshold': 2 is out of range; use a number from 0 to 1"
    )


# -- each scenario calls from a number of its own ----------------------------------------------


def _identity_call(tries: str) -> str:
    """A refill call that enters a wrong date of birth (`tries`: what is heard after each
    try), then reaches a representative; {name} and {caller} are filled in per file."""
    steps = "".join(
        f'  - press: "10203040#"\n  - press: "01011990"\n  - expect: {{{{contains: "{heard}"}}}}\n'
        for heard in tries.split("|")
    )
    return (
        'name: {name}\nline: main\n{caller}steps:\n  - press: "1"\n'
        + steps
        + "  - expect: Connecting you with a representative\n"
        + "outcome:\n  kind: enqueue\n  target: sim-representative\n"
    )


WRONG_DOB_TWICE = _identity_call("we could not verify those details|we could not verify those details")
LOCKED_OUT = _identity_call("we can't verify your identity right now")
#: A locked-out number asking for refills: told at once, with no ID or date of birth asked for.
REFUSED_AT_ONCE = (
    'name: {name}\nline: main\n{caller}steps:\n  - press: "1"\n'
    '  - expect: {{contains: "we can\'t verify your identity right now"}}\n'
    "  - expect: Connecting you with a representative\n"
    "outcome:\n  kind: enqueue\n  target: sim-representative\n"
)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_scenarios_without_from_never_lock_each_other_out(tmp_path: Path, jobs: str) -> None:
    """Six calls failing the identity check, more than the five a number may fail: each
    scenario is its own caller, so none is locked out by the others, in one process or two."""
    for n in range(6):
        write(tmp_path, WRONG_DOB_TWICE.format(name=f"wrong {n}", caller=""), f"c/{n}.yaml")
    result = invoke(str(tmp_path / "c"), "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert "6 scenarios: 6 passed, 0 failed" in result.stdout


def test_scenarios_sharing_a_from_share_its_failed_identity_checks(tmp_path: Path) -> None:
    """The lockout is real: the same number's failures add up from call to call (five allowed)."""
    caller = 'from: "+15550001111"\n'
    for n in range(2):  # two failures each: four
        write(tmp_path, WRONG_DOB_TWICE.format(name=f"wrong {n}", caller=caller), f"c/{n}.yaml")
    write(tmp_path, LOCKED_OUT.format(name="wrong 2", caller=caller), "c/2.yaml")  # the fifth locks it
    write(tmp_path, REFUSED_AT_ONCE.format(name="locked 3", caller=caller), "c/3.yaml")  # then, at once
    result = invoke(str(tmp_path / "c"), "--jobs", "1", "--workers", "1")  # one call at a time, in order
    assert result.exit_code == 0, result.output
    assert "4 scenarios: 4 passed, 0 failed" in result.stdout


def test_numbered_callers_are_distinct_fictional_numbers(tmp_path: Path) -> None:
    numbers = [numbered_caller(i) for i in range(72_000)]
    assert len(set(numbers)) == 72_000
    assert numbered_caller(72_000) == numbered_caller(0) == "+120055501" + "00"
    pattern = re.compile(r"\+1[2-9][0-8][0-9]55501[0-9]{2}")
    assert all(pattern.fullmatch(n) for n in numbers)
    for n in range(2):
        write(tmp_path, WRONG_DOB_TWICE.format(name=f"wrong {n}", caller=""), f"c/{n}.yaml")
    (suite,) = load_paths([tmp_path / "c"])
    assert [s.caller for s in suite.scenarios] == [numbered_caller(0), numbered_caller(1)]
