"""`ivr crawl`: walk every key of a line, report traps and dead keys, and write scenarios."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ivr import (
    DEFAULT_ENTRY_INPUTS,
    PHONE_KEYS,
    ConfigError,
    CrawlError,
    CrawlOptions,
    Flow,
    crawl,
    frozen_clock,
    plural,
    shipped_numbers,
    write_scenarios,
)

from ..qa.clock import CLOCK_HELP
from .errors import click_error
from .target import LINE, fixed_clock, open_target, target_options
from .test_cmd import DEFAULT_PATH


def _check_now(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        frozen_clock(value, source="--now")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _check_scenario_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a folder that `ivr test` (scenarios/) or Locust (IVR_SCENARIOS) runs by default."""
    if value is None:
        return None
    suites = [DEFAULT_PATH, *(Path(p) for p in os.environ.get("IVR_SCENARIOS", "").split(":") if p)]
    for suite in suites:
        if value.resolve().is_relative_to(suite.resolve()):
            raise click.BadParameter(
                f"{value} is inside {suite}/, which `ivr test` and the Locust load runs run by "
                f"default: every crawled path would become a test. Write them elsewhere, e.g. "
                f"--write-scenarios crawl-scenarios/{ctx.params.get('line') or 'main'}, and copy "
                "the ones worth keeping into scenarios/"
            )
    return value


@click.command("crawl")
@click.option(
    "--line",
    type=LINE,
    default="main",
    show_default=True,
    help="Our line to call (its number is the To of every call).",
)
@click.option(
    "--to", default=None, help="The number called instead of --line, e.g. for someone else's app over --url."
)
@click.option(
    "--now",
    default=None,
    callback=_check_now,
    help="A clock for every call "
    "(our app reads SimulatedNow), e.g. 2026-11-23T21:30:00-06:00 for after hours. "
    f"Default, so that crawls repeat: {CLOCK_HELP}; a line without hours: the real "
    "clock.",
)
@click.option(
    "--depth", type=click.IntRange(1, 50), default=8, show_default=True, help="Most inputs in one call."
)
@click.option(
    "--max-calls", type=click.IntRange(1), default=3000, show_default=True, help="Most calls placed in all."
)
@click.option(
    "--entry-input",
    "entry_inputs",
    multiple=True,
    metavar="KEYS",
    help="Input to try at entry prompts (repeatable; replaces the defaults "
    f"{', '.join(DEFAULT_ENTRY_INPUTS)}).",
)
@click.option(
    "--write-scenarios",
    "scenario_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    callback=_check_scenario_dir,
    help="Write one scenario file per discovered path into this folder (not inside "
    "scenarios/, which ivr test runs).",
)
@click.option(
    "--json",
    "json_file",
    default=None,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the report as JSON to this file ('-' for standard output).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when the crawl finds dead ends, loops with "
    "no exit, states never reached, dead keys or errors.",
)
@target_options
def crawl_cmd(
    line: str,
    to: str | None,
    now: str | None,
    depth: int,
    max_calls: int,
    entry_inputs: tuple[str, ...],
    scenario_dir: Path | None,
    json_file: str | None,
    strict: bool,
    url: str | None,
    app_spec: str,
    database: str | None,
) -> None:
    """Call a line over and over, pressing every key and staying silent at every menu.

    Reports each path found with how the call ended and, for our app in-process, the states and
    transitions of the flow never reached, dead ends, loops with no exit and prompts that name a
    key that does nothing. Example:

    \b
        ivr crawl --line main --depth 6 --write-scenarios crawl-scenarios/main --json crawl.json
        ivr crawl --line tty --now 2026-11-23T21:30:00-06:00
        ivr crawl --url http://127.0.0.1:5000 --to +15005550006 --strict
    """
    bad = [k for k in entry_inputs if not k or set(k) - set(PHONE_KEYS)]
    if bad:
        raise click.BadParameter(
            f"{bad[0]!r} is not a sequence of phone keys (0-9, *, #)", param_hint="--entry-input"
        )
    number = to or shipped_numbers()[line]
    target = open_target(url, app_spec, database, freeze=True)
    flow = _flow_of(target.engine(), number)
    now = now or fixed_clock(target, None if to else line, number)
    options = CrawlOptions(
        depth=depth, max_calls=max_calls, entry_inputs=entry_inputs or DEFAULT_ENTRY_INPUTS
    )
    try:
        report = crawl(
            target.transport,
            number,
            base_url=target.base_url,
            simulated_now=now,
            flow=flow,
            options=options,
            line=None if to else line,
            call_options=target.call_options(),
        )
    except CrawlError as exc:
        # The error names Twilio's code and the URL that failed: that is the cause to mend. Only
        # an app that could not be reached gets a hint, naming the voice URL actually requested.
        message = str(exc)
        if "Twilio error 11205" in message or "Twilio error 11210" in message:
            where = f"--url {url}" if url else f"the app {app_spec!r}"
            voice = target.call_options().get("voice_url") or "/voice"
            message += f" Check that {where} answers Twilio voice webhooks at {voice}."
        raise click_error(exc, message) from exc
    finally:
        engine = target.engine()
        if engine is not None:
            engine.store.close()
    to_stdout = json_file == "-"  # then standard output carries the JSON alone
    click.echo(report.render(), err=to_stdout)
    if scenario_dir is not None:
        files = write_scenarios(report, scenario_dir)
        click.echo(f"wrote {plural(len(files), 'scenario file')} to {scenario_dir}", err=to_stdout)
    if json_file is not None:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
        if to_stdout:
            click.echo(text)
        else:
            Path(json_file).write_text(text + "\n", encoding="utf-8")
    if strict and report.problems:
        click.echo(f"{plural(len(report.problems), 'problem')} found (--strict)", err=True)
        raise SystemExit(1)


def _flow_of(engine: Any, number: str) -> Flow | None:
    """The flow our engine runs for `number`, or None when the app is not ours."""
    if engine is None:
        return None
    flow: Flow = engine.flows.get(engine.line_for(number)).machine.flow
    return flow
