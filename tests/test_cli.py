"""The `ivr` command: validate flows (files, folders, the default set) and its help texts."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.engine.config import FLOWS_DIR

from .test_flow_loader import HELP_STATE, MINIMAL, edit, line_of

TWILIO_VARS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET")
SHIPPED = ("main.yaml", "specialty.yaml", "tty.yaml")


def run(runner: CliRunner, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


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


def test_validate_with_no_arguments_checks_the_three_shipped_lines(runner: CliRunner) -> None:
    result = run(runner, "validate")
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


def test_validate_a_bad_file_prints_errors_naming_file_state_and_field(
    runner: CliRunner, bad_flow: Path
) -> None:
    result = run(runner, "validate", str(bad_flow))
    assert result.exit_code == 1
    assert ok_lines(result) == []
    errors = sorted(error_lines(result))
    assert len(errors) == 2, result.stderr
    text = bad_flow.read_text(encoding="utf-8")
    colour, prompt = line_of(text, "colour: blue"), line_of(text, "Here is some help") - 1
    assert errors[0].startswith(
        f"error: {bad_flow}:{colour}: state 'help': field 'colour': unknown field; expected one of "
    )
    assert errors[1] == (
        f"error: {bad_flow}:{prompt}: state 'help': field 'prompt.es': missing the 'es' text"
    )
    assert "1 of 1 flow file is invalid" in result.stderr


def test_validate_a_file_that_is_not_yaml_reports_the_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nstates: [unclosed\ninitial: x\n", encoding="utf-8")
    result = run(runner, "validate", str(path))
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith(f"error: {path}:2: column 9: parsing a flow sequence that starts here")


def test_validate_a_good_file(runner: CliRunner) -> None:
    result = run(runner, "validate", str(FLOWS_DIR / "specialty.yaml"))
    assert result.exit_code == 0, result.output
    assert len(ok_lines(result)) == 1 and "line 'specialty'" in result.stdout


def test_validate_a_folder_checks_every_yaml_file_in_it(
    runner: CliRunner, tmp_path: Path, bad_flow: Path
) -> None:
    (tmp_path / "mini.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    result = run(runner, "validate", str(tmp_path))
    assert result.exit_code == 1
    [ok] = ok_lines(result)
    assert ok.startswith(f"ok: {tmp_path / 'mini.yaml'}: line 'mini', 4 states")
    errors = error_lines(result)
    assert len(errors) == 2 and all(str(bad_flow) in line for line in errors)
    assert "notes.txt" not in result.output
    assert "1 of 2 flow files is invalid" in result.stderr


def test_validate_the_shipped_folder(runner: CliRunner) -> None:
    result = run(runner, "validate", str(FLOWS_DIR))
    assert result.exit_code == 0, result.output
    assert len(ok_lines(result)) == len(SHIPPED)


def test_validate_an_empty_folder_fails(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "validate", str(tmp_path))
    assert result.exit_code == 1
    assert "no flow files" in result.stderr


def test_validate_a_missing_path_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "validate", str(tmp_path / "nowhere.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- help -----------------------------------------------------------------------------------------


def test_the_group_help_gives_an_example(runner: CliRunner) -> None:
    result = run(runner, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert re.search(r"^\s+ivr \S+", result.stdout, re.MULTILINE), result.stdout


def test_the_group_help_lists_every_command(runner: CliRunner) -> None:
    result = run(runner, "--help")
    assert result.exit_code == 0
    for name in main.commands:
        assert name in result.stdout


@pytest.mark.parametrize("command", sorted(main.commands))
def test_each_command_help_gives_an_example(runner: CliRunner, command: str) -> None:
    result = run(runner, command, "--help")
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
        pytest.param(
            {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_API_SECRET": "s3cret"},
            "TWILIO_API_KEY",
            id="secret-without-key",
        ),
    ],
)
def test_configure_number_without_credentials_names_the_missing_variable(
    runner: CliRunner, no_network: None, env: dict[str, str], missing: str
) -> None:
    unset: dict[str, str | None] = {name: None for name in TWILIO_VARS}
    result = run(runner, "configure-number", "+15005550006", "https://example.com", env={**unset, **env})
    assert result.exit_code != 0
    assert result.exit_code == 1
    assert f"{missing} is not set" in result.stderr
    assert "configured" not in result.stdout
    assert "s3cret" not in result.output


def test_configure_number_needs_both_arguments(runner: CliRunner) -> None:
    result = run(runner, "configure-number", "+15005550006")
    assert result.exit_code == 2
    assert "BASE_URL" in result.stderr


# -- what every command shares: --url, counted nouns, the unsigned warning ------------------------

URL_COMMANDS = sorted(
    name for name, command in main.commands.items() if any(p.name == "url" for p in command.params)
)


def test_the_commands_that_place_calls_take_url() -> None:
    assert URL_COMMANDS == ["call", "crawl", "test"]


@pytest.mark.parametrize("command", URL_COMMANDS)
@pytest.mark.parametrize(
    ("url", "suggested"),
    [
        pytest.param("127.0.0.1:5000", "http://127.0.0.1:5000", id="no-scheme"),
        pytest.param("localhost:8080/voice", "http://localhost:8080/voice", id="host-taken-for-a-scheme"),
        pytest.param("ftp://example.test", "http://example.test", id="not-http"),
    ],
)
def test_a_url_without_http_is_a_usage_error_at_the_option(
    runner: CliRunner, command: str, url: str, suggested: str
) -> None:
    result = runner.invoke(main, [command, "--line" if command != "test" else "-k", "main", "--url", url])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--url'" in result.stderr
    assert f"{url!r} is not an http:// or https:// URL; use e.g. --url {suggested}" in result.stderr
    assert "urlopen" not in result.output  # refused before any call


@pytest.mark.parametrize(
    ("count", "noun", "nouns", "said"),
    [
        (0, "state", None, "0 states"),
        (1, "state", None, "1 state"),
        (2, "call", None, "2 calls"),
        (1, "flow file", None, "1 flow file"),
        (3, "body", "bodies", "3 bodies"),
        (1, "body", "bodies", "1 body"),
    ],
)
def test_plural_agrees_with_the_count(count: int, noun: str, nouns: str | None, said: str) -> None:
    from ivr.qa.plural import plural

    assert plural(count, noun, nouns) == said


def test_validate_counts_one_flow_file_in_the_singular(runner: CliRunner, bad_flow: Path) -> None:
    result = run(runner, "validate", str(bad_flow))
    assert result.exit_code == 1
    assert "1 of 1 flow file is invalid" in result.stderr


UNSIGNED = "TWILIO_AUTH_TOKEN is not set"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["test", "scenarios/tty", "-k", "sunday"], id="test"),
        pytest.param(["crawl", "--line", "specialty", "--depth", "1"], id="crawl"),
        pytest.param(["call", "--line", "main"], id="call"),
    ],
)
def test_in_process_commands_do_not_warn_about_unsigned_webhooks(
    runner: CliRunner, caplog: pytest.LogCaptureFixture, tmp_path: Path, args: list[str]
) -> None:
    from app import create_app

    with caplog.at_level("WARNING", logger="ivr.app"):
        result = runner.invoke(main, [*args, "--database", str(tmp_path / "cli.sqlite3")], input="q\n")
        assert result.exit_code == 0, result.output
        assert not [r for r in caplog.records if UNSIGNED in r.getMessage()]
        # A server built by the factory itself still warns: only the commands' own app is quiet.
        create_app({"DATABASE": str(tmp_path / "server.sqlite3")}).extensions["ivr"].store.close()
    assert [r.levelname for r in caplog.records if UNSIGNED in r.getMessage()] == ["WARNING"]
