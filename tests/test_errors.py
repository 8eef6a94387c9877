"""Tests for ivr.errors and its CLI edge: one family, each error with the exit code the CLI uses."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ivr.commands.errors import IvrGroup, click_error
from ivr.diagram import GraphvizError
from ivr.engine.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    ConfigError,
    FlowError,
    FlowErrors,
    IvrError,
    StoreError,
)
from ivr.engine.markup import MarkupError
from ivr.qa.crawl import CrawlError
from ivr.sim import SimulationError
from ivr.sim.twiml_rules import TwimlError
from ivr.twilio_number import ConfigureError
from web.live_calls import InputError

BAD_FLOW = FlowError("main.yaml", "unknown field", state="help", field="colour")

#: (error, exit code): 2 for input to mend (a file, a setting, an argument), 1 for failures.
ERRORS: list[tuple[IvrError, int]] = [
    (BAD_FLOW, EXIT_BAD_INPUT),
    (FlowErrors([BAD_FLOW]), EXIT_BAD_INPUT),
    (ConfigError("IVR_SESSION_TTL='x' must be a positive whole number"), EXIT_BAD_INPUT),
    (MarkupError("an unmatched brace"), EXIT_BAD_INPUT),
    (InputError("'x' is not a sequence of phone keys"), EXIT_BAD_INPUT),
    (StoreError("the SQLite store x.db cannot lock call CA1: database is locked"), EXIT_FAILURE),
    (TwimlError(["Response/Gather[1]/@numDigits: '0' must be a positive integer"]), EXIT_FAILURE),
    (SimulationError("the simulator does not support <Pay> (at Response/Pay)"), EXIT_FAILURE),
    (CrawlError("the first call failed, so nothing was crawled: HTTP 500."), EXIT_FAILURE),
    (GraphvizError("Graphviz is not installed"), EXIT_FAILURE),
    (ConfigureError("no Twilio credentials"), EXIT_FAILURE),
]
IDS = [type(error).__name__ for error, _ in ERRORS]


@pytest.mark.parametrize(("error", "code"), ERRORS, ids=IDS)
def test_every_error_is_an_ivr_error_with_its_exit_code(error: IvrError, code: int) -> None:
    assert isinstance(error, IvrError)
    assert type(error).exit_code == code


@pytest.mark.parametrize(("error", "code"), ERRORS, ids=IDS)
def test_the_cli_edge_exits_with_the_errors_code_and_message(error: IvrError, code: int) -> None:
    @click.group(cls=IvrGroup)
    def cli() -> None:
        """A stand-in for `ivr`."""

    @cli.command()
    def fail() -> None:
        raise error

    result = CliRunner().invoke(cli, ["fail"])
    assert result.exit_code == code, result.output
    assert result.stderr == f"Error: {error}\n"


def test_click_error_keeps_the_code_and_takes_a_message_with_context() -> None:
    translated = click_error(BAD_FLOW, f"the main flow is not valid:\n{BAD_FLOW}")
    assert isinstance(translated, click.ClickException)
    assert translated.exit_code == EXIT_BAD_INPUT
    assert translated.message == "the main flow is not valid:\n" + str(BAD_FLOW)
    assert click_error(BAD_FLOW).message == str(BAD_FLOW)


def test_errors_that_were_value_errors_still_are() -> None:
    for error_type in (TwimlError, MarkupError, InputError):
        assert issubclass(error_type, ValueError), error_type
