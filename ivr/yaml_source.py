"""Read YAML that people edit: a safe loader that refuses duplicate keys and says where."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from .errors import FlowError

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built


class _StrictLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe loader that rejects a mapping with the same key twice (PyYAML keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # Only the mapping's own keys can clash: a key that overrides one brought in by a merge
    # key (`<<: *anchor`) is YAML's way to change one field of a shared block.
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
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
    return dict(loader.construct_pairs(node, deep=True))


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; any syntax error or duplicate key becomes a FlowError naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FlowError(
            str(path), f"line {line}: the file is not UTF-8 text (byte {data[exc.start]:#04x}); "
            "save it as UTF-8"
        ) from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise FlowError(str(path), f"{where}{exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise FlowError(str(path), f"not valid YAML: {exc}") from exc
