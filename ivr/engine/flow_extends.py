"""`extends:`: a flow file that changes another's fields, merged into one document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivr.engine.errors import FlowError
from ivr.engine.yaml_source import Marks, Spot, load_yaml

#: Fields a child never takes from its parent: its name and numbers are its own, and its
#: extras are merged into the parent's states and transitions.
_OWN = ("name", "numbers", "extra_states", "extra_transitions")


def load_document(path: Path, marks: Marks, problems: list[FlowError]) -> dict[str, Any]:
    """Read a flow file and the files it extends into one mapping; lines are noted in `marks`."""
    return _load(path, marks, (), problems)


def _load(path: Path, marks: Marks, seen: tuple[Path, ...], problems: list[FlowError]) -> dict[str, Any]:
    data = load_yaml(path, marks)
    if not isinstance(data, dict):
        raise FlowError(str(path), "the file must be a mapping of flow fields", line=1)
    parent_name = data.get("extends")
    if parent_name is None:
        return data

    def refuse(message: str, key: str = "extends") -> FlowError:
        spot = marks.part(data, key)
        return FlowError(str(path), message, field=key, line=spot[1] if spot else None)

    parent_path = (path.parent / str(parent_name)).resolve()
    if parent_path == path.resolve():
        raise refuse("extends itself")
    if parent_path in seen:
        raise refuse(f"extends '{parent_name}', which leads back to this file")
    if not parent_path.is_file():
        raise refuse(f"extends '{parent_name}', which does not exist")
    parent = _load(parent_path, marks, (*seen, path.resolve()), problems)
    merged = {k: v for k, v in parent.items() if k not in _OWN}
    merged.update({k: v for k, v in data.items() if k != "extends"})
    # A child's extra transitions go first: they are tried before the parent's for a trigger.
    # A child that gives its own states or transitions replaces the parent's.
    for key, extra_key, extra_first in (
        ("states", "extra_states", False),
        ("transitions", "extra_transitions", True),
    ):
        base = data[key] if key in data else parent.get(key)
        extra = data.get(extra_key)
        merged.pop(extra_key, None)
        if extra is not None and not isinstance(extra, list):
            problems.append(refuse(f"must be a list of {key}", extra_key))
            extra = None
        if base is not None and not isinstance(base, list):
            merged[key] = base  # reported by the checks of `key`
            continue
        merged[key] = (extra or []) + (base or []) if extra_first else (base or []) + (extra or [])
    # Each merged field keeps the line it came from, in the child or in the parent.
    spots: dict[Any, Spot] = {}
    for key in merged:
        spot = marks.part(data, key) or marks.part(data, f"extra_{key}") or marks.part(parent, key)
        if spot is not None:
            spots[key] = spot
    marks.record(merged, marks.start(data) or (str(path), 1), spots)
    return merged
