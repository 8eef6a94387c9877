"""The crawler: every key at every state, traps and dead keys found, scenarios generated."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from ivr.cli import main
from ivr.commands.target import Target
from ivr.engine.config import FLOWS_DIR
from ivr.engine.flow import Flow
from ivr.engine.flow_loader import load_flow
from ivr.qa.coverage import Transition
from ivr.qa.crawl import SILENCE, CrawlOptions, CrawlReport, Move, crawl, mentioned_keys, write_scenarios
from ivr.qa.scenarios import load_paths, run_scenarios
from ivr.sim import HttpTransport, Outcome, WsgiTransport

from .conftest import OPEN_HOURS
from .phone import MAIN

CLOSED_HOURS = "2026-11-23T21:30:00-06:00"  # a Monday, 9:30 p.m. Central: the TTY line is closed
FOREIGN_NUMBER = "+15005550006"


def run(runner: CliRunner, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def flow_of(app: Flask, line: str) -> Flow:
    flow: Flow = app.extensions["ivr"].flows.get(line).machine.flow
    return flow


# -- our main line, in-process ------------------------------------------------------------------


@pytest.fixture(scope="module")
def main_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    database = tmp_path_factory.mktemp("crawl") / "ivr.sqlite3"
    application = create_app({"TESTING": True, "DATABASE": str(database), "NOW": OPEN_HOURS})
    yield application
    application.extensions["ivr"].store.close()


@pytest.fixture(scope="module")
def main_crawl(main_app: Flask) -> CrawlReport:
    return crawl(WsgiTransport(main_app), MAIN, flow=flow_of(main_app, "main"), line="main")


def test_the_main_line_crawl_reaches_every_state_and_finds_nothing_wrong(
    main_app: Flask, main_crawl: CrawlReport
) -> None:
    flow = flow_of(main_app, "main")
    assert set(main_crawl.states) == set(flow.states) - {flow.initial}
    assert main_crawl.problems == []
    assert (main_crawl.unreached_states, main_crawl.unreached_transitions) == ([], [])
    assert main_crawl.conditional_unreached_states == []
    assert (main_crawl.truncated, main_crawl.frontier) == (False, [])
    assert main_crawl.calls < 600  # replays stay bounded: about one call per state and input


PATHS = [
    pytest.param((), "main_menu", None, id="dial"),
    pytest.param(("0",), "representative", Outcome("enqueue", target="sim-representative"), id="rep"),
    pytest.param(("2", "1"), "billing_discrepancy", None, id="billing-discrepancy"),
    pytest.param(("2", "1", SILENCE, SILENCE, SILENCE), "goodbye", Outcome("hangup"), id="goodbye"),
    pytest.param(("2", "4"), "billing_appeals", None, id="billing-appeals"),
    pytest.param(("1", "10203040#", "03071956"), "refill_menu", None, id="identity-verified"),
    pytest.param(
        ("1", "10203040#", "03071956", "1", "10203040#"), "refill_submitted", None, id="refill-submitted"
    ),
]


@pytest.mark.parametrize(("inputs", "state", "outcome"), PATHS)
def test_each_state_has_its_shortest_path_and_outcome(
    main_crawl: CrawlReport, inputs: tuple[str, ...], state: str, outcome: Outcome | None
) -> None:
    found = {p.state: p for p in main_crawl.paths}[state]
    assert (found.inputs, found.outcome) == (inputs, outcome)


def test_repeating_a_failing_input_finds_the_way_out(main_crawl: CrawlReport) -> None:
    # Silence twice keeps the caller in the menu; the third time hands over.
    move = Move("main_menu", (SILENCE,) * 3, "representative", "no_input")
    assert move in main_crawl.moves
    assert Move("verify_id", ("12#",) * 3, "representative", "entry") in main_crawl.moves


class _Callers(WsgiTransport):
    """WsgiTransport that notes the From of every new call (a POST to the voice URL)."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.callers: list[str] = []

    def request(self, method: str, url: str, fields: Any, headers: Any) -> Any:
        if url.endswith("/voice"):
            self.callers.append(fields["From"])
        return super().request(method, url, fields, headers)


def test_each_call_of_a_crawl_comes_from_a_fictional_number_of_its_own(
    make_app: Callable[..., Flask],
) -> None:
    """A number's failed identity checks add up over its calls (five lock it out): the calls of
    a crawl must not share one, or the crawl's own wrong entries change what later calls hear."""
    app = make_app(NOW=OPEN_HOURS)
    transport = _Callers(app)
    report = crawl(transport, MAIN, flow=flow_of(app, "main"), line="main")
    assert report.errors == [] and len(transport.callers) == report.calls
    assert len(set(transport.callers)) == report.calls
    assert all(re.fullmatch(r"\+1[2-9][0-8][0-9]55501[0-9]{2}", c) for c in transport.callers)
    given = _Callers(app)
    crawl(given, MAIN, flow=flow_of(app, "main"), line="main", call_options={"caller": "+15557654321"})
    assert set(given.callers) == {"+15557654321"}  # a number given is every call's


def test_a_second_crawl_of_the_same_server_finds_what_the_first_found(make_app: Callable[..., Flask]) -> None:
    """The first crawl's wrong dates of birth do not lock the second crawl's callers out."""
    app = make_app(NOW=OPEN_HOURS)
    first, second, third = (
        crawl(WsgiTransport(app), MAIN, flow=flow_of(app, "main"), line="main") for _ in "123"
    )
    assert first.errors == second.errors == third.errors == []
    assert [(p.inputs, p.state) for p in first.paths] == [(p.inputs, p.state) for p in third.paths]
    assert first.moves == second.moves == third.moves


@pytest.mark.parametrize(
    ("options", "states", "truncated"),
    [
        pytest.param(
            CrawlOptions(depth=1),
            [
                "billing_menu",
                "international_menu",
                "main_menu",
                "medicare_menu",
                "pharmacist",
                "representative",
                "verify_id",
            ],
            False,
            id="depth-1",
        ),
        pytest.param(
            CrawlOptions(max_calls=3), ["main_menu", "representative", "verify_id"], True, id="3-calls"
        ),
    ],
)
def test_bounds_stop_the_crawl(
    main_app: Flask, options: CrawlOptions, states: list[str], truncated: bool
) -> None:
    report = crawl(WsgiTransport(main_app), MAIN, options=options)
    assert report.states == states
    assert report.truncated is truncated
    assert report.calls <= options.max_calls
    assert report.dead_ends == [] and report.no_exit == []  # a half-explored menu is no trap
    assert ("stopped at the call limit" in report.render()) is truncated


# -- the TTY line, open and closed, through the command ------------------------------------------


@pytest.mark.parametrize(
    ("now", "missing", "conditional"),
    [
        pytest.param(OPEN_HOURS, {"closed"}, ["closed"], id="open"),
        pytest.param(CLOSED_HOURS, "all but closed", None, id="closed"),
    ],
)
def test_the_tty_line_open_and_closed(
    runner: CliRunner, tmp_path: Path, now: str, missing: set[str] | str, conditional: list[str] | None
) -> None:
    flow = load_flow(FLOWS_DIR / "tty.yaml")
    out = tmp_path / "crawl.json"
    result = run(
        runner,
        "crawl",
        "--line",
        "tty",
        "--now",
        now,
        "--json",
        str(out),
        "--database",
        str(tmp_path / "ivr.sqlite3"),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    everything = set(flow.states) - {flow.initial}
    if missing == "all but closed":
        assert data["states"] == ["closed"]
        assert [p["outcome"]["kind"] for p in data["paths"]] == ["hangup"]
        assert "main_menu" in data["conditional_unreached_states"]
    else:
        assert isinstance(missing, set)
        assert set(data["states"]) == everything - missing
        assert data["conditional_unreached_states"] == conditional
        assert {"trigger": "start", "source": "incoming", "dest": "closed"} in (
            data["conditional_unreached_transitions"]
        )
    assert data["unreached_states"] == [] and data["problems"] == []
    assert f"crawl of +18007114041 (line tty) at {now}" in result.output


# -- planted faults: a trap, a loop, a state behind a condition, a dead key ------------------------

PLANTED_STATES = """\
  - name: trap
    type: menu
    prompt:
      en: You are in the trap. To hear this again, press star.
      es: Está en la trampa. Para escuchar esto otra vez, oprima asterisco.

  - name: loop_a
    type: menu
    prompt:
      en: Room A. For room B, press 1.
      es: Sala A. Para la sala B, oprima 1.

  - name: loop_b
    type: menu
    prompt:
      en: Room B. For room A, press 1.
      es: Sala B. Para la sala A, oprima 1.

  - name: secret_menu
    type: menu
    prompt:
      en: The secret menu. For the main menu, press pound.
      es: El menú secreto. Para el menú principal, oprima la tecla de número.

"""
PLANTED_TRANSITIONS = """\
  - {trigger: press_6, source: main_menu, dest: trap}
  - {trigger: press_8, source: main_menu, dest: secret_menu, unless: line_open}
  - {trigger: press_8, source: main_menu, dest: main_menu}
  - {trigger: press_4, source: international_menu, dest: loop_a}
  - {trigger: press_1, source: loop_a, dest: loop_b}
  - {trigger: press_1, source: loop_b, dest: loop_a}
  - {trigger: press_star, source: trap, dest: "="}
  # The key map would give every menu a way out with 0 and #: the planted ones keep their own.
  - {trigger: press_0, source: [trap, loop_a, loop_b], dest: "="}
  - {trigger: press_pound, source: [trap, loop_a, loop_b], dest: "="}
  - {trigger: no_input, source: [trap, loop_a, loop_b], dest: "="}
  - {trigger: invalid, source: [trap, loop_a, loop_b], dest: "="}
  - {trigger: press_pound, source: secret_menu, dest: main_menu}
  - {trigger: no_input, source: secret_menu, dest: representative}
  - {trigger: invalid, source: secret_menu, dest: representative}
"""
BILLING = "For a billing discrepancy, press 1. To learn"
BILLING_WITH_DEAD_KEY = "For refunds, press 7. For a billing discrepancy, press 1. To learn"


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the shipped main.yaml changed: {old!r} is not there once"
    return text.replace(old, new)


@pytest.fixture
def planted_flows(tmp_path: Path) -> Path:
    """A copy of ivr/flows whose main line has faults the flow loader accepts but a crawl finds."""
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, folder)
    main_yaml = folder / "main.yaml"
    text = main_yaml.read_text(encoding="utf-8")
    text = _edit(text, "  - name: representative\n", PLANTED_STATES + "  - name: representative\n")
    text = _edit(text, BILLING, BILLING_WITH_DEAD_KEY)
    main_yaml.write_text(text.rstrip("\n") + "\n" + PLANTED_TRANSITIONS, encoding="utf-8")
    load_flow(main_yaml)  # the loader accepts every planted fault
    return folder


def test_planted_faults_are_reported(make_app: Callable[..., Flask], planted_flows: Path) -> None:
    app = make_app(FLOWS_DIR=str(planted_flows))
    report = crawl(WsgiTransport(app), MAIN, flow=flow_of(app, "main"), line="main")
    assert report.dead_ends == ["trap"]
    assert report.no_exit == [["loop_a", "loop_b"]]
    assert (report.unreached_states, report.conditional_unreached_states) == ([], ["secret_menu"])
    assert Transition("press_8", "main_menu", "secret_menu") in report.conditional_unreached_transitions
    assert Transition("press_pound", "secret_menu", "main_menu") in report.conditional_unreached_transitions
    assert report.unreached_transitions == []
    assert [(k.label, k.key, k.phrase, k.path) for k in report.dead_keys] == [
        ("billing_menu", "7", "For refunds, press 7.", ("2",))
    ]
    assert report.problems == [
        "dead end: trap",
        "loop with no exit: loop_a, loop_b",
        "dead key: billing_menu: 7 ('For refunds, press 7.')",
    ]
    text = report.render()
    assert "dead ends (every input leads back here) (1):\n  trap\n" in text
    assert "billing_menu: says 'For refunds, press 7.', but 7 is not an option (reach: 2)" in text
    app.extensions["ivr"].store.close()


@pytest.mark.parametrize(
    ("flags", "code"), [pytest.param([], 0, id="report-only"), pytest.param(["--strict"], 1, id="strict")]
)
def test_strict_fails_the_command_on_planted_faults(
    runner: CliRunner, tmp_path: Path, planted_flows: Path, flags: list[str], code: int
) -> None:
    result = run(
        runner,
        "crawl",
        "--depth",
        "2",
        "--database",
        str(tmp_path / "ivr.sqlite3"),
        *flags,
        env={"IVR_FLOWS_DIR": str(planted_flows)},
    )
    assert result.exit_code == code, result.output
    assert "  trap\n" in result.stdout
    assert ("2 problems found (--strict)" in result.stderr) is (code == 1)


# -- someone else's TwiML app, over HTTP ----------------------------------------------------------

ACME_MENU = (
    '<Gather numDigits="1" action="/acme/main" method="POST"><Say>Welcome to Acme Tools. For sales, '
    "press 1. For support, press 2. For our opening hours, press 3.</Say></Gather>"
    "<Say>We did not hear you. Goodbye.</Say><Hangup/>"
)
SALES_MENU = (
    '<Gather numDigits="1" action="/acme/sales" method="POST"><Say>Sales. For new orders, press 1. '
    "To go back, press star.</Say></Gather><Redirect>/voice</Redirect>"
)


def acme_app() -> Flask:
    """A foreign TwiML app: no X-IVR headers, and 3 ("opening hours") is not wired up."""
    app = Flask("acme")

    def twiml(body: str) -> Response:
        return Response(
            f"<?xml version='1.0' encoding='UTF-8'?><Response>{body}</Response>", mimetype="text/xml"
        )

    @app.route("/voice", methods=["GET", "POST"])
    def voice() -> Response:
        return twiml(ACME_MENU)

    @app.post("/acme/main")
    def main_menu() -> Response:
        digits = request.form.get("Digits", "")
        if digits == "1":
            return twiml(SALES_MENU)
        if digits == "2":
            return twiml("<Say>Support is closed today. Goodbye.</Say><Hangup/>")
        return twiml("<Say>Sorry, that is not an option.</Say><Redirect>/voice</Redirect>")

    @app.post("/acme/sales")
    def sales() -> Response:
        digits = request.form.get("Digits", "")
        if digits == "1":
            return twiml(f"<Say>Connecting you to sales.</Say><Dial>{FOREIGN_NUMBER}</Dial>")
        if digits == "*":
            return twiml("<Redirect>/voice</Redirect>")
        return twiml(f"<Say>Sorry.</Say>{SALES_MENU}")

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture(scope="module")
def acme_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, acme_app(), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def acme_crawl(acme_url: str) -> CrawlReport:
    return crawl(HttpTransport(timeout=5), FOREIGN_NUMBER, base_url=acme_url)


def test_a_foreign_app_is_crawled_by_fingerprint(acme_crawl: CrawlReport) -> None:
    paths = [(p.inputs, p.outcome) for p in acme_crawl.paths]
    assert paths == [
        ((), None),
        (("1",), None),
        (("2",), Outcome("hangup")),
        (("#",), Outcome("hangup")),  # '#' ends a Gather with no digits: it falls through
        (("1", "1"), Outcome("dial", target=f"number:{FOREIGN_NUMBER}")),
    ]
    assert acme_crawl.states == [] and acme_crawl.flow is None
    labels = [p.label for p in acme_crawl.paths]
    assert labels[0].startswith("menu “Welcome to Acme Tools.") and labels[1].startswith("menu “Sales.")
    assert len(set(p.node for p in acme_crawl.paths)) == 5
    # Star at the sales menu leads back to the main menu: a way out, not a dead key.
    assert Move(acme_crawl.paths[1].node, ("*",), acme_crawl.paths[0].node, None) in acme_crawl.moves
    assert [(k.node, k.key, k.phrase) for k in acme_crawl.dead_keys] == [
        (acme_crawl.paths[0].node, "3", "For our opening hours, press 3.")
    ]
    assert acme_crawl.dead_ends == [] and acme_crawl.no_exit == [] and acme_crawl.errors == []


def test_the_command_crawls_a_url_and_strict_fails_on_its_dead_key(runner: CliRunner, acme_url: str) -> None:
    result = run(runner, "crawl", "--url", acme_url, "--to", FOREIGN_NUMBER, "--strict", "--json", "-")
    assert result.exit_code == 1, result.output
    assert f"crawl of {FOREIGN_NUMBER}: 5 states" in result.stderr  # stdout holds the JSON alone
    data = json.loads(result.stdout)
    assert data["line"] is None and data["flow"] is None
    assert data["problems"] == [
        f"dead key: {data['dead_keys'][0]['label']}: 3 ('For our opening hours, press 3.')"
    ]


# -- scenarios written from the crawl ------------------------------------------------------------

SCENARIO_KEYS = ["name", "line", "tags", "steps", "outcome"]


def _scenarios(folder: Path) -> dict[str, dict[str, Any]]:
    return {f.name: yaml.safe_load(f.read_text(encoding="utf-8")) for f in sorted(folder.glob("*.yaml"))}


def test_written_scenarios_follow_the_format_and_pass(
    tmp_path: Path, main_app: Flask, main_crawl: CrawlReport
) -> None:
    files = write_scenarios(main_crawl, tmp_path / "crawl")
    assert len(files) == len(main_crawl.paths)
    scenarios = _scenarios(tmp_path / "crawl")
    assert sorted(scenarios) == sorted(f.name for f in files)
    for name, data in scenarios.items():
        assert list(data) == SCENARIO_KEYS, name
        assert data["line"] == "main" and data["tags"] == ["crawl"]
        for step in data["steps"]:
            assert step in ("silence", "hangup") or list(step) in (["press"], ["expect"]), (name, step)
    assert scenarios["002-representative.yaml"]["steps"] == [
        {"press": "0"},
        {"expect": "Connecting you with a representative."},
    ]
    assert scenarios["002-representative.yaml"]["outcome"] == {
        "kind": "enqueue",
        "target": "sim-representative",
        "state": "representative",
    }
    refill = next(d for n, d in scenarios.items() if n.endswith("-refill-menu.yaml"))
    assert refill["steps"][:3] == [{"press": "1"}, {"press": "10203040#"}, {"press": "03071956"}]
    assert refill["steps"][4:] == ["hangup"]
    assert refill["outcome"] == {"kind": "caller-hangup", "state": "refill_menu"}
    # The generated suite runs green against the app it came from.
    (suite,) = load_paths([tmp_path / "crawl"])
    target = Target(WsgiTransport(main_app), "http://localhost", in_process=True, app=main_app)
    results = run_scenarios(suite.scenarios, target, workers=1)
    assert [r.message for r in results if not r.passed] == []
    assert len(results) == len(main_crawl.paths)


def test_scenarios_of_a_foreign_app_dial_its_number_and_pass(
    tmp_path: Path, acme_url: str, acme_crawl: CrawlReport
) -> None:
    write_scenarios(acme_crawl, tmp_path / "acme")
    scenarios = _scenarios(tmp_path / "acme")
    assert [d["to"] for d in scenarios.values()] == [FOREIGN_NUMBER] * 5
    assert all("line" not in d for d in scenarios.values())
    names = list(scenarios)
    assert names[4].startswith("005-dial-number-15005550006-connecting-you"), names
    dial = scenarios[names[4]]
    assert dial["steps"] == [{"press": "1"}, {"press": "1"}, {"expect": "Connecting you to sales."}]
    assert dial["outcome"] == {"kind": "dial", "target": f"number:{FOREIGN_NUMBER}"}
    (suite,) = load_paths([tmp_path / "acme"])
    target = Target(HttpTransport(timeout=5), acme_url, in_process=False)
    results = run_scenarios(suite.scenarios, target, workers=1)
    assert [r.message for r in results if not r.passed] == []


# -- prompts and the command's edges -------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "keys"),
    [
        pytest.param("For billing, press 2. To hear these options again, press star.", "2*", id="press"),
        pytest.param("Press 1 for refills, 2 for billing, or 0 for a representative.", "120", id="list"),
        pytest.param(
            "Para español, oprima 9. Para el menú principal, oprima la tecla de número.", "9#", id="spanish"
        ),
        pytest.param("Press one for sales, or press pound to finish.", "1#", id="words"),
        pytest.param("Standard delivery takes 7 to 10 business days.", "", id="no-press"),
        pytest.param("Enter your ID followed by the pound key.", "", id="entry-instructions"),
    ],
)
def test_mentioned_keys(prompt: str, keys: str) -> None:
    assert "".join(mentioned_keys(prompt)) == keys


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--now", "tonight"], "'tonight' is not an ISO 8601 time", id="bad-now"),
        pytest.param(["--entry-input", "12a"], "'12a' is not a sequence of phone keys", id="bad-entry"),
        pytest.param(
            ["--line", "fax"], "'fax' is not a line; choose one of: main, specialty, tty", id="bad-line"
        ),
    ],
)
def test_bad_options_say_how_to_mend_them(runner: CliRunner, args: list[str], message: str) -> None:
    result = run(runner, "crawl", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_app_that_cannot_be_reached_is_an_error_not_a_report(runner: CliRunner) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = run(runner, "crawl", "--url", url, "--to", FOREIGN_NUMBER)
    assert result.exit_code == 1
    assert f"could not reach {url}/voice" in result.stderr
    assert f"Check that --url {url} answers Twilio voice webhooks at /voice." in result.stderr


def test_help_has_a_copy_pasteable_example(runner: CliRunner) -> None:
    result = run(runner, "crawl", "--help")
    assert result.exit_code == 0
    example = "ivr crawl --line main --depth 6 --write-scenarios crawl-scenarios/main --json crawl.json"
    assert f"    {example}\n" in result.stdout


def test_the_command_writes_scenarios_and_json(runner: CliRunner, tmp_path: Path) -> None:
    out, folder = tmp_path / "report.json", tmp_path / "scenarios"
    result = run(
        runner,
        "crawl",
        "--line",
        "main",
        "--depth",
        "2",
        "--strict",
        "--write-scenarios",
        str(folder),
        "--json",
        str(out),
        "--database",
        str(tmp_path / "ivr.sqlite3"),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["options"]["depth"] == 2 and data["problems"] == []
    assert len(list(folder.glob("*.yaml"))) == len(data["paths"]) > 10
    assert f"wrote {len(data['paths'])} scenario files to {folder}" in result.stdout
    assert "refill_menu" in data["beyond_depth_states"]  # three inputs away
    assert data["unreached_states"] == []


# -- where crawled scenarios go, and the clock of a line with hours ------------------------------


@pytest.mark.parametrize(
    ("folder", "env"),
    [
        pytest.param("scenarios/crawl", {}, id="inside-scenarios"),
        pytest.param("scenarios", {}, id="scenarios-itself"),
        pytest.param("./scenarios/../scenarios/main/crawl", {}, id="a-roundabout-path"),
        pytest.param("load-suite/crawl", {"IVR_SCENARIOS": "smoke:load-suite"}, id="inside-IVR_SCENARIOS"),
    ],
)
def test_crawled_scenarios_are_refused_inside_the_folders_tests_run(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, env: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["crawl", "--depth", "1", "--write-scenarios", folder], env=env)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--write-scenarios'" in result.stderr
    assert "which `ivr test` and the Locust load runs run by default" in result.stderr
    assert "e.g. --write-scenarios crawl-scenarios/main" in result.stderr
    assert not (tmp_path / folder).exists() and "crawl of" not in result.stdout  # nothing ran


def test_crawled_scenarios_outside_are_written(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        main,
        ["crawl", "--line", "specialty", "--depth", "1", "--write-scenarios", "crawl-scenarios/specialty"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "crawl-scenarios/specialty").glob("*.yaml"))


def test_the_gitignore_keeps_crawled_scenarios_out() -> None:
    ignored = (Path(__file__).parent.parent / ".gitignore").read_text(encoding="utf-8").split()
    assert "crawl-scenarios/" in ignored


SUNDAY_NIGHT = "2026-11-23T05:00:00+00:00"  # Sunday 23:00 Central: the TTY line is closed


@pytest.fixture
def night(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    monkeypatch.setattr("ivr.engine.hours.system_clock", lambda: datetime.fromisoformat(SUNDAY_NIGHT))


@pytest.mark.usefixtures("night")
def test_a_tty_crawl_without_now_runs_at_the_fixed_open_time(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "crawl.json"
    result = runner.invoke(
        main,
        ["crawl", "--line", "tty", "--depth", "1", "--json", str(out), "--database", str(tmp_path / "db")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("crawl of +18007114041 (line tty) at 2026-11-23T12:00:00-06:00: ")
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["now"] == "2026-11-23T12:00:00-06:00"
    assert data["paths"][0]["state"] == "main_menu"  # open, although the real clock says closed


@pytest.mark.usefixtures("night")
@pytest.mark.parametrize(
    ("args", "env", "now", "first"),
    [
        pytest.param(
            ["--now", "2026-11-23T21:30:00-06:00"], {}, "2026-11-23T21:30:00-06:00", "closed", id="now-given"
        ),
        pytest.param([], {"IVR_NOW": "2026-11-23T21:30:00-06:00"}, None, "closed", id="app-clock-frozen"),
        pytest.param(["--line", "main"], {}, None, "main_menu", id="a-line-without-hours"),
    ],
)
def test_the_fixed_clock_gives_way(
    runner: CliRunner, tmp_path: Path, args: list[str], env: dict[str, str], now: str | None, first: str
) -> None:
    out = tmp_path / "crawl.json"
    result = runner.invoke(
        main,
        [
            "crawl",
            "--line",
            "tty",
            "--depth",
            "1",
            "--json",
            str(out),
            *args,
            "--database",
            str(tmp_path / "db"),
        ],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["now"], data["paths"][0]["state"]) == (now, first)


def test_the_help_says_which_clock_is_used(runner: CliRunner) -> None:
    text = " ".join(runner.invoke(main, ["crawl", "--help"]).stdout.split())
    assert "Default, so that crawls repeat: noon" in text
    assert "the TTY line at 2026-11-23T12:00:00-06:00; a line without hours: the real clock" in text


def test_the_fixed_open_time_is_open_for_any_hours() -> None:
    from datetime import datetime

    from ivr.engine.flow import Hours
    from ivr.engine.hours import is_open
    from ivr.qa.clock import open_time

    cases = {
        Hours("America/Chicago", frozenset(range(6)), 8 * 60, 20 * 60): "2026-11-23T12:00:00-06:00",
        Hours("Europe/Paris", frozenset({5}), 13 * 60, 17 * 60): "2026-11-28T15:00:00+01:00",
        Hours("Asia/Tokyo", frozenset({2, 4}), 6 * 60, 11 * 60): "2026-11-25T08:30:00+09:00",
    }
    for hours, expected in cases.items():
        assert open_time(hours) == expected
        assert is_open(hours, datetime.fromisoformat(expected))


def test_one_call_one_state_in_the_singular(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main,
        ["crawl", "--line", "specialty", "--max-calls", "1", "--database", str(tmp_path / "db")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert ": 1 state, 1 call in " in result.stdout.splitlines()[0]


def test_a_crawl_whose_first_call_fails_raises_crawl_error() -> None:
    from ivr.qa.crawl import CrawlError

    broken = Flask("broken")
    broken.add_url_rule("/voice", "voice", lambda: ("down for maintenance", 500), methods=["POST"])
    with pytest.raises(CrawlError, match=r"^the first call failed, so nothing was crawled: .*500"):
        crawl(WsgiTransport(broken), "+15005550006")
