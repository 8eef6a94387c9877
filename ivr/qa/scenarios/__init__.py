"""Scenario files (docs/scenarios.md): load them, run them as simulated calls, report the results."""

from ivr.qa.scenarios.jobs import PARALLEL_FROM, FilePool, by_file, default_jobs
from ivr.qa.scenarios.junit import junit_xml
from ivr.qa.scenarios.loader import ScenarioError, ScenarioErrors, load_paths, load_scenario, scenario_files
from ivr.qa.scenarios.model import Check, ExpectedOutcome, Scenario, ScenarioStep, Suite
from ivr.qa.scenarios.report import render_report, summary
from ivr.qa.scenarios.runner import (
    DEFAULT_WORKERS,
    CallTarget,
    ScenarioResult,
    StepResult,
    run_scenario,
    run_scenarios,
)

__all__ = [
    "DEFAULT_WORKERS",
    "CallTarget",
    "Check",
    "ExpectedOutcome",
    "FilePool",
    "Scenario",
    "ScenarioError",
    "ScenarioErrors",
    "ScenarioResult",
    "ScenarioStep",
    "StepResult",
    "Suite",
    "by_file",
    "default_jobs",
    "PARALLEL_FROM",
    "junit_xml",
    "load_paths",
    "load_scenario",
    "render_report",
    "run_scenario",
    "run_scenarios",
    "scenario_files",
    "summary",
]
