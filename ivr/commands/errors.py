"""The CLI's edge for the engine's errors: an IvrError becomes a click error with its exit code."""

from __future__ import annotations

from typing import Any

import click

from ivr import EXIT_BAD_INPUT, EXIT_FAILURE, IvrError


class FailedError(click.ClickException):
    """Something failed while running: exits 1."""

    exit_code = EXIT_FAILURE


class BadInputError(click.ClickException):
    """A file, setting or argument is wrong: exits 2, like click's usage errors."""

    exit_code = EXIT_BAD_INPUT


def click_error(error: IvrError, message: str | None = None) -> click.ClickException:
    """The click error a command raises for `error`: its message (or `message`) and exit code.

    Example:
        except FlowErrors as exc:
            raise click_error(exc, f"the {line} flow is not valid:\\n{exc}") from exc
    """
    kind = BadInputError if error.exit_code == EXIT_BAD_INPUT else FailedError
    return kind(str(error) if message is None else message)


class IvrGroup(click.Group):
    """A command group that reports any IvrError a subcommand lets out as a click error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IvrError as exc:
            raise click_error(exc) from exc
