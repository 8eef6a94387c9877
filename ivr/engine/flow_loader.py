"""Turn a flow file (YAML) into a validated Flow, or fail naming the file, line, state and field.

Three passes: `ivr.flow_schema` checks the shape of every field; the checks here need the
whole flow (state names, callbacks from the allow-list, the key map, the generated
transitions); `ivr.flow_checks` checks the graph of a flow that passed both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivr.engine.call import ACTIONS, CONDITIONS
from ivr.engine.errors import FlowError, FlowErrors
from ivr.engine.flow import LANGUAGE, REPEAT, REQUIRED_MESSAGES, Edge, Flow, Hours, Pace
from ivr.engine.flow_checks import check_graph
from ivr.engine.flow_extends import load_document
from ivr.engine.flow_generated import generated_transitions
from ivr.engine.flow_report import FlowReport
from ivr.engine.flow_schema import FlowFile, Transition
from ivr.engine.flow_states import build_states
from ivr.engine.schema_errors import issues
from ivr.engine.yaml_source import Marks

#: Fields whose items are pruned one by one when the schema refuses them (see `_validate`).
_COLLECTIONS = (
    "states",
    "transitions",
    "extra_states",
    "extra_transitions",
    "messages",
    "speech",
    "keys",
    "lint",
)
_CALLBACKS = (("conditions", CONDITIONS), ("unless", CONDITIONS), ("before", ACTIONS), ("after", ACTIONS))


def load_flow(path: Path) -> Flow:
    """Load and validate one flow file; raise FlowErrors listing every problem found."""
    marks = Marks()
    problems: list[FlowError] = []
    try:
        raw = load_document(path, marks, problems)
    except FlowError as exc:  # unreadable, not YAML, or a broken `extends`: nothing to check
        raise FlowErrors([*problems, exc]) from exc
    report = FlowReport(str(path), raw, marks)
    report.errors.extend(problems)
    flow = _build(raw, path, report)
    if flow is not None:
        for message, state, field in check_graph(flow):
            report.at_state(state, field, message)
    if report.errors:
        raise FlowErrors(report.errors)
    assert flow is not None
    return flow


def _validate(
    raw: dict[str, Any], langs: tuple[str, ...], report: FlowReport
) -> tuple[FlowFile | None, dict[str, list[int]]]:
    """The schema's view of the file, and for each list the raw index of each item kept.

    Every problem of the shape is reported. So that one broken state or transition does not
    hide the problems the later checks would find, the items the schema refused are left out
    and the rest is validated again.
    """
    context = {"languages": langs}
    try:
        return FlowFile.model_validate(raw, context=context), {}
    except ValidationError as exc:
        found = issues(exc, FlowFile, _unknown)
    for issue in found:
        report.issue(issue)
    pruned, kept = dict(raw), {}
    cut: dict[str, set[Any]] = {}
    for issue in found:
        head = issue.path[:1]
        if len(issue.path) >= 2 and head[0] in _COLLECTIONS and isinstance(raw.get(head[0]), list | dict):
            cut.setdefault(head[0], set()).add(issue.path[1])
        elif head:
            pruned.pop(head[0], None)
        else:
            return None, {}
    for key, bad in cut.items():
        if isinstance(raw[key], list) and key in pruned:
            kept[key] = [i for i in range(len(raw[key])) if i not in bad]
            pruned[key] = [raw[key][i] for i in kept[key]]
        elif key in pruned:
            pruned[key] = {k: v for k, v in raw[key].items() if k not in bad}
    try:
        return FlowFile.model_validate(pruned, context=context), kept
    except ValidationError:
        return None, {}


def _unknown(key: Any, known: tuple[str, ...]) -> str:
    return f"unknown field; expected one of {', '.join(sorted(known))}"


def _build(raw: dict[str, Any], path: Path, report: FlowReport) -> Flow | None:
    languages = raw.get("languages", ["en", "es"])
    valid = isinstance(languages, list) and languages and all(isinstance(x, str) for x in languages)
    langs = tuple(languages) if valid else ("en",)
    model, kept = _validate(raw, langs, report)
    for key in ("extra_states", "extra_transitions"):
        if key in raw:
            report.add((key,), "used only with extends: a file that extends another adds these")
    if "states" not in raw or raw["states"] == []:
        report.add(("states",), "must be a non-empty list of states")
    initial = raw.get("initial")
    if not isinstance(initial, str) or initial not in report.states:
        report.add(("initial",), f"names no state of this flow: {initial!r}")
    messages = raw.get("messages")
    missing = [n for n in REQUIRED_MESSAGES if n not in messages] if isinstance(messages, dict) else []
    for name in missing:
        report.add(("messages",), "missing required message", field=f"messages.{name}")
    for key in ("failover", "finished"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or value not in report.states):
            report.add((key,), f"names no state of this flow: {value!r}")
    if model is None:
        return None
    pace = Pace(**model.pace.model_dump()) if model.pace else Pace()
    states = build_states(model.states, kept.get("states"), raw, pace, report)
    keys = _key_map(model.keys, langs, report)
    ends = {
        f: v if isinstance(v, str) and v in report.states else None
        for f in ("failover", "finished")
        for v in [getattr(model, f)]
    }
    declared = _declared(raw.get("transitions"))
    generated, problems = generated_transitions(declared, states, keys, ends)
    for message, state, field in problems:
        report.at_state(state, field, message)
    user = [
        (i, raw["transitions"][i], t)
        for i, t in zip(
            kept.get("transitions", range(len(model.transitions))), model.transitions, strict=True
        )
    ]
    made = [(None, g, Transition.model_validate(g)) for g in generated]
    if "transitions" not in raw or not user + made:
        report.add(("transitions",), "must be a non-empty list of transitions")
    edges = [e for index, item, t in user + made for e in _edges(index, item, t, report)]
    if report.errors or not isinstance(initial, str):
        return None
    name = model.name or path.stem
    hours = None
    if model.hours is not None:
        hours = Hours(model.hours.timezone, model.hours.days, model.hours.open, model.hours.close)
    return Flow(
        name=name,
        file=str(path),
        title=str(model.title if model.title is not None else name),
        languages=langs,
        initial=initial,
        states=states,
        transitions=tuple(
            {k: v for k, v in item.items() if k in Transition.model_fields} for _, item, _ in user + made
        ),
        messages=dict(model.messages),
        speech=model.speech,
        greeting=model.greeting if model.greeting is not None else dict.fromkeys(langs, ""),
        hours=hours,
        edges=tuple(edges),
        warning=model.warning if model.warning is not None else dict.fromkeys(langs, ""),
        numbers=model.numbers,
        pace=pace,
        keys=keys,
        lint=model.lint,
    )


def _key_map(value: dict[str, Any], langs: tuple[str, ...], report: FlowReport) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, meaning in value.items():
        if meaning == LANGUAGE and len(langs) < 2:
            report.add(("keys", key), "a one-language line has no language to switch to")
        elif meaning not in (REPEAT, LANGUAGE) and meaning not in report.states:
            report.add(
                ("keys", key), f"must be a state of this flow, '{REPEAT}' or '{LANGUAGE}'; got {meaning!r}"
            )
        else:
            out[key] = str(meaning)
    return out


def _declared(raw_transitions: Any) -> set[tuple[str, str]]:
    """The (trigger, source) pairs a file writes itself, even in a transition too broken to use."""
    declared: set[tuple[str, str]] = set()
    for raw in raw_transitions if isinstance(raw_transitions, list) else []:
        if isinstance(raw, dict):
            sources = raw.get("source")
            for source in sources if isinstance(sources, list) else [sources]:
                declared.add((str(raw.get("trigger")), str(source)))
    return declared


def _edges(index: int | None, raw: dict[str, Any], t: Transition, report: FlowReport) -> list[Edge]:
    """The edges of one transition (one per source), reporting names that are not allowed."""
    where: tuple[Any, ...] = ("transitions", index) if index is not None else ()
    owner = report.owner(raw)
    for field, allowed in _CALLBACKS:
        for name in getattr(t, field):
            if name not in allowed:
                report.add(
                    (*where, field),
                    f"'{name}' is not an allowed callback; allowed: " + ", ".join(sorted(allowed)),
                    state=owner,
                )
    edges: list[Edge] = []
    listed = isinstance(raw.get("source"), list)
    for number, source in enumerate(t.source):
        if source not in report.states:
            report.add(
                (*where, "source", number) if listed else (*where, "source"),
                f"unknown source state {source!r}",
                state=source,
                field=report.describe((*where, "source"))[1],
            )
            continue
        target = source if t.dest == "=" else t.dest
        if target not in report.states:
            report.add((*where, "dest"), f"unknown target state {t.dest!r}", state=source)
            continue
        edges.append(Edge(t.trigger, source, target, t.conditions, t.unless, t.before + t.after))
    return edges
