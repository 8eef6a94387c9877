"""`ivr test`: run scenario files as simulated calls, in-process or against a URL."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import click

from ivr import (
    DEFAULT_WORKERS,
    Scenario,
    ScenarioErrors,
    ScenarioResult,
    Signer,
    Suite,
    junit_xml,
    load_paths,
    plural,
    render_report,
    run_scenarios,
)

from ..qa.scenarios import PARALLEL_FROM, FilePool, by_file, default_jobs
from ..sim import Transcript
from .target import FIELDS_META, NUMBER_META, Target, fixed_clock, open_target, target_options

DEFAULT_PATH = Path("scenarios")
#: A progress bar only pays off past a handful of scenarios (and only on a terminal).
PROGRESS_FROM = 6
EXIT_FAILED, EXIT_BAD_FILE = 1, 2


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@target_options
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Scenarios run at once in each process (threads).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    show_default=f"one per core from {PARALLEL_FROM} scenarios, else 1",
    help="Processes running scenario files at once; -j 1 places every call in this process.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JUnit XML here, for CI.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a readable report here: every step, and each failing call's transcript.",
)
@click.option(
    "-k",
    "expression",
    metavar="EXPR",
    help="Run only scenarios whose name or a tag contains EXPR (any case).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Print how many states and transitions of each line the calls reached, and the "
    "states they did not (in-process runs only).",
)
@click.option(
    "--coverage-detail", is_flag=True, help="List every transition not reached as well (implies --coverage)."
)
def test_cmd(
    paths: tuple[Path, ...],
    url: str | None,
    app_spec: str,
    database: str | None,
    workers: int,
    jobs: int | None,
    junit_file: Path | None,
    report_file: Path | None,
    expression: str | None,
    coverage: bool,
    coverage_detail: bool,
) -> None:
    """Run scenario files (default: the scenarios/ folder) as simulated calls.

    Each PATH is a scenario file or a folder of them (see docs/scenarios.md). Calls go to our
    app in-process, or with --url to any running TwiML app. Exit status: 0 when every scenario
    passes, 1 when any fails, 2 when a scenario file is malformed or nothing matches -k.

    A scenario without `now:` on a line with opening hours runs at a fixed time the line is
    open, so that runs repeat: noon (or midway through the hours when closed at noon) of the
    line's first open day in the week of Monday 2026-11-23; the TTY line 2026-11-23T12:00-06:00.

    \b
    Examples:
        ivr test
        ivr test scenarios/main -k billing --workers 8 --junit junit.xml --report report.txt
        ivr test scenarios --jobs 4
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
    jobs = min(jobs or default_jobs(len(scenarios)), len(by_file(scenarios)))
    # Each process keeps its own calls in memory (one shared SQLite file only when --database
    # names it): a shared file's write lock, handed between processes, cost more than the
    # second core gave. What the app remembers of a caller across calls (failed identity
    # checks) is then each process's own, as it is for calls placed at once on threads.
    with _pool(jobs, url, app_spec, database) as pool:
        # Opened after the pool's processes started: they open targets of their own.
        target = open_target(url, app_spec, database, freeze=True)
        scenarios = _with_fixed_clock(target, scenarios)
        coverage = coverage or coverage_detail
        if coverage and not target.in_process:
            click.echo(
                "warning: --coverage needs an in-process run of our app (leave out --url); "
                "running without it",
                err=True,
            )
        signer = _signer(target)
        with _progress(len(scenarios)) as advance:
            if pool is None:
                results = run_scenarios(scenarios, target, workers=workers, signer=signer, on_result=advance)
            else:
                results = pool.run(scenarios, workers=workers, signer=signer, on_result=advance)
    click.echo(render_report(results, steps_of_passing=False), nl=False)
    if junit_file is not None:
        junit_file.write_text(junit_xml(suites, results), encoding="utf-8")
        click.echo(f"JUnit XML: {junit_file}")
    if report_file is not None:
        report_file.write_text(render_report(results), encoding="utf-8")
        click.echo(f"report: {report_file}")
    if coverage and target.in_process:
        _print_coverage(target, scenarios, results, detail=coverage_detail)
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


@contextmanager
def _pool(jobs: int, url: str | None, app_spec: str, database: str | None) -> Iterator[FilePool | None]:
    """Worker processes for scenario files (None for one job: the calls run in this process)."""
    if jobs <= 1:
        yield None
        return
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    number, fields = dict(meta.get(NUMBER_META, {})), dict(meta.get(FIELDS_META, {}))
    if url is None and database is None:
        # Built once here and dropped, before the workers fork: they start with the app's
        # modules imported and its flows checked, instead of each doing it again (~0.3 s each).
        # Its calls would be in memory, so no file or connection is shared with them.
        open_target(None, app_spec, freeze=True)
    with FilePool(partial(_worker_target, url, app_spec, database, number, fields), jobs) as pool:
        yield pool


def _worker_target(
    url: str | None, app_spec: str, database: str | None, number: dict[str, Any], fields: dict[str, str]
) -> Target:
    """A worker process's target: the one `ivr test` opens, with the command line's number options."""
    target = open_target(url, app_spec, database)
    target.number = {**(getattr(target, "number", None) or {}), **number}
    target.fields = {**(getattr(target, "fields", None) or {}), **fields}
    return target


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

    columns = (
        TextColumn("scenarios"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("run", total=total, failed=0)
        failed = 0

        def advance(result: ScenarioResult) -> None:
            nonlocal failed
            failed += 0 if result.passed else 1
            progress.update(task, advance=1, failed=failed)

        yield advance


def _with_fixed_clock(target: Target, scenarios: list[Scenario]) -> list[Scenario]:
    """Give a scenario on a line with opening hours and no `now:` the fixed open time."""
    timed = [
        dataclasses.replace(s, now=fixed_clock(target, s.line, s.to)) if s.now is None else s
        for s in scenarios
    ]
    changed = sum(1 for old, new in zip(scenarios, timed, strict=True) if old.now != new.now)
    if changed:
        click.echo(
            f"note: {plural(changed, 'scenario')} on a line with opening hours "
            f"{'gives' if changed == 1 else 'give'} no `now:` and {'runs' if changed == 1 else 'run'} "
            "at a fixed open time (see ivr test --help)",
            err=True,
        )
    return timed


def _print_coverage(
    target: Target, scenarios: list[Scenario], results: list[ScenarioResult], detail: bool = False
) -> None:
    """A summary row per line called, then what each line's calls did not reach (ivr.coverage)."""
    try:
        module: Any = importlib.import_module("ivr.qa.coverage")
        measure = module.measure
    except (ImportError, AttributeError) as exc:
        click.echo(
            f"warning: flow coverage is unavailable in this install ({exc}); run without --coverage", err=True
        )
        return
    engine = target.engine()
    if engine is None:
        click.echo(f"warning: --coverage needs our app's engine; {target.app!r} has none", err=True)
        return
    by_line: dict[str, list[Transcript]] = {}
    for scenario, result in zip(scenarios, results, strict=True):
        line = scenario.line or engine.line_for(scenario.to)
        by_line.setdefault(line, []).append(result.transcript)
    reports = {
        line: measure(engine.flows.get(line).machine.flow, transcripts)
        for line, transcripts in sorted(by_line.items())
    }
    summary = getattr(module, "render_summary", None)  # a stand-in for ivr.coverage may lack it
    if summary is not None:
        click.echo("\n" + summary(reports))
    for report in reports.values():
        click.echo("\n" + (report.render(detail=True) if detail else report.render()))
    if not detail and summary is not None and any(r.missed_transitions for r in reports.values()):
        click.echo("\n(ivr test --coverage-detail lists every transition not reached)")
