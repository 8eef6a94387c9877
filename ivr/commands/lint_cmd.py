"""`ivr lint`: hold flow files to the prompt-writing standards, and say what a caller hears."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ivr import FLOWS_DIR, FlowErrors, IvrError, load_flow, plural

from ..qa import MEASURES, Budgets, LineReport, espeak_available, lint_flow, load_budgets
from ..qa.lint_report import render

#: Exit codes: violations found; a flow or budgets file that cannot be read or is invalid.
VIOLATIONS, INVALID = 1, 2


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--budgets",
    "budgets_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML mapping of budgets (max_options, max_words_before_first_choice, "
    "max_menu_seconds, max_info_seconds, max_depth, words_per_minute); a flow's own "
    "`lint:` section still wins for its line.",
)
@click.option(
    "--measure",
    type=click.Choice(MEASURES),
    default="auto",
    show_default=True,
    help="How seconds are measured: espeak-ng durations, words at the speaking rate, "
    "or espeak-ng when it is installed.",
)
@click.option(
    "--json",
    "json_file",
    default=None,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the report as JSON to this file ('-' for standard output).",
)
def lint_cmd(paths: tuple[Path, ...], budgets_file: Path | None, measure: str, json_file: str | None) -> None:
    """Check flow files (default: every file in ivr/flows) against the prompt standards.

    Prints per line and language the options of each menu, the words and seconds before the
    first choice, the menu depth and the seconds of listening to each destination, then each
    violation as FILE: state 'x': field 'y': what is wrong. Exits 1 on violations, 2 when a
    file is invalid. Budgets: docs/prompt-writing.md. Examples:

    \b
        ivr lint
        ivr lint ivr/flows/tty.yaml
        ivr lint --budgets budgets.yaml my_flows/
        ivr lint --measure words --json lint.json
    """
    if measure == "espeak" and not espeak_available():
        raise click.UsageError("--measure espeak needs espeak-ng on PATH (apt-get install espeak-ng)")
    to_stdout = json_file == "-"  # then standard output carries the JSON alone
    budgets = Budgets()
    if budgets_file is not None:
        try:
            budgets = load_budgets(budgets_file)
        except FlowErrors as exc:
            for error in exc.errors:
                click.echo(f"error: {error}", err=True)
            raise SystemExit(INVALID) from exc
    files = _flow_files(paths)
    reports: list[LineReport] = []
    invalid: list[str] = []
    for file in files:
        try:
            reports.append(lint_flow(load_flow(file), budgets, measure))
        except FlowErrors as exc:
            invalid += [str(e) for e in exc.errors]
        except IvrError as exc:
            invalid.append(str(exc))
    for report in reports:
        click.echo(render(report), err=to_stdout)
        for violation in report.violations:
            click.echo(str(violation), err=to_stdout)
        click.echo("", err=to_stdout)
    for problem in invalid:
        click.echo(f"error: {problem}", err=True)
    count = sum(len(r.violations) for r in reports)
    click.echo(
        f"{plural(len(reports), 'line')} linted, {plural(count, 'violation')}"
        + (f", {plural(len(files) - len(reports), 'invalid file')}" if invalid else ""),
        err=to_stdout,
    )
    if json_file is not None:
        _write_json(json_file, _json(reports, budgets, invalid))
    if invalid:
        raise SystemExit(INVALID)
    if count:
        raise SystemExit(VIOLATIONS)


def _flow_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths or (FLOWS_DIR,):
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    if not files:
        raise click.ClickException("no flow files (*.yaml) found")
    return files


def _json(reports: list[LineReport], budgets: Budgets, invalid: list[str]) -> dict[str, Any]:
    return {
        "budgets": budgets.to_dict(),
        "lines": [r.to_dict() for r in reports],
        "violations": sum(len(r.violations) for r in reports),
        "invalid": invalid,
    }


def _write_json(json_file: str, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if json_file == "-":
        click.echo(text)
    else:
        Path(json_file).write_text(text + "\n", encoding="utf-8")
