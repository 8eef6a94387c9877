"""Read YAML that people edit: a safe loader that refuses duplicate keys and says where.

Values come back as plain dicts, lists and scalars; `Marks` remembers the file and line of
every mapping key and sequence item, so a check that finds a problem in the data can name the
line a person has to change.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from ivr.engine.errors import FlowError

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built

Spot = tuple[str, int]  # file, 1-based line


class Marks:
    """Where the containers of loaded YAML came from: per mapping key and sequence item, a line."""

    def __init__(self) -> None:
        self._spots: dict[int, tuple[Spot, dict[Any, Spot]]] = {}
        self._keep: list[Any] = []  # ids are only unique while their objects live

    def record(self, container: Any, start: Spot, parts: dict[Any, Spot]) -> None:
        """Note where `container` starts and where each of its keys (or indexes) is."""
        self._keep.append(container)
        self._spots[id(container)] = (start, parts)

    def start(self, container: Any) -> Spot | None:
        """The file and line where a mapping or sequence begins, if it came from a file."""
        found = self._spots.get(id(container))
        return found[0] if found else None

    def part(self, container: Any, key: Any) -> Spot | None:
        """The file and line of one key of a mapping, or one item of a sequence."""
        found = self._spots.get(id(container))
        if found and key in found[1]:
            return found[1][key]
        if isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
            return self.start(container[key])  # a joined list: its items know where they are
        return None

    def locate(self, root: Any, path: Sequence[Any]) -> Spot | None:
        """The deepest spot along `path` from `root` (a missing key: where its parent is)."""
        spot = self.start(root)
        node = root
        for key in path:
            found = self.part(node, key)
            if found is None:
                break
            spot = found
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                break
        return spot


class _StrictLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe loader that rejects a mapping with the same key twice (PyYAML keeps the last)."""

    marks: Marks | None = None
    file = ""


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # Only the mapping's own keys can clash: a key that overrides one brought in by a merge
    # key (`<<: *anchor`) is YAML's way to change one field of a shared block.
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = _line(key_node)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"a {type(key).__name__} cannot be a key; use a name such as 'prompt'",
                key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first on line {seen[key]}, again on line {line})",
                key_node.start_mark,
            )
        seen[key] = line
    loader.flatten_mapping(node)
    data = dict(loader.construct_pairs(node, deep=True))
    if loader.marks is not None:
        # After flattening, merged keys come first and the mapping's own last: the last wins.
        lines = {loader.construct_object(k, deep=True): (loader.file, _line(k)) for k, _ in node.value}
        loader.marks.record(data, (loader.file, _line(node)), lines)
    return data


def _construct_sequence(loader: _StrictLoader, node: yaml.SequenceNode) -> Iterator[list[Any]]:
    data: list[Any] = []
    yield data  # first the empty list, so an alias inside it can refer to it
    data.extend(loader.construct_sequence(node))
    if loader.marks is not None:
        loader.marks.record(
            data,
            (loader.file, _line(node)),
            {i: (loader.file, _line(item)) for i, item in enumerate(node.value)},
        )


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, marks: Marks | None = None) -> Any:
    """Parse one YAML file, noting lines in `marks`; a syntax error or duplicate key is a FlowError."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError(file, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FlowError(
            file,
            f"the file is not UTF-8 text (byte {data[exc.start]:#04x}); save it as UTF-8",
            line=line,
        ) from exc
    loader = _StrictLoader(text)
    loader.marks, loader.file = marks, file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(file, text, exc) from exc
    except yaml.YAMLError as exc:
        raise FlowError(file, f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _syntax_error(file: str, text: str, exc: yaml.MarkedYAMLError) -> FlowError:
    """Name the line where the problem starts, not where the parser gave up.

    An unclosed quote or bracket is noticed lines later (at the end of the file, or at the next
    `key:`); PyYAML's context mark is where the quote or bracket was opened. A block-level
    context ("while parsing a block mapping") is the whole enclosing mapping, so there the
    problem mark is the better line, unless a quoted text that started lines before ends on
    it: a quote left open runs on to the next quote in the file.
    """
    problem, context = exc.problem_mark, exc.context_mark
    opened = context is not None and exc.context and ("scanning" in exc.context or "flow" in exc.context)
    mark = context if opened else problem
    if mark is None:
        return FlowError(file, f"not valid YAML: {exc.problem or exc}")
    runaway = None if opened or problem is None else _runaway_quote(text, problem.line)
    if runaway is not None and problem is not None:
        return FlowError(
            file,
            f"column {runaway.column + 1}: this quoted text runs on to line "
            f"{problem.line + 1}; is its closing quote missing? ({exc.problem} at "
            f"line {problem.line + 1}, column {problem.column + 1})",
            line=runaway.line + 1,
        )
    message = f"column {mark.column + 1}: {exc.problem or exc}"
    if opened and problem is not None and exc.context:
        message = (
            f"column {mark.column + 1}: {exc.context.removeprefix('while ')} that starts "
            f"here: {exc.problem} (line {problem.line + 1}, column {problem.column + 1})"
        )
    return FlowError(file, message, line=mark.line + 1)


def _runaway_quote(text: str, line: int) -> yaml.Mark | None:
    """Where a quoted text that spans lines and ends on `line` (0-based) begins, if there is one."""
    found = None
    try:
        for token in yaml.scan(text, Loader=_Base):
            if token.start_mark.line > line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.start_mark.line < token.end_mark.line == line
            ):
                found = token.start_mark
    except yaml.YAMLError:
        pass  # the tokens before the error are all there is
    return found
