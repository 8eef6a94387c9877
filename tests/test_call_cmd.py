"""`ivr call`: typed lines understood, a call driven from a list of lines, the click command."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from rich.console import Console

from ivr.cli import main
from ivr.commands.call_cmd import Action, parse_input, run_call
from ivr.sim import SimulatedCall, WsgiTransport

from .phone import MAIN, SPECIALTY, TTY

TTY_CLOSED = "2026-11-23T23:00:00-06:00"  # Monday 11 p.m. Central: the TTY line is closed


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2", Action("press", "2")),
        (" 1 0 2 0 3 0 4 0 # ", Action("press", "10203040#")),
        ("*", Action("press", "*")),
        ("say representative", Action("say", "representative")),
        ("Say  Billing and insurance ", Action("say", "Billing and insurance")),
        ("", Action("silence")),
        ("   ", Action("silence")),
        ("q", Action("hangup")),
        ("HANGUP", Action("hangup")),
        ("?", Action("help")),
    ],
    ids=["key", "keys-with-spaces", "star", "say", "say-keeps-case", "empty", "blank", "q", "hangup", "help"],
)
def test_parse_input_understands_keys_words_silence_and_hangup(line: str, expected: Action) -> None:
    assert parse_input(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [("say", "say what?"), ("2a", "not understood: '2a'"), ("billing", "not understood: 'billing'")],
    ids=["say-nothing", "letter-among-keys", "bare-word"],
)
def test_parse_input_refuses_what_it_cannot_do(line: str, message: str) -> None:
    action = parse_input(line)
    assert action.kind == "bad"
    assert action.value.startswith(message)


def drive(
    app: Flask, lines: Iterable[str], to: str = MAIN, now: str | None = None
) -> tuple[str, SimulatedCall]:
    call = SimulatedCall(WsgiTransport(app), to, simulated_now=now)
    console = Console(record=True, width=100, color_system=None)
    run_call(call, lines, console)
    return console.export_text(), call


def test_a_call_shows_each_answer_the_state_and_ends_with_outcome_and_transcript(app: Flask) -> None:
    text, call = drive(app, ["2", "0"])
    answered, billing, rest = re.split(r"╭─ after keys 2 ─+╮|╭─ after keys 0 ─+╮", text)
    assert "[en-US] Thanks for calling the Caremark" in answered
    assert "[es-US] Para español, oprima 9." in answered  # the offer in its own language
    assert "POST /voice -> 200 | state main_menu" in answered
    assert "state main_menu  language en-US  waiting for keys or speech" in answered
    assert "[en-US] Billing and insurance." in billing
    assert "state billing_menu  language en-US" in billing
    assert "Connecting you with a representative." in rest
    assert "in the queue" in rest
    assert "outcome: enqueue:sim-representative" in rest
    assert call.transcript.render() in text
    assert str(call.outcome) == "enqueue:sim-representative"


@pytest.mark.parametrize(
    ("lines", "shown", "outcome"),
    [
        (["9"], "[es-US] Gracias por llamar", "caller-hangup"),
        (["say representative"], "Connecting you with a representative.", "enqueue:sim-representative"),
        ([""], "Sorry, I didn't hear anything.", "caller-hangup"),
        (["1", "10203040#", "03071956"], "Thank you, you're verified.", "caller-hangup"),
        (["x", "?", "hangup"], "not understood: 'x'", "caller-hangup"),
        ([], "outcome: caller-hangup", "caller-hangup"),
    ],
    ids=[
        "spanish-tag",
        "say",
        "silence",
        "member-id-with-pound",
        "bad-line-then-hangup",
        "out-of-lines-hangs-up",
    ],
)
def test_each_kind_of_input_reaches_the_app(app: Flask, lines: list[str], shown: str, outcome: str) -> None:
    text, call = drive(app, lines)
    assert shown.lower() in text.lower()
    assert str(call.outcome) == outcome
    assert text.rstrip().endswith(f"outcome: {outcome}")


def test_help_lists_what_can_be_typed(app: Flask) -> None:
    text, _ = drive(app, ["help", "q"])
    assert "Type keys (0-9 * #) press them, 'say <words>' speaks" in text


def test_a_call_that_ends_by_itself_reads_no_more_lines(app: Flask) -> None:
    lines = iter(["0", "2", "2"])
    _, call = drive(app, lines)
    assert str(call.outcome) == "enqueue:sim-representative"
    assert list(lines) == ["2", "2"]


# -- the command ---------------------------------------------------------------------------------


def invoke(runner: CliRunner, *args: str, stdin: str = "") -> tuple[int, str]:
    result = runner.invoke(main, ["call", *args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


def test_command_after_hours_on_the_tty_line_with_a_simulated_clock(
    runner: CliRunner, tmp_path: Path
) -> None:
    code, out = invoke(runner, "--line", "tty", "--now", TTY_CLOSED, "--database", str(tmp_path / "db"))
    assert code == 0, out
    assert f"Calling tty ({TTY}, in-process)" in out
    assert "The TTY line is closed now." in out
    assert "outcome: hangup" in out
    assert "state: closed" in out  # the transcript
    assert "you>" not in out  # the call ended before any input was asked for


def test_command_asks_for_the_line_when_none_is_given(runner: CliRunner, tmp_path: Path) -> None:
    code, out = invoke(runner, "--database", str(tmp_path / "db"), stdin="specialty\n0\n")
    assert code == 0, out
    assert "Line (main, specialty, tty) [main]:" in out
    assert f"Calling specialty ({SPECIALTY}, in-process)" in out
    assert "outcome: enqueue:" in out


def test_command_exits_1_when_the_call_ends_in_an_error(runner: CliRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    code, out = invoke(runner, "--line", "main", "--url", f"http://127.0.0.1:{port}")
    assert code == 1
    assert f"Calling main ({MAIN}, http://127.0.0.1:{port})" in out
    assert "error: could not reach" in out
    assert "outcome: error" in out


def test_a_dead_url_says_the_app_could_not_be_reached_not_that_the_call_was_answered(
    runner: CliRunner,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    result = runner.invoke(main, ["call", "--line", "main", "--url", url], catch_exceptions=False)
    assert result.exit_code == 1
    assert "call answered" not in result.stdout
    assert "not answered: the app could not be reached (Twilio error 11205)" in result.stdout
    assert result.stderr.startswith(
        f"Error: the app at {url} could not be reached, so the call "
        "was never answered (Twilio error 11205, HTTP connection failure)"
    )


def test_an_answered_call_is_titled_answered(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main,
        ["call", "--line", "main", "--database", str(tmp_path / "db")],
        input="q\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "─ call answered ─" in result.stdout
    assert "could not be reached" not in result.output


@pytest.mark.parametrize(
    ("app_env", "args", "answered"),
    [
        pytest.param({"TWILIO_AUTH_TOKEN": "cli-token"}, [], True, id="auth-token-from-env"),
        pytest.param({"TWILIO_WEBHOOK_SHARED_KEY": "cli-key"}, [], True, id="shared-key-from-env"),
        pytest.param(
            {"TWILIO_WEBHOOK_SHARED_KEY": "cli-key"}, ["--shared-key", "wrong"], False, id="wrong-shared-key"
        ),
    ],
)
def test_command_signs_as_the_app_checks(
    runner: CliRunner, tmp_path: Path, app_env: dict[str, str], args: list[str], answered: bool
) -> None:
    """The in-process app reads the same variables as the options: its calls are signed to match."""
    result = runner.invoke(
        main,
        ["call", "--line", "main", "--database", str(tmp_path / "db"), *args],
        input="2\nq\n",
        env={**app_env, "IVR_SECRET_KEY": "cli-member-key"},  # an auth token needs one
        catch_exceptions=False,
    )
    if answered:
        assert result.exit_code == 0, result.output
        assert "state: billing_menu" in result.output
    else:
        assert result.exit_code == 1, result.output
        assert "HTTP 403" in result.output
