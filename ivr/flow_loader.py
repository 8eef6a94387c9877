"""Turn a flow file (YAML) into a validated Flow, or fail naming the file, state and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import markup
from .call import ACTIONS, CONDITIONS
from .config import E164, normalize_number
from .errors import FlowError, FlowErrors
from .flow import (
    KEY_TRIGGERS,
    LANGUAGE,
    MENU_TYPES,
    REPEAT,
    REQUIRED_MESSAGES,
    STATE_TYPES,
    TRIGGERS,
    Edge,
    Flow,
    GatherSpec,
    Hours,
    Pace,
    StateSpec,
)
from .flow_checks import check_graph
from .hours import DAY_NAMES
from .yaml_source import load_yaml

TOP_KEYS = frozenset(
    [
        "name", "title", "description", "extends", "languages", "initial", "states",
        "transitions", "messages", "speech", "greeting", "hours", "extra_states",
        "extra_transitions", "warning", "numbers", "keys", "pace", "failover", "finished", "lint",
    ]
)  # fmt: skip
STATE_KEYS = frozenset(
    ["name", "type", "prompt", "reprompt", "speech", "gather", "desk", "secret", "description",
     "confirm", "offer_language"]
)  # fmt: skip
PACE_KEYS = frozenset(["timeout", "entry_timeout", "rate"])
_RATE = re.compile(r"^([5-9][0-9]|1[0-9][0-9]|200)%$|^(x-slow|slow|medium|fast|x-fast)$")
TRANSITION_KEYS = frozenset(["trigger", "source", "dest", "conditions", "unless", "before", "after"])
GATHER_KEYS = frozenset(["input", "num_digits", "finish_on_key", "timeout", "max_digits"])
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class _Collector:
    """Gathers every problem of one file so a person sees them all at once."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[FlowError] = []

    def add(self, message: str, *, state: str | None = None, field: str | None = None) -> None:
        self.errors.append(FlowError(self.file, message, state=state, field=field))


def load_flow(path: Path) -> Flow:
    """Load and validate one flow file; raise FlowErrors listing every problem found."""
    errors = _Collector(str(path))
    try:
        raw = _load_raw(path, (), errors.errors)
    except FlowError as exc:  # unreadable, not YAML, or a broken `extends`: nothing to check
        raise FlowErrors([*errors.errors, exc]) from exc
    flow = _build(raw, path, errors)
    if flow is not None:
        for message, state, field in check_graph(flow):
            errors.add(message, state=state, field=field)
    if errors.errors:
        raise FlowErrors(errors.errors)
    assert flow is not None
    return flow


def _load_raw(path: Path, seen: tuple[Path, ...], problems: list[FlowError]) -> dict[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise FlowError(str(path), "the file must be a mapping of flow fields")
    parent_name = data.get("extends")
    if parent_name is None:
        return data
    parent_path = (path.parent / str(parent_name)).resolve()
    if parent_path == path.resolve():
        raise FlowError(str(path), "extends itself", field="extends")
    if parent_path in seen:
        raise FlowError(
            str(path), f"extends '{parent_name}', which leads back to this file", field="extends"
        )
    if not parent_path.is_file():
        raise FlowError(str(path), f"extends '{parent_name}', which does not exist", field="extends")
    parent = _load_raw(parent_path, (*seen, path.resolve()), problems)
    # The child's own fields win; its name is its own (or its file's), never the parent's,
    # so two lines never share a name.
    # Nor its numbers: each line is reached by numbers of its own.
    merged = {k: v for k, v in parent.items()
              if k not in ("name", "numbers", "extra_states", "extra_transitions")}  # fmt: skip
    merged.update({k: v for k, v in data.items() if k != "extends"})
    # A child's extra transitions go first: they are tried before the parent's for a trigger.
    # A child that gives its own states or transitions replaces the parent's.
    for key, extra_key, extra_first in (("states", "extra_states", False),
                                        ("transitions", "extra_transitions", True)):  # fmt: skip
        base = data[key] if key in data else parent.get(key)
        extra = data.get(extra_key)
        merged.pop(extra_key, None)
        if extra is not None and not isinstance(extra, list):
            problems.append(FlowError(str(path), f"must be a list of {key}", field=extra_key))
            extra = None
        if base is not None and not isinstance(base, list):
            merged[key] = base  # reported by the checks of `key`
            continue
        merged[key] = (extra or []) + (base or []) if extra_first else (base or []) + (extra or [])
    return merged


def _build(raw: dict[str, Any], path: Path, err: _Collector) -> Flow | None:
    for key in raw:
        if key not in TOP_KEYS:
            err.add(f"unknown field; expected one of {', '.join(sorted(TOP_KEYS))}", field=str(key))
        elif key in ("extra_states", "extra_transitions"):
            err.add("used only with extends: a file that extends another adds these", field=key)
    languages = raw.get("languages", ["en", "es"])
    if not (isinstance(languages, list) and languages and all(isinstance(x, str) for x in languages)):
        err.add("must be a list of language codes such as [en, es]", field="languages")
        languages = ["en"]
    langs = tuple(languages)
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        err.add("must be a lower-case identifier", field="name")
        name = path.stem
    declared: set[str] = set()  # every named state, even one too broken to build
    states = _states(raw.get("states"), langs, err, declared)
    initial = raw.get("initial")
    if not isinstance(initial, str) or initial not in declared:
        err.add(f"names no state of this flow: {initial!r}", field="initial")
    messages = _texts_table(raw.get("messages"), langs, err, "messages", REQUIRED_MESSAGES)
    greeting = _texts(raw.get("greeting", {lang: "" for lang in langs}), langs, err, None, "greeting")
    warning = _texts(raw.get("warning", {lang: "" for lang in langs}), langs, err, None, "warning")
    speech = _speech(raw.get("speech", {}), langs, err, None, "speech")
    pace = _pace(raw.get("pace"), err)
    states = {n: _paced(spec, pace) for n, spec in states.items()}
    keys = _key_map(raw.get("keys"), declared, langs, err)
    ends = {f: _state_ref(raw.get(f), declared, err, f) for f in ("failover", "finished")}
    if not isinstance(raw.get("transitions"), list):
        err.add("must be a non-empty list of transitions", field="transitions")
    generated = _generated(raw.get("transitions"), states, keys, ends, err)
    transitions, edges = _transitions(_as_list(raw.get("transitions")) + generated, declared, err)
    hours = _hours(raw.get("hours"), err)
    numbers = _numbers(raw.get("numbers"), err)
    lint = raw.get("lint", {})
    if not isinstance(lint, dict):
        err.add("must be a mapping of lint budgets, such as {max_options: 5}", field="lint")
        lint = {}
    title = raw.get("title", name)
    if err.errors or not isinstance(initial, str):
        return None
    return Flow(
        name=name,
        file=str(path),
        title=str(title),
        languages=langs,
        initial=initial,
        states=states,
        transitions=tuple(transitions),
        messages=messages,
        speech=speech,
        greeting=greeting,
        hours=hours,
        edges=tuple(edges),
        warning=warning,
        numbers=numbers,
        pace=pace,
        keys=keys,
        lint=lint,
    )


def _texts(
    value: Any, langs: tuple[str, ...], err: _Collector, state: str | None, field: str
) -> dict[str, str]:
    if not isinstance(value, dict):
        err.add(f"must map each language ({', '.join(langs)}) to a text", state=state, field=field)
        return {}
    out: dict[str, str] = {}
    for lang in langs:
        text = value.get(lang)
        if not isinstance(text, str) or (not text.strip() and field not in ("greeting", "warning")):
            err.add(f"missing the '{lang}' text", state=state, field=f"{field}.{lang}")
            continue
        try:
            markup.parse(text)
        except markup.MarkupError as exc:
            err.add(str(exc), state=state, field=f"{field}.{lang}")
        out[lang] = text.strip()
    for lang in value:
        if lang not in langs:
            err.add(f"language '{lang}' is not in the flow's languages", state=state, field=field)
    return out


def _texts_table(
    value: Any, langs: tuple[str, ...], err: _Collector, field: str, required: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        err.add("must map message names to texts by language", field=field)
        return {}
    for name in required:
        if name not in value:
            err.add("missing required message", field=f"{field}.{name}")
    return {str(k): _texts(v, langs, err, None, f"{field}.{k}") for k, v in value.items()}


def _speech(
    value: Any, langs: tuple[str, ...], err: _Collector, state: str | None, field: str
) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(value, dict):
        err.add("must map keys to words by language", state=state, field=field)
        return {}
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for key, words in value.items():
        key = str(key)
        if key not in KEY_TRIGGERS:
            err.add(f"'{key}' is not a phone key (0-9, *, #)", state=state, field=f"{field}.{key}")
            continue
        if not isinstance(words, dict):
            err.add("must map each language to a list of words", state=state, field=f"{field}.{key}")
            continue
        by_lang: dict[str, tuple[str, ...]] = {}
        for lang, phrases in words.items():
            if lang not in langs:
                err.add(f"language '{lang}' is not in the flow's languages", state=state,
                        field=f"{field}.{key}")  # fmt: skip
            elif not (isinstance(phrases, list) and all(isinstance(p, str) for p in phrases)):
                err.add("must be a list of words", state=state, field=f"{field}.{key}.{lang}")
            else:
                by_lang[lang] = tuple(p.strip() for p in phrases if p.strip())
        for lang in langs:
            if lang not in by_lang and state is not None:
                err.add(f"missing the '{lang}' words", state=state, field=f"{field}.{key}.{lang}")
        out[key] = by_lang
    return out


def _states(
    value: Any, langs: tuple[str, ...], err: _Collector, declared: set[str]
) -> dict[str, StateSpec]:
    if not isinstance(value, list) or not value:
        err.add("must be a non-empty list of states", field="states")
        return {}
    states: dict[str, StateSpec] = {}
    for index, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            err.add(f"state #{index + 1} must be a mapping with a 'name'", field="states")
            continue
        name = raw["name"]
        if name in declared:
            err.add("duplicate state name", state=name, field="name")
            continue
        declared.add(name)
        if not _NAME.match(name):
            err.add("must be a lower-case identifier", state=name, field="name")
        for key in raw:
            if key not in STATE_KEYS:
                err.add(f"unknown field; expected one of {', '.join(sorted(STATE_KEYS))}",
                        state=name, field=str(key))  # fmt: skip
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in STATE_TYPES:
            err.add(f"must be one of {', '.join(sorted(STATE_TYPES))}", state=name, field="type")
            continue
        prompt: dict[str, str] = {}
        if kind != "start":
            prompt = _texts(raw.get("prompt"), langs, err, name, "prompt")
        reprompt = _texts(raw["reprompt"], langs, err, name, "reprompt") if "reprompt" in raw else {}
        confirm = _texts(raw["confirm"], langs, err, name, "confirm") if "confirm" in raw else {}
        offer = raw.get("offer_language", False)
        if not isinstance(offer, bool):
            err.add("must be true or false", state=name, field="offer_language")
        speech = _speech(raw.get("speech", {}), langs, err, name, "speech")
        gather = _gather(raw.get("gather"), kind, err, name)
        desk = raw.get("desk")
        if kind == "transfer" and not (isinstance(desk, str) and _NAME.match(desk)):
            err.add("a transfer needs a desk name, such as representative", state=name, field="desk")
        states[name] = StateSpec(
            name=name,
            type=kind,
            prompt=prompt,
            reprompt=reprompt or prompt,
            speech=speech,
            gather=gather,
            desk=desk if isinstance(desk, str) else None,
            secret=bool(raw.get("secret", False)),
            confirm=confirm,
            offer_language=offer is True,
        )
    return states


def _gather(value: Any, kind: str, err: _Collector, state: str) -> GatherSpec | None:
    if kind in MENU_TYPES:
        if value is not None:
            err.add(f"a {kind} takes one key; only entry states set gather", state=state,
                    field="gather")  # fmt: skip
        return GatherSpec()
    if kind != "entry":
        if value is not None:
            err.add(f"a {kind} state takes no input", state=state, field="gather")
        return None
    value = value or {}
    if not isinstance(value, dict):
        err.add("must be a mapping", state=state, field="gather")
        return None
    for key in value:
        if key not in GATHER_KEYS:
            err.add(f"unknown field; expected one of {', '.join(sorted(GATHER_KEYS))}",
                    state=state, field=f"gather.{key}")  # fmt: skip
    finish = str(value.get("finish_on_key", "#"))
    if finish not in ("", "#", "*"):
        err.add("must be '#', '*' or ''", state=state, field="gather.finish_on_key")
    numbers: dict[str, int | None] = {}
    for field in ("num_digits", "timeout", "max_digits"):
        number = value.get(field)
        if number is not None and not (
            isinstance(number, int) and not isinstance(number, bool) and 0 < number <= 64
        ):
            err.add("must be a whole number from 1 to 64", state=state, field=f"gather.{field}")
            return None
        numbers[field] = number
    num = numbers["num_digits"]
    if num is None and finish == "":
        err.add("needs num_digits or a finish_on_key", state=state, field="gather")
    return GatherSpec(
        input="dtmf",
        num_digits=num,
        finish_on_key=finish,
        timeout=numbers["timeout"] or 0,  # 0: the line's pace decides
        max_digits=numbers["max_digits"] or num or 20,
    )


def _transitions(
    value: Any, states: set[str], err: _Collector
) -> tuple[list[dict[str, Any]], list[Edge]]:
    if not isinstance(value, list) or not value:
        err.add("must be a non-empty list of transitions", field="transitions")
        return [], []
    out: list[dict[str, Any]] = []
    edges: list[Edge] = []
    for index, raw in enumerate(value):
        where = f"transitions[{index}]"
        if not isinstance(raw, dict):
            err.add("must be a mapping with trigger, source and dest", field=where)
            continue
        sources = raw.get("source")
        source_list = sources if isinstance(sources, list) else [sources]
        # Errors of the transition as a whole name its source state when there is one.
        owner = sources if isinstance(sources, str) and sources in states else None
        for key in raw:
            if key not in TRANSITION_KEYS:
                err.add(f"unknown field; expected one of {', '.join(sorted(TRANSITION_KEYS))}",
                        state=owner, field=f"{where}.{key}")  # fmt: skip
        trigger = raw.get("trigger")
        if not isinstance(trigger, str) or trigger not in TRIGGERS:
            err.add(f"unknown trigger {trigger!r}; allowed: {', '.join(sorted(TRIGGERS))}",
                    state=owner, field=f"{where}.trigger")  # fmt: skip
            continue
        dest = raw.get("dest")
        callbacks: dict[str, tuple[str, ...]] = {}
        for field, allowed in (("conditions", CONDITIONS), ("unless", CONDITIONS),
                               ("before", ACTIONS), ("after", ACTIONS)):  # fmt: skip
            names = raw.get(field, [])
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list):
                err.add("must be a name or a list of names", state=owner, field=f"{where}.{field}")
                names = []
            for cb in names:
                if not isinstance(cb, str) or cb not in allowed:
                    err.add(f"'{cb}' is not an allowed callback; allowed: "
                            + ", ".join(sorted(allowed)), state=owner,
                            field=f"{where}.{field}")  # fmt: skip
            callbacks[field] = tuple(str(n) for n in names)
        for source in source_list:
            if not isinstance(source, str) or source not in states:
                err.add(f"unknown source state {source!r}",
                        state=source if isinstance(source, str) else None,
                        field=f"{where}.source")  # fmt: skip
                continue
            target = source if dest == "=" else dest
            if not isinstance(target, str) or target not in states:
                err.add(f"unknown target state {dest!r}", state=source, field=f"{where}.dest")
                continue
            edges.append(
                Edge(str(trigger), source, str(target), callbacks["conditions"],
                     callbacks["unless"], callbacks["after"] + callbacks["before"])  # fmt: skip
            )
        clean = {k: v for k, v in raw.items() if k in TRANSITION_KEYS}
        out.append(clean)
    return out, edges


def _hours(value: Any, err: _Collector) -> Hours | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        err.add("must be a mapping with timezone, days, open and close", field="hours")
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tz = value.get("timezone", "America/Chicago")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as America
        err.add(f"unknown time zone {tz!r}", field="hours.timezone")
    days = value.get("days", list(DAY_NAMES))
    day_numbers: set[int] = set()
    if days == []:
        err.add("needs at least one day, such as [mon, tue, wed, thu, fri]", field="hours.days")
    for day in days if isinstance(days, list) else [days]:
        key = str(day).strip().lower()
        if key in DAY_NAMES or key in _FULL_DAY_NAMES:
            day_numbers.add(DAY_NAMES.index(key[:3]))
        else:
            err.add(f"unknown day {day!r}; use mon..sun", field="hours.days")
    minutes = []
    for field in ("open", "close"):
        match = _TIME.match(str(value.get(field, "")))
        if not match:
            err.add("must be a 24-hour time such as 08:00", field=f"hours.{field}")
            return None
        minutes.append(int(match.group(1)) * 60 + int(match.group(2)))
    if minutes[0] >= minutes[1]:
        err.add("must be later than hours.open", field="hours.close")
    return Hours(str(tz), frozenset(day_numbers), minutes[0], minutes[1])


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _pace(value: Any, err: _Collector) -> Pace:
    if value is None:
        return Pace()
    if not isinstance(value, dict):
        err.add("must be a mapping with timeout, entry_timeout and rate", field="pace")
        return Pace()
    for key in value:
        if key not in PACE_KEYS:
            err.add(f"unknown field; expected one of {', '.join(sorted(PACE_KEYS))}", field=f"pace.{key}")
    out: dict[str, int] = {}
    for key, default in (("timeout", Pace.timeout), ("entry_timeout", Pace.entry_timeout)):
        number = value.get(key, default)
        if not (isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 60):
            err.add("must be a whole number of seconds from 1 to 60", field=f"pace.{key}")
            number = default
        out[key] = number
    rate = value.get("rate")
    if rate is not None and not (isinstance(rate, str) and _RATE.match(rate)):
        err.add("must be a speaking rate such as 85% (50%-200%) or slow", field="pace.rate")
        rate = None
    return Pace(out["timeout"], out["entry_timeout"], rate)


def _paced(spec: StateSpec, pace: Pace) -> StateSpec:
    """Give a state's Gather the line's timeout unless the state set its own."""
    from dataclasses import replace

    if spec.gather is None:
        return spec
    if spec.type in MENU_TYPES:
        return replace(spec, gather=replace(spec.gather, timeout=pace.timeout))
    if not spec.gather.timeout:
        return replace(spec, gather=replace(spec.gather, timeout=pace.entry_timeout))
    return spec


def _key_map(value: Any, states: set[str], langs: tuple[str, ...], err: _Collector) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        err.add("must map keys (0-9, *, #) to a state, repeat or language", field="keys")
        return {}
    out: dict[str, str] = {}
    for key, meaning in value.items():
        key = str(key)
        if key not in KEY_TRIGGERS:
            err.add(f"'{key}' is not a phone key (0-9, *, #)", field=f"keys.{key}")
        elif meaning == LANGUAGE and len(langs) < 2:
            err.add("a one-language line has no language to switch to", field=f"keys.{key}")
        elif meaning not in (REPEAT, LANGUAGE) and meaning not in states:
            err.add(f"must be a state of this flow, '{REPEAT}' or '{LANGUAGE}'; got {meaning!r}",
                    field=f"keys.{key}")  # fmt: skip
        else:
            out[key] = str(meaning)
    return out


def _state_ref(value: Any, states: set[str], err: _Collector, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in states:
        err.add(f"names no state of this flow: {value!r}", field=field)
        return None
    return value


def _generated(
    raw_transitions: Any, states: dict[str, StateSpec], keys: dict[str, str],
    ends: dict[str, str | None], err: _Collector,
) -> list[dict[str, Any]]:  # fmt: skip
    """Transitions the key map and the retry rules add to states that do not declare them.

    Each key of the key map means the same at every menu and information leaf; a failed try is
    retried, and the last one goes to `failover` (at an information leaf, silence means the
    caller is done: `finished`).
    """
    declared: set[tuple[str, str]] = set()
    for raw in _as_list(raw_transitions):
        if isinstance(raw, dict):
            sources = raw.get("source")
            for source in sources if isinstance(sources, list) else [sources]:
                declared.add((str(raw.get("trigger")), str(source)))
    wanted: dict[tuple[str, str, str | None], list[str]] = {}

    def want(trigger: str, state: str, dest: str, after: str | None = None) -> None:
        if (trigger, state) not in declared:
            wanted.setdefault((trigger, dest, after), []).append(state)

    retry: dict[tuple[str, str], list[str]] = {}
    for name, spec in states.items():
        if spec.type in MENU_TYPES:
            for key, meaning in keys.items():
                trigger = KEY_TRIGGERS[key]
                if meaning == REPEAT:
                    want(trigger, name, "=")
                elif meaning == LANGUAGE:
                    want(trigger, name, "=", "toggle_language")
                else:
                    want(trigger, name, meaning)
        if spec.type in MENU_TYPES or spec.type == "entry":
            for trigger in ("no_input", "invalid") if spec.type != "entry" else ("no_input",):
                if (trigger, name) in declared:
                    continue
                last = ends["finished"] if spec.type == "info" and trigger == "no_input" else None
                last = last or ends["failover"]
                if last is None:
                    err.add(f"has no '{trigger}' transition; declare one, or give the flow a "
                            "`failover` state for the last failed try", state=name,
                            field="transitions")  # fmt: skip
                    continue
                retry.setdefault((trigger, last), []).append(name)
    out: list[dict[str, Any]] = []
    for (trigger, dest, after), sources in wanted.items():
        item: dict[str, Any] = {"trigger": trigger, "source": sources, "dest": dest}
        if after:
            item["after"] = after
        out.append(item)
    for (trigger, last), sources in retry.items():
        out.append({"trigger": trigger, "source": sources, "dest": "=", "conditions": "can_retry",
                    "after": "count_failure"})  # fmt: skip
        out.append({"trigger": trigger, "source": sources, "dest": last})
    return out


def _numbers(value: Any, err: _Collector) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        err.add("must be a list of phone numbers such as ['+18002372765']", field="numbers")
        return ()
    out: list[str] = []
    for number in value:
        normal = normalize_number(str(number))
        if not E164.match(normal):
            err.add(f"{number!r} is not a phone number in E.164 form", field="numbers")
        else:
            out.append(normal)
    return tuple(out)
