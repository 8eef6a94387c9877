"""A flow's states as StateSpecs: what the schema cannot check alone (type, gather, desk)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ivr.engine.flow import MENU_TYPES, GatherSpec, Pace, StateSpec
from ivr.engine.flow_report import FlowReport
from ivr.engine.flow_schema import NAME, State


def build_states(
    models: list[State],
    kept: list[int] | None,
    raw: dict[str, Any],
    pace: Pace,
    report: FlowReport,
) -> dict[str, StateSpec]:
    """The states the schema accepted, as StateSpecs; `kept` maps each to its raw index."""
    states: dict[str, StateSpec] = {}
    seen: set[str] = set()
    duplicates: set[int] = set()
    for index, item in enumerate(raw["states"] if isinstance(raw.get("states"), list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in seen:
            report.add(("states", index, "name"), "duplicate state name")
            duplicates.add(index)
        seen.add(str(name))
    for index, state in zip(kept or range(len(models)), models, strict=True):
        where = ("states", index)
        if index in duplicates:
            continue
        gather = _gather(state, report, where)
        desk = state.desk
        if state.type == "transfer" and not (isinstance(desk, str) and NAME.match(desk)):
            report.add((*where, "desk"), "a transfer needs a desk name, such as representative")
        prompt = state.prompt or {} if state.type != "start" else {}
        states[state.name] = _paced(
            StateSpec(
                name=state.name,
                type=state.type,
                prompt=prompt,
                reprompt=state.reprompt or prompt,
                speech=state.speech,
                gather=gather,
                desk=desk if isinstance(desk, str) else None,
                secret=state.secret,
                confirm=state.confirm or {},
                offer_language=state.offer_language,
            ),
            pace,
        )
    return states


def _gather(state: State, report: FlowReport, where: tuple[Any, ...]) -> GatherSpec | None:
    given = state.gather
    if state.type in MENU_TYPES:
        if given is not None:
            report.add((*where, "gather"), f"a {state.type} takes one key; only entry states set gather")
        return GatherSpec()
    if state.type != "entry":
        if given is not None:
            report.add((*where, "gather"), f"a {state.type} state takes no input")
        return None
    num = given.num_digits if given else None
    finish = given.finish_on_key if given else "#"
    if num is None and finish == "":
        report.add((*where, "gather"), "needs num_digits or a finish_on_key")
    return GatherSpec(
        input="dtmf",
        num_digits=num,
        finish_on_key=finish,
        timeout=(given.timeout if given else None) or 0,  # 0: the line's pace decides
        max_digits=(given.max_digits if given else None) or num or 20,
    )


def _paced(spec: StateSpec, pace: Pace) -> StateSpec:
    """Give a state's Gather the line's timeout unless the state set its own."""
    if spec.gather is None:
        return spec
    if spec.type in MENU_TYPES:
        return replace(spec, gather=replace(spec.gather, timeout=pace.timeout))
    if not spec.gather.timeout:
        return replace(spec, gather=replace(spec.gather, timeout=pace.entry_timeout))
    return spec
