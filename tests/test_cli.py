"""The `ivr` command: validate flows (files, folders, the default set) and its help texts."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.config import FLOWS_DIR

from .test_flow_loader import HELP_STATE, MINIMAL, edit

TWILIO_VARS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET")
SHIPPED = ("main.yaml", "specialty.yaml", "tty.yaml")


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def ok_lines(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("ok: ")]


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture
def bad_flow(tmp_path: Path) -> Path:
    """A flow with two problems: no Spanish prompt in `help`, an unknown field in `help`."""
    text = edit(MINIMAL, "      es: Aquí tiene ayuda. Adiós.\n", "")
    text = edit(text, HELP_STATE, HELP_STATE + "    colour: blue\n")
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- validate -----------------------------------------------------------------------------------


def test_validate_with_no_arguments_checks_the_three_shipped_lines() -> None:
    result = run("validate")
    assert result.exit_code == 0, result.output
    lines = ok_lines(result)
    assert [Path(line.split(": ")[1]).name for line in lines] == list(SHIPPED)
    for line, name in zip(lines, ("main", "specialty", "tty"), strict=True):
        assert str(FLOWS_DIR / f"{name}.yaml") in line
        assert f"line '{name}'" in line
        counts = re.search(r"(\d+) states, .* (\d+) reachable", line)
        assert counts is not None and counts[1] == counts[2], line
        assert line.endswith("languages en, es")
    assert result.stderr == ""


def test_validate_a_bad_file_prints_errors_naming_file_state_and_field(bad_flow: Path) -> None:
    result = run("validate", str(bad_flow))
    assert result.exit_code == 1
    assert ok_lines(result) == []
    errors = sorted(error_lines(result))
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith(
        f"error: {bad_flow}: state 'help': field 'colour': unknown field; expected one of "
    )
    assert errors[1] == f"error: {bad_flow}: state 'help': field 'prompt.es': missing the 'es' text"
    assert "1 of 1 flow files are invalid" in result.stderr


def test_validate_a_file_that_is_not_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nstates: [unclosed\ninitial: x\n", encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith(f"error: {path}: line ")


def test_validate_a_good_file() -> None:
    result = run("validate", str(FLOWS_DIR / "specialty.yaml"))
    assert result.exit_code == 0, result.output
    assert len(ok_lines(result)) == 1 and "line 'specialty'" in result.stdout


def test_validate_a_folder_checks_every_yaml_file_in_it(tmp_path: Path, bad_flow: Path) -> None:
    (tmp_path / "mini.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    [ok] = ok_lines(result)
    assert ok.startswith(f"ok: {tmp_path / 'mini.yaml'}: line 'mini', 4 states")
    errors = error_lines(result)
    assert len(errors) == 2 and all(str(bad_flow) in line for line in errors)
    assert "notes.txt" not in result.output
    assert "1 of 2 flow files are invalid" in result.stderr


def test_validate_the_shipped_folder() -> None:
    result = run("validate", str(FLOWS_DIR))
    assert result.exit_code == 0, result.output
    assert len(ok_lines(result)) == len(SHIPPED)


def test_validate_an_empty_folder_fails(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert "no flow files" in result.stderr


def test_validate_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nowhere.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- help -----------------------------------------------------------------------------------------


def test_the_group_help_gives_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert re.search(r"^\s+ivr \S+", result.stdout, re.MULTILINE), result.stdout


def test_the_group_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in main.commands:
        assert name in result.stdout


@pytest.mark.parametrize("command", sorted(main.commands))
def test_each_command_help_gives_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert f"ivr {command} " in result.stdout, result.stdout


# -- configure-number without credentials ----------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the test tried to use the network: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        pytest.param({}, "TWILIO_ACCOUNT_SID", id="nothing-set"),
        pytest.param({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32}, "TWILIO_AUTH_TOKEN", id="no-token"),
        pytest.param({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_API_SECRET": "s3cret"},
                     "TWILIO_API_KEY", id="secret-without-key"),
    ],
)  # fmt: skip
def test_configure_number_without_credentials_names_the_missing_variable(
    no_network: None, env: dict[str, str], missing: str
) -> None:
    unset: dict[str, str | None] = {name: None for name in TWILIO_VARS}
    result = run(
        "configure-number", "+15005550006", "https://example.com", env={**unset, **env}
    )
    assert result.exit_code != 0
    assert result.exit_code == 1
    assert f"{missing} is not set" in result.stderr
    assert "configured" not in result.stdout
    assert "s3cret" not in result.output


def test_configure_number_needs_both_arguments() -> None:
    result = run("configure-number", "+15005550006")
    assert result.exit_code == 2
    assert "BASE_URL" in result.stderr
