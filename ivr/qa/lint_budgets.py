"""The budgets `ivr lint` holds a flow to (docs/prompt-writing.md), and where they are overridden.

Defaults come from the guidance; a `--budgets FILE.yaml` mapping of the same names overrides
them for a run, and a flow file's own `lint:` section overrides both for its line. Example:

    budgets = load_budgets(Path("budgets.yaml"))        # {max_options: 6}
    budgets = budgets.override(flow.lint, flow.file, "lint")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ivr.engine.errors import FlowError, FlowErrors
from ivr.engine.yaml_source import load_yaml

#: Speaking rates SSML names, as a share of the medium rate.
_NAMED_RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "fast": 1.2, "x-fast": 1.5}


@dataclass(frozen=True)
class Budgets:
    """What a line may ask of a caller: options, words, seconds and levels."""

    max_options: int = 5  # topical options per menu; 0, 9, * and # aside
    max_words_before_first_choice: int = 30
    max_menu_seconds: float = 20.0  # an instructional prompt (a menu or an entry)
    max_info_seconds: float = 35.0  # an information leaf
    max_depth: int = 3  # menu levels; the start document's menu is level 1
    words_per_minute: float = 150.0  # before the line's own pace.rate

    def override(self, data: Any, file: str, section: str | None = None) -> Budgets:
        """Return these budgets with `data`'s values; raise FlowErrors naming file and field."""
        where = f"{section}." if section else ""
        if data is None:
            return self
        if not isinstance(data, dict):
            raise FlowErrors(
                [
                    FlowError(
                        file,
                        "must be a mapping of budget names to numbers, such as {max_options: 5}",
                        field=section,
                    )
                ]
            )
        known = {f.name: f for f in fields(self)}
        errors: list[FlowError] = []
        values: dict[str, Any] = {}
        for name, value in data.items():
            spec = known.get(str(name))
            if spec is None:
                errors.append(
                    FlowError(file, f"unknown budget; budgets: {', '.join(known)}", field=f"{where}{name}")
                )
                continue
            whole = spec.type == "int"
            number_ok = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
            if not number_ok or value <= 0:
                kind = "a whole number" if whole else "a number"
                errors.append(FlowError(file, f"must be {kind} above 0", field=f"{where}{name}"))
                continue
            values[str(name)] = value if whole else float(value)
        if errors:
            raise FlowErrors(errors)
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_budgets(path: Path, base: Budgets | None = None) -> Budgets:
    """Read a budgets file (a mapping of budget names); raise FlowErrors naming file and field."""
    try:
        data = load_yaml(path)
    except FlowError as exc:
        raise FlowErrors([exc]) from exc
    return (base or Budgets()).override(data, str(path))


def speaking_rate(rate: str | None) -> float:
    """A line's SSML prosody rate as a factor of the normal rate: '85%' -> 0.85, None -> 1."""
    if rate is None:
        return 1.0
    if rate.endswith("%"):
        return float(rate[:-1]) / 100
    return _NAMED_RATES.get(rate, 1.0)
