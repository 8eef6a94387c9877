"""Every example scenario in scenarios/ passes against our app, in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.commands.target import Target, open_target
from ivr.qa.scenarios import load_scenario, run_scenario
from ivr.qa.scenarios.model import Press

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted(SCENARIOS_DIR.rglob("*.yaml"))
IDS = [str(p.relative_to(SCENARIOS_DIR)) for p in FILES]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("examples")
    built = open_target(None, database=str(folder / "ivr.sqlite3"))
    yield built
    engine = built.engine()
    assert engine is not None  # in-process
    engine.store.close()


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_example_scenario_passes(target: Target, path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.outcome is not None and scenario.outcome.kind is not None, (
        f"{path}: an example says how its call ends (outcome.kind)"
    )
    result = run_scenario(scenario, target)
    assert result.passed, f"{path}: {result.message}\n\n{result.transcript.render()}"


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "9", "0"], ids=lambda k: f"press-{k}")
def test_every_main_menu_option_has_an_example(key: str) -> None:
    firsts = []
    for path in FILES:
        scenario = load_scenario(path)
        presses = [s for s in scenario.steps if isinstance(s, Press)]
        if scenario.line == "main" and presses:
            firsts.append(presses[0].keys)
    assert key in firsts, f"no example on the main line starts by pressing {key}"
