"""Where a flow file's problems are: each becomes a FlowError naming file, line, state and field."""

from __future__ import annotations

from typing import Any

from ivr.engine.errors import FlowError
from ivr.engine.schema_errors import Issue, Path
from ivr.engine.yaml_source import Marks

_ITEMS = ("states", "transitions", "extra_states", "extra_transitions")


class FlowReport:
    """Gathers every problem of one flow so a person sees them all at once, each with its line.

    A problem is given as a path into the document (`("transitions", 3, "trigger")`); the
    report turns the path into the line of that key and into names a person can find: the
    state, and the field below it (`transitions (line 212): trigger`, not `transitions[3]`).
    """

    def __init__(self, file: str, document: dict[str, Any], marks: Marks) -> None:
        self.file = file
        self.document = document
        self.marks = marks
        self.errors: list[FlowError] = []
        self.states: set[str] = set()  # every named state, even one too broken to build
        self._state_index: dict[str, int] = {}
        raw_states = document.get("states")
        for index, raw in enumerate(raw_states if isinstance(raw_states, list) else []):
            name = raw.get("name") if isinstance(raw, dict) else None
            if isinstance(name, str):
                self.states.add(name)
                self._state_index.setdefault(name, index)

    def add(self, path: Path, message: str, *, state: str | None = None, field: str | None = None) -> None:
        """One problem at `path`; `state` and `field` default to what the path names."""
        named_state, named_field = self.describe(path)
        self._append(path, message, state or named_state, field or named_field)

    def issue(self, issue: Issue) -> None:
        """One problem the schema found."""
        self.add(issue.path, issue.message)

    def at_state(self, state: str | None, field: str | None, message: str) -> None:
        """A problem of a whole state (the graph checks): the line of the state or its field."""
        path: Path = ()
        if state in self._state_index:
            path = ("states", self._state_index[state], *(field.split(".") if field else ()))
        self._append(path, message, state, field)

    def line_of(self, path: Path) -> int | None:
        spot = self.marks.locate(self.document, path)
        return spot[1] if spot else None

    def describe(self, path: Path) -> tuple[str | None, str | None]:
        """The state a path lies in and the field below it, as a person reads them."""
        if len(path) >= 2 and path[0] in _ITEMS and isinstance(path[1], int):
            items = self.document[path[0]]
            raw = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
            rest = ".".join(str(p) for p in path[2:])
            if path[0] in ("states", "extra_states") and isinstance(raw, dict):
                name = raw.get("name")
                if isinstance(name, str):
                    return name, rest or "name"
            where = f"{path[0]} (line {self.line_of(path[:2])})"
            owner = self.owner(raw) if path[0] in ("transitions", "extra_transitions") else None
            return owner, f"{where}: {rest}" if rest else where
        return None, ".".join(str(p) for p in path) or None

    def owner(self, raw: Any) -> str | None:
        """The state a transition belongs to, when it has one source that is a state."""
        source = raw.get("source") if isinstance(raw, dict) else None
        return source if isinstance(source, str) and source in self.states else None

    def _append(self, path: Path, message: str, state: str | None, field: str | None) -> None:
        spot = self.marks.locate(self.document, path)
        file, line = spot if spot else (self.file, None)
        self.errors.append(FlowError(file, message, state=state, field=field, line=line))
