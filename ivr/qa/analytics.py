"""Figures for trainers from a line's call records: outcomes, choices, hang-ups and retries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ivr.engine.flow import KEY_TRIGGERS, Flow, key_for_trigger
from ivr.engine.store import CallEvent, CallRecord

_SPOKEN = 'said "'
_HUNG_UP = "hung up in "


def line_analytics(records: list[CallRecord], flow: Flow) -> dict[str, Any]:
    """Summarise the calls of `flow`'s line (other lines' records are left out) as plain data.

    `records` should carry their events (`SessionStore.get_call`); a record without events
    counts in `calls`, `outcomes` and `languages` only. Keys of the result:

    - calls, outcomes {outcome: n} ("in progress" for a call not ended), outcome_kinds
      {transfer|goodbye|closed|hung up|in progress: n}, transfers {desk: n}
    - choices {menu state: {total, options: {key: {count, spoken, dests {state: n}, label}}}}:
      what callers chose at each menu, by key, `spoken` of them by speech
    - hangups {state: n}: where callers hung up
    - retries {state: {no_input, invalid, invalid_entry, failover}}: failures per state;
      `failover` counts those that sent the caller to a person
    - steps {average, min, max} (inputs per call) and duration_seconds {average, min, max,
      measured} of ended calls, or None when no call qualifies
    - languages {lang: n} (the language each call ended in) and switched_language (calls that
      changed language)
    """
    calls = [r for r in records if r.line == flow.name]
    outcomes = Counter(r.outcome or "in progress" for r in calls)
    kinds = Counter(_kind(outcome) for outcome in (r.outcome for r in calls))
    transfers = Counter(
        r.outcome.split(":", 1)[1] for r in calls if r.outcome and r.outcome.startswith("transfer:")
    )
    hangups = Counter(
        r.outcome[len(_HUNG_UP) :] for r in calls if r.outcome and r.outcome.startswith(_HUNG_UP)
    )
    with_events = [r for r in calls if r.events]
    steps = [sum(1 for e in r.events if e.trigger != "start") for r in with_events]
    durations = [r.ended_at - r.started_at for r in calls if r.ended_at is not None]
    return {
        "line": flow.name,
        "title": flow.title,
        "calls": len(calls),
        "calls_with_events": len(with_events),
        "outcomes": dict(outcomes.most_common()),
        "outcome_kinds": dict(kinds.most_common()),
        "transfers": dict(transfers.most_common()),
        "choices": _choices(with_events, flow),
        "hangups": dict(hangups.most_common()),
        "retries": _retries(with_events, flow),
        "steps": _spread(steps),
        "duration_seconds": _spread(durations, measured=True),
        "languages": dict(Counter(r.lang for r in calls).most_common()),
        "switched_language": sum(1 for r in with_events if len({e.lang for e in r.events}) > 1),
    }


def _kind(outcome: str | None) -> str:
    if outcome is None:
        return "in progress"
    if outcome.startswith(_HUNG_UP):
        return "hung up"
    return outcome.split(":", 1)[0]


def _choices(records: list[CallRecord], flow: Flow) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for event in (e for r in records for e in r.events):
        key = key_for_trigger(event.trigger)
        if key is None:
            continue
        entry = table.setdefault(event.source, {"total": 0, "options": {}})
        option = entry["options"].setdefault(key, {"count": 0, "spoken": 0, "dests": {}, "label": ""})
        entry["total"] += 1
        option["count"] += 1
        option["spoken"] += event.input.startswith(_SPOKEN)
        option["dests"][event.dest] = option["dests"].get(event.dest, 0) + 1
    order = {name: i for i, name in enumerate(flow.states)}
    keys = list(KEY_TRIGGERS)
    out: dict[str, Any] = {}
    for state in sorted(table, key=lambda s: order.get(s, len(order))):
        options = table[state]["options"]
        for key, option in options.items():
            dest = max(option["dests"], key=option["dests"].__getitem__)
            option["label"] = f"{key} → {dest}" if dest != state else f"{key} (stays)"
        ordered = {k: options[k] for k in sorted(options, key=keys.index)}
        out[state] = {"total": table[state]["total"], "options": ordered}
    return out


def _retries(records: list[CallRecord], flow: Flow) -> dict[str, dict[str, int]]:
    success = _entry_success(flow)
    table: dict[str, Counter[str]] = {}
    for event in (e for r in records for e in r.events):
        kind = _failure(event, success)
        if kind is None:
            continue
        counts = table.setdefault(event.source, Counter())
        counts[kind] += 1
        spec = flow.states.get(event.dest)
        # To a person only: silence after an information leaf ends the call politely (goodbye).
        if spec is not None and spec.type == "transfer" and event.dest != event.source:
            counts["failover"] += 1
    order = {name: i for i, name in enumerate(flow.states)}
    return {
        state: {k: table[state][k] for k in ("no_input", "invalid", "invalid_entry", "failover")}
        for state in sorted(table, key=lambda s: order.get(s, len(order)))
    }


def _failure(event: CallEvent, success: dict[str, str]) -> str | None:
    if event.trigger in ("no_input", "invalid"):
        return event.trigger
    if event.trigger == "entry" and event.dest != success.get(event.source):
        return "invalid_entry"
    return None


def _entry_success(flow: Flow) -> dict[str, str]:
    """Where a good entry leads from each entry state: the dest of its first `entry` transition."""
    out: dict[str, str] = {}
    for edge in flow.edges:
        if edge.trigger == "entry":
            out.setdefault(edge.source, edge.dest)
    return out


def _spread(values: list[int] | list[float], *, measured: bool = False) -> dict[str, float] | None:
    if not values:
        return None
    out = {"average": round(sum(values) / len(values), 2), "min": min(values), "max": max(values)}
    return {**out, "measured": len(values)} if measured else out
