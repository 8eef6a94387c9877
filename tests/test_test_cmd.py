"""`ivr test` on a line with opening hours: a scenario without `now:` runs at a fixed open time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main

# Sunday 2026-11-22, 23:00 Central: the TTY line is closed, so a test that reads the real clock
# fails here as it would at night.
SUNDAY_NIGHT = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
TTY_OPEN = """\
name: TTY line, no clock given
line: tty
steps:
  - expect_state: main_menu
"""


@pytest.fixture
def tty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tty"
    folder.mkdir()
    (folder / "open.yaml").write_text(TTY_OPEN, encoding="utf-8")
    return folder


@pytest.fixture
def night(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real clock stands at Sunday night, when the TTY line is closed."""
    monkeypatch.setattr("ivr.engine.hours.system_clock", lambda: SUNDAY_NIGHT)


def _run(runner: CliRunner, folder: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(
        main,
        ["test", str(folder), "--database", str(folder.parent / "ivr.sqlite3"), *args],
        env=env,
        catch_exceptions=False,
    )


@pytest.mark.usefixtures("night")
def test_a_tty_scenario_without_now_runs_at_the_fixed_open_time(runner: CliRunner, tty_folder: Path) -> None:
    result = _run(runner, tty_folder)
    assert result.exit_code == 0, result.output
    assert "1 scenario: 1 passed, 0 failed" in result.stdout
    assert (
        "note: 1 scenario on a line with opening hours gives no `now:` and runs at a fixed "
        "open time (see ivr test --help)"
    ) in result.stderr


@pytest.mark.usefixtures("night")
def test_a_frozen_app_clock_is_kept(runner: CliRunner, tty_folder: Path) -> None:
    result = _run(runner, tty_folder, env={"IVR_NOW": "2026-11-23T21:30:00-06:00"})  # closed
    assert result.exit_code == 1, result.output  # the app's own IVR_NOW is meant, not ours
    assert "note:" not in result.stderr


def test_a_scenario_with_now_and_a_line_without_hours_are_left_alone(runner: CliRunner) -> None:
    result = runner.invoke(main, ["test", "scenarios/tty", "scenarios/specialty"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr  # every shipped tty scenario gives its `now:`


def test_the_help_says_which_clock_is_used(runner: CliRunner) -> None:
    text = " ".join(runner.invoke(main, ["test", "--help"]).stdout.split())
    assert "A scenario without `now:` on a line with opening hours runs at a fixed time" in text
    assert "the TTY line 2026-11-23T12:00-06:00" in text
