"""Scenario files from a crawl: one per discovered path, replaying it and checking how it ended."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ivr.qa.crawl.report import SILENCE, CrawlPath, CrawlReport, _show


def write_scenarios(report: CrawlReport, folder: Path) -> list[Path]:
    """Write one scenario file (docs/scenarios.md) per discovered path; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index, path in enumerate(report.paths, start=1):
        data = scenario_for(report, path)
        slug = re.sub(r"[^a-z0-9]+", "-", path.label.lower())[:40].strip("-")
        file = folder / f"{index:03d}-{slug or 'state'}.yaml"
        file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(file)
    return written


def scenario_for(report: CrawlReport, path: CrawlPath) -> dict[str, Any]:
    """The scenario that replays one path and checks what it heard and how it ended."""
    data: dict[str, Any] = {"name": f"crawl: {path.label} via {_show(path.inputs)}"}
    if report.line:
        data["line"] = report.line
    else:
        data["to"] = report.to
    if report.now:
        data["now"] = report.now
    data["tags"] = ["crawl"]
    steps: list[Any] = [SILENCE if inp == SILENCE else {"press": inp} for inp in path.inputs]
    if path.expect:
        steps.append({"expect": path.expect})
    outcome: dict[str, str] = {}
    if path.outcome is None:
        steps.append("hangup")  # the call waits here: the scenario ends it
        outcome["kind"] = "caller-hangup"
    else:
        outcome["kind"] = path.outcome.kind
        if path.outcome.target:
            outcome["target"] = path.outcome.target
    if path.state:
        outcome["state"] = path.state
    data["steps"] = steps
    data["outcome"] = outcome
    return data
