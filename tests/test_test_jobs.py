"""`ivr test --jobs N`: scenario files across processes, reported exactly as one process would."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask, Response, request

from ivr.cli import main
from ivr.qa.scenarios import PARALLEL_FROM, FilePool, by_file, default_jobs, load_paths
from ivr.qa.scenarios.jobs import cores

NO_TWILIO = {"TWILIO_AUTH_TOKEN": None, "TWILIO_WEBHOOK_SHARED_KEY": None, "IVR_NOW": None}
FAILING = """\
name: Billing says something it does not
line: main
tags: [failing]
steps:
  - press: "2"
  - expect: {contains: "This is not in the billing menu"}
outcome: {kind: caller-hangup}
"""
SHIPPED = ("main/repeat_main_menu.yaml", "main/retry_invalid_key.yaml", "tty/sunday_closed.yaml")


def _invoke(*args: str) -> Result:
    return CliRunner(env=NO_TWILIO).invoke(main, ["test", *args], catch_exceptions=False)


def _timeless(text: str) -> str:
    """A run's output without its timings and CallSids (all that two runs may differ in)."""
    text = re.sub(r"CA[0-9a-f]{32}", "CA-", text)
    text = re.sub(r", [0-9.]+s\)$", ")", text, flags=re.MULTILINE)
    text = re.sub(r"in [0-9.]+s of calls", "in Xs of calls", text)
    return re.sub(r'time="[0-9.]+"', 'time="X"', text)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """Shipped scenarios in two folders, and a failing one between them."""
    folder = tmp_path / "cases"
    for name in SHIPPED:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((Path("scenarios") / name).read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "main" / "zz_failing.yaml").write_text(FAILING, encoding="utf-8")
    return folder


def _run(suite: Path, out: Path, jobs: str) -> tuple[Result, str, str]:
    junit, report = out / f"junit-{jobs}.xml", out / f"report-{jobs}.txt"
    result = _invoke(str(suite), "--jobs", jobs, "--junit", str(junit), "--report", str(report))
    return result, junit.read_text(encoding="utf-8"), report.read_text(encoding="utf-8")


def test_several_jobs_report_what_one_job_reports(suite: Path, tmp_path: Path) -> None:
    serial, serial_junit, serial_report = _run(suite, tmp_path, "1")
    parallel, parallel_junit, parallel_report = _run(suite, tmp_path, "3")
    assert serial.exit_code == parallel.exit_code == 1  # the failing scenario fails either way
    assert "4 scenarios: 3 passed, 1 failed" in serial.stdout
    out_serial = serial.stdout.replace(str(tmp_path / "junit-1.xml"), "J").replace(
        str(tmp_path / "report-1.txt"), "R"
    )
    out_parallel = parallel.stdout.replace(str(tmp_path / "junit-3.xml"), "J").replace(
        str(tmp_path / "report-3.txt"), "R"
    )
    assert _timeless(out_parallel) == _timeless(out_serial)
    assert _timeless(parallel_junit) == _timeless(serial_junit)
    assert _timeless(parallel_report) == _timeless(serial_report)
    assert 'failures="1"' in parallel_junit


def test_a_run_that_passes_exits_0_with_jobs(suite: Path) -> None:
    (suite / "main" / "zz_failing.yaml").unlink()
    result = _invoke(str(suite), "-j", "2")
    assert result.exit_code == 0, result.output
    assert "3 scenarios: 3 passed, 0 failed" in result.stdout


def test_one_job_runs_in_this_process(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("-j 1 must not start processes")

    monkeypatch.setattr("ivr.commands.test_cmd.FilePool", no_pool)
    result = _invoke(str(suite), "-j", "1")
    assert result.exit_code == 1
    assert "4 scenarios: 3 passed, 1 failed" in result.stdout


def test_a_small_suite_runs_in_one_process_unless_jobs_are_asked_for(
    suite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []

    class Pool(FilePool):  # the real pool, which notes how many processes a run asks for
        def __init__(self, open_target: Any, jobs: int) -> None:
            started.append(jobs)
            super().__init__(open_target, jobs)

    monkeypatch.setattr("ivr.commands.test_cmd.FilePool", Pool)
    assert "4 scenarios: 3 passed, 1 failed" in _invoke(str(suite)).stdout  # 4 < PARALLEL_FROM
    assert started == []
    assert "4 scenarios: 3 passed, 1 failed" in _invoke(str(suite), "-j", "2").stdout
    assert started == [2]


def test_a_large_suite_uses_every_core_by_default() -> None:
    assert default_jobs(PARALLEL_FROM - 1) == 1
    assert default_jobs(PARALLEL_FROM) == cores() >= 1


def test_the_help_names_the_option() -> None:
    text = " ".join(_invoke("--help").stdout.split())
    assert "-j, --jobs INTEGER RANGE Processes running scenario files at once" in text
    assert "[default: (one per core from 200 scenarios, else 1); x>=1]" in text
    assert "ivr test scenarios --jobs 4" in text


def test_by_file_keeps_the_order_files_first_appear_in() -> None:
    scenarios = [
        s
        for suite in load_paths([Path("scenarios/tty"), Path("scenarios/specialty")])
        for s in suite.scenarios
    ]
    groups = by_file(scenarios)
    assert [i for group in groups for i in group] == list(range(len(scenarios)))
    assert all(len({scenarios[i].file for i in group}) == 1 for group in groups)
    assert len({scenarios[g[0]].file for g in groups}) == len(groups)


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FilePool(lambda: None, 0)  # type: ignore[arg-type, return-value]
    assert _invoke("scenarios/tty", "-j", "0").exit_code == 2


# -- a TwiML app that makes the first file finish last ------------------------------------------

SLOW, FAST = "+15550000001", "+15550000002"
_WAIT_AT_MOST = 30.0  # seconds: a bound on the wait, not a measurement


def barrier_app(config: dict[str, Any] | None = None) -> Flask:
    """Answers the first file's call only once the second file's call was answered, and notes
    each request's fields (under $IVR_JOBS_TEST_DIR) with the process that got it."""
    app = Flask(__name__)
    out = Path(os.environ["IVR_JOBS_TEST_DIR"])

    @app.post("/voice")
    def voice() -> Response:
        form = request.form.to_dict()
        (out / f"{form['CallSid']}.json").write_text(json.dumps({"pid": os.getpid(), "form": form}))
        if form["To"] == SLOW:
            deadline = time.monotonic() + _WAIT_AT_MOST
            while not (out / "fast-answered").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            (out / "slow-answered").write_text("late" if (out / "fast-answered").exists() else "first")
        else:
            (out / "fast-answered").write_text("yes")
        twiml = f"<Response><Say>Hello from {form['To']}.</Say><Hangup/></Response>"
        return Response(twiml, mimetype="text/xml")

    @app.post("/voice/status")
    def status() -> tuple[str, int]:
        return "", 204

    return app


def _call(name: str, to: str) -> str:
    return f"""\
name: {name}
to: "{to}"
steps:
  - expect: {{contains: "Hello from"}}
outcome: {{kind: hangup}}
"""


def test_results_are_reported_in_file_order_not_as_they_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    monkeypatch.setenv("IVR_JOBS_TEST_DIR", str(notes))
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "a_slow.yaml").write_text(_call("first file, finishes last", SLOW), encoding="utf-8")
    (folder / "b_fast.yaml").write_text(_call("second file, finishes first", FAST), encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["test", str(folder), "--app", f"{__name__}:barrier_app", "-j", "2", "--field", "FromState=CA"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert (notes / "slow-answered").read_text() == "late"  # the second file did finish first
    lines = [line for line in result.stdout.splitlines() if "PASS" in line]
    assert [line.split("  ")[1] for line in lines] == [
        "first file, finishes last",
        "second file, finishes first",
    ]
    requests = [json.loads(p.read_text()) for p in notes.glob("CA*.json")]
    assert len({r["pid"] for r in requests}) == 2  # two processes placed the calls
    assert os.getpid() not in {r["pid"] for r in requests}
    assert all(r["form"]["FromState"] == "CA" for r in requests)  # command-line options reach them


def test_commands_freeze_their_start_up_out_of_garbage_collection(tmp_path: Path) -> None:
    """`ivr test`/`crawl`/`call` freeze what start-up built (gc.freeze), once per process; the
    plugin's target (freeze off) leaves the collector alone. In a child process: a freeze here
    would hold this test process's objects."""
    import subprocess
    import sys

    script = (
        "import gc\n"
        "from ivr.commands.target import open_target\n"
        "open_target(None)\n"
        "plain = gc.get_freeze_count()\n"
        "open_target(None, freeze=True)\n"
        "first = gc.get_freeze_count()\n"
        "open_target(None, freeze=True)\n"
        "print(plain, first, gc.get_freeze_count())\n"
    )
    env = {**os.environ, "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key")}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    plain, first, second = map(int, out.stdout.split())
    assert plain == 0 and first > 10_000 and second == first  # frozen once, with the app in it
