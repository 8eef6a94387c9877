"""The engine's exception family: each message says what is wrong and how to mend it.

Every error carries the exit code the CLI ends with (`ivr.commands.errors` translates it):
2 when the input is bad (a file, a setting, an argument: mend it and run again), 1 when
something failed while running.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Exit codes of the `ivr` command, as click uses them (click.UsageError exits 2).
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class IvrError(Exception):
    """Base class of every error the engine raises on purpose."""

    #: The CLI's exit code for this error: EXIT_FAILURE, or EXIT_BAD_INPUT for bad input.
    exit_code: int = EXIT_FAILURE


class FileError(IvrError):
    """A file people edit is malformed: `FILE:LINE: <part>: field 'f': what is wrong`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self, file: str, message: str, *, part: str | None, field: str | None, line: int | None
    ) -> None:
        self.file = file
        self.line = line  # 1-based, when the problem has a place in the file
        self.field = field
        self.detail = message
        where = file if line is None else f"{file}:{line}"
        if part is not None:
            where += f": {part}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class FileErrors(IvrError):
    """Several file errors found in one pass, reported together."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, errors: Sequence[FileError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in errors))


class FlowError(FileError):
    """A flow file is malformed; names the file, the line, the state and the field."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        state: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.state = state
        part = f"state '{state}'" if state is not None else None
        super().__init__(file, message, part=part, field=field, line=line)


class FlowErrors(FileErrors):
    """Several flow errors found in one pass, reported together."""

    errors: list[FlowError]  # type: ignore[assignment]

    def __init__(self, errors: Sequence[FlowError]) -> None:
        super().__init__(errors)


class ConfigError(IvrError):
    """A configuration value is missing, malformed or unsafe."""

    exit_code = EXIT_BAD_INPUT


class StoreError(IvrError):
    """The session store could not load or save a call."""
