"""The engine's exception family: each message says what is wrong and how to mend it."""

from __future__ import annotations


class IvrError(Exception):
    """Base class of every error the engine raises on purpose."""


class FlowError(IvrError):
    """A flow file is malformed; names the file, the state and the field."""

    def __init__(
        self, file: str, message: str, *, state: str | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.state = state
        self.field = field
        self.detail = message
        where = file
        if state is not None:
            where += f": state '{state}'"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class FlowErrors(IvrError):
    """Several flow errors found in one pass, reported together."""

    def __init__(self, errors: list[FlowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ConfigError(IvrError):
    """A configuration value is missing, malformed or unsafe."""


class StoreError(IvrError):
    """The session store could not load or save a call."""
