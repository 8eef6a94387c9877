"""Pydantic's validation errors, said the way our loaders say them: a path and a plain message.

The schemas (`ivr.flow_schema`, `ivr.scenarios.schema`) raise `fail(...)` with the house
message; pydantic's own errors (a wrong type, a missing or unknown field) are worded here.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

Path = tuple[Any, ...]  # keys and indexes from the document's root, as in the YAML


@dataclass(frozen=True)
class Issue:
    """One problem: where it is (a path into the document) and what is wrong."""

    path: Path
    message: str


def fail(message: str, *at: Any) -> PydanticCustomError:
    """A validator's error with our own message; `at` points below the value being checked."""
    return PydanticCustomError("ivr", "{message}", {"message": message, "at": at})


_TYPES = {
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "missing": "missing; add it",
}


def issues(
    exc: ValidationError, model: type[BaseModel], unknown: Callable[[Any, tuple[str, ...]], str]
) -> list[Issue]:
    """Translate `exc` (from validating `model`); `unknown(key, known)` words an unknown field."""
    out: list[Issue] = []
    for error in exc.errors(include_url=False):
        path = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == "ivr":
            out.append(Issue(path + tuple(ctx.get("at", ())), str(ctx["message"])))
        elif error["type"] == "extra_forbidden":
            out.append(Issue(path, unknown(path[-1], known_fields(model, path[:-1]))))
        else:
            out.append(Issue(path, _TYPES.get(error["type"], error["msg"])))
    return out


def known_fields(model: type[BaseModel], path: Path) -> tuple[str, ...]:
    """The field names (as written in YAML, in declaration order) of the model at `path`."""
    kind: Any = model
    for part in path:
        kind = _unwrap(kind)
        if _is_model(kind):
            fields = {f.alias or name: f for name, f in kind.model_fields.items()}
            kind = fields[part].annotation if part in fields else None
        elif get_origin(kind) in (list, tuple):
            kind = get_args(kind)[0]
        elif get_origin(kind) is dict:
            kind = get_args(kind)[1]
        else:
            return ()
    kind = _unwrap(kind)
    if not _is_model(kind):
        return ()
    return tuple(f.alias or name for name, f in kind.model_fields.items())


def _unwrap(kind: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` as X."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(kind) if a is not type(None)]
            kind = rest[0] if len(rest) == 1 else kind
            if len(rest) != 1:
                return kind
        else:
            return kind


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)
