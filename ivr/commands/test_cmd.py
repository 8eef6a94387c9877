"""`ivr test`: run scenario files as simulated calls, in-process or against a URL."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from ..scenarios import (
    DEFAULT_WORKERS,
    Scenario,
    ScenarioErrors,
    ScenarioResult,
    Suite,
    junit_xml,
    load_paths,
    render_report,
    run_scenarios,
)  # fmt: skip
from ..signing import Signer
from ..sim import Transcript
from .target import Target, open_target, target_options

DEFAULT_PATH = Path("scenarios")
#: A progress bar only pays off past a handful of scenarios (and only on a terminal).
PROGRESS_FROM = 6
EXIT_FAILED, EXIT_BAD_FILE = 1, 2


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@target_options
@click.option("--workers", type=click.IntRange(min=1), default=DEFAULT_WORKERS, show_default=True,
              help="Scenarios run at once (threads).")  # fmt: skip
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML here, for CI.")  # fmt: skip
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a readable report here: every step, and each failing call's transcript.")
@click.option("-k", "expression", metavar="EXPR",
              help="Run only scenarios whose name or a tag contains EXPR (any case).")  # fmt: skip
@click.option("--coverage", is_flag=True,
              help="Print which states and transitions of each line the calls visited "
              "(in-process runs only).")  # fmt: skip
def test_cmd(
    paths: tuple[Path, ...], url: str | None, app_spec: str, database: str | None, workers: int,
    junit_file: Path | None, report_file: Path | None, expression: str | None, coverage: bool,
) -> None:  # fmt: skip
    """Run scenario files (default: the scenarios/ folder) as simulated calls.

    Each PATH is a scenario file or a folder of them (see docs/scenarios.md). Calls go to our
    app in-process, or with --url to any running TwiML app. Exit status: 0 when every scenario
    passes, 1 when any fails, 2 when a scenario file is malformed or nothing matches -k.

    \b
    Examples:
        ivr test
        ivr test scenarios/main -k billing --workers 8 --junit junit.xml --report report.txt
        ivr test scenarios --url http://127.0.0.1:5000
    """
    suites = _load(paths or (DEFAULT_PATH,))
    if expression:
        suites = [Suite(s.name, tuple(c for c in s.scenarios if c.matches(expression))) for s in suites]
        suites = [s for s in suites if s.scenarios]
    scenarios = [scenario for suite in suites for scenario in suite.scenarios]
    if not scenarios:
        click.echo(f"error: no scenario name or tag contains {expression!r}", err=True)
        raise click.exceptions.Exit(EXIT_BAD_FILE)
    target = open_target(url, app_spec, database)
    if coverage and not target.in_process:
        click.echo("warning: --coverage needs an in-process run of our app (leave out --url); "
                   "running without it", err=True)  # fmt: skip
    with _progress(len(scenarios)) as advance:
        results = run_scenarios(scenarios, target, workers=workers, signer=_signer(target),
                                on_result=advance)  # fmt: skip
    click.echo(render_report(results, steps_of_passing=False), nl=False)
    if junit_file is not None:
        junit_file.write_text(junit_xml(suites, results), encoding="utf-8")
        click.echo(f"JUnit XML: {junit_file}")
    if report_file is not None:
        report_file.write_text(render_report(results), encoding="utf-8")
        click.echo(f"report: {report_file}")
    if coverage and target.in_process:
        _print_coverage(target, scenarios, results)
    if not all(r.passed for r in results):
        raise click.exceptions.Exit(EXIT_FAILED)


def _load(paths: Sequence[Path]) -> list[Suite]:
    try:
        return load_paths(paths)
    except ScenarioErrors as exc:
        for error in exc.errors:
            click.echo(f"error: {error}", err=True)
        noun = "file is" if len(exc.errors) == 1 else "files are"
        click.echo(f"{len(exc.errors)} scenario {noun} not valid; nothing was run", err=True)
        raise click.exceptions.Exit(EXIT_BAD_FILE) from exc


def _signer(target: Target) -> Signer | None:
    """Sign requests when the app checks signatures (our app: its config; a URL: the env)."""
    if target.in_process:
        return Signer.from_config(target.app.config) if hasattr(target.app, "config") else None
    return Signer.from_config(os.environ)


@contextmanager
def _progress(total: int) -> Iterator[Callable[[ScenarioResult], None] | None]:
    if total < PROGRESS_FROM or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("scenarios"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("run", total=total, failed=0)
        failed = 0

        def advance(result: ScenarioResult) -> None:
            nonlocal failed
            failed += 0 if result.passed else 1
            progress.update(task, advance=1, failed=failed)

        yield advance


def _print_coverage(target: Target, scenarios: list[Scenario], results: list[ScenarioResult]) -> None:
    """Coverage per line called, from ivr.coverage (written separately; may be absent)."""
    try:
        measure = importlib.import_module("ivr.coverage").measure
    except (ImportError, AttributeError) as exc:
        click.echo(f"warning: flow coverage is unavailable in this install ({exc}); "
                   "run without --coverage", err=True)  # fmt: skip
        return
    engine = target.engine()
    if engine is None:
        click.echo(f"warning: --coverage needs our app's engine; {target.app!r} has none", err=True)
        return
    by_line: dict[str, list[Transcript]] = {}
    for scenario, result in zip(scenarios, results, strict=True):
        line = scenario.line or engine.line_for(scenario.to)
        by_line.setdefault(line, []).append(result.transcript)
    for line, transcripts in sorted(by_line.items()):
        flow = engine.flows.get(line).machine.flow
        report = measure(flow, transcripts)
        click.echo("\n" + report.render())
