"""What the trainer page shows: lines, call records and live transcripts as plain JSON data."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr import CallEvent, CallRecord, Engine, Flow, SessionStore, key_for_trigger, plural
from ivr import heard as heard_text

from .live_calls import LiveCall, sim_outcome

#: A number for the default line when no number is configured for it (any number reaches it).
FALLBACK_NUMBER = "+15555550100"
#: The zone every line's clock runs in unless its hours name another: display times use it.
CLOCK_ZONE = "America/Chicago"
_DESKS = {
    "representative": "a representative",
    "pharmacist": "a pharmacist",
    "medicare": "the Medicare team",
    "international": "the international desk",
    "specialty": "the specialty team",
    "specialty_pharmacist": "a specialty pharmacist",
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# -- lines -----------------------------------------------------------------------------------


def line_numbers(engine: Engine) -> dict[str, str]:
    """The number a page call dials to reach each line (the first one configured for it)."""
    numbers = engine.flows.numbers()
    numbers.setdefault(engine.flows.default, FALLBACK_NUMBER)
    return numbers


def lines(engine: Engine) -> list[dict[str, Any]]:
    numbers = line_numbers(engine)
    out = []
    for name in engine.flows.names():
        flow = engine.flows.get(name).machine.flow
        out.append(
            {
                "name": name,
                "title": flow.title,
                "number": numbers.get(name),
                "languages": list(flow.languages),
                "hours": _hours(flow),
                "locales": {
                    lang: engine.config.voices[lang][1]
                    for lang in flow.languages
                    if lang in engine.config.voices
                },
            }
        )
    return out


def _hours(flow: Flow) -> str | None:
    hours = flow.hours
    if hours is None:
        return None
    days = [_DAYS[d] for d in sorted(hours.days)]
    span = f"{days[0]}–{days[-1]}" if len(days) > 2 else ", ".join(days)
    return f"{span} {_hhmm(hours.open_minute)}–{_hhmm(hours.close_minute)} ({hours.timezone})"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# -- call records (any call: a real phone, a page call, a test) -------------------------------


def call_summary(record: CallRecord, *, page_call: bool = False, zone: str = CLOCK_ZONE) -> dict[str, Any]:
    """One row of the history: where the call went and how it ended (inputs already masked).

    Times are epoch seconds, and for display in the line's clock zone (`*_local`, Central).
    """
    end = record.ended_at if record.ended_at is not None else record.updated_at
    return {
        "call_sid": record.call_sid,
        "line": record.line,
        "reference": record.reference,
        "caller": record.caller,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "started_local": local_time(record.started_at, zone),
        "ended_local": local_time(record.ended_at, zone) if record.ended_at is not None else None,
        "time_zone": zone,
        "duration": round(max(end - record.started_at, 0.0), 1),
        "status": record.status,
        "in_progress": record.ended_at is None,
        "outcome": record.outcome,
        "outcome_label": outcome_label(record.outcome),
        "state": record.state,
        "lang": record.lang,
        "path": path(record.events),
        "page_call": page_call,
    }


def clock_zone(flow: Flow) -> str:
    """The zone of a line's clock (its opening hours'), in which the page shows times."""
    return flow.hours.timezone if flow.hours is not None else CLOCK_ZONE


def local_time(at: float, zone: str = CLOCK_ZONE) -> dict[str, str]:
    """An instant for display in the line's zone: ISO 8601 with offset, and short words."""
    moment = datetime.fromtimestamp(at, ZoneInfo(zone))
    return {
        "iso": moment.isoformat(timespec="seconds"),
        "time": moment.strftime("%H:%M:%S"),
        "text": moment.strftime("%a %d %b %Y, %H:%M:%S %Z"),
    }


def path(events: list[CallEvent]) -> list[str]:
    """The states a call went through, a retry in the same state counted once."""
    states = [events[0].source] if events else []
    for event in events:
        if event.dest != states[-1]:
            states.append(event.dest)
    return states


def outcome_label(outcome: str | None) -> str:
    if not outcome:
        return "in the menu"
    kind, _, rest = outcome.partition(":")
    if kind == "transfer":
        return f"transferred to {_DESKS.get(rest, 'the ' + rest.replace('_', ' ') + ' desk')}"
    if outcome == "closed":
        return "closed (outside hours)"
    return outcome.replace("_", " ")


def call_steps(record: CallRecord, flow: Flow, last: int | None = None) -> list[dict[str, Any]]:
    """Each step of a record with what the caller heard in answer, for follow and replay.

    `heard` is the words the engine kept with the step (masked where they read back an ID or a
    date of birth); `last` keeps only the last steps (each keeps its `index`). Records older
    than those words get the reached state's prompt instead, rendered from the flow
    (`approximate`: retry notices and per-call values are missing).
    """
    zone = clock_zone(flow)
    steps = []
    previous_lang = record.events[0].lang if record.events else record.lang
    greeted: set[str] = set()
    first = max(len(record.events) - last, 0) if last is not None else 0
    for index, event in enumerate(record.events):
        greeting = event.lang not in greeted and (event.trigger == "start" or event.lang != previous_lang)
        greeted.add(event.lang)
        if index < first:  # only the last steps are asked for: nothing more to build
            previous_lang = event.lang
            continue
        spec = flow.states.get(event.dest)
        steps.append(
            {
                "index": index,
                "at": event.at,
                "trigger": event.trigger,
                "input": _event_input(event),
                "input_lang": previous_lang,
                "source": event.source,
                "dest": event.dest,
                "lang": event.lang,
                "state_type": spec.type if spec else None,
                "at_local": local_time(event.at, zone),
                "heard": event.heard or _prompt(flow, event, record.reference, greeting),
                "approximate": not event.heard,
            }
        )
        previous_lang = event.lang
    return steps


def _event_input(event: CallEvent) -> str:
    if event.trigger == "start":
        return "call placed"
    if event.input.startswith("said "):
        return event.input
    if event.input:
        return f"{'entered' if event.trigger == 'entry' else 'pressed'} {event.input}"
    return "silence (no input)" if event.trigger == "no_input" else event.trigger.replace("_", " ")


def _prompt(flow: Flow, event: CallEvent, reference: str, greeting: bool = False) -> str:
    spec = flow.states.get(event.dest)
    if spec is None:
        return ""
    parts = [flow.greeting.get(event.lang, "")] if greeting else []
    if greeting and spec.type != "closed":  # a closed line's message follows its greeting
        parts.append(flow.warning.get(event.lang, ""))
    if event.trigger.startswith("press_") and event.dest != event.source:  # the engine's rule
        parts.append(spec.confirm.get(event.lang, ""))
    parts.append(spec.prompt.get(event.lang, ""))
    if spec.type in ("transfer", "goodbye"):
        parts.append(flow.messages.get("reference", {}).get(event.lang, ""))
    return " ".join(heard_text(p, event.lang, {"reference": reference}) for p in parts if p)


# -- live page calls --------------------------------------------------------------------------


def live_view(live: LiveCall) -> dict[str, Any]:
    """The exact transcript of a page call (its last lines): what the caller heard, pressed, said."""
    sim = live.sim
    flow = live.flow
    secret = bool(sim.state and sim.state in flow.states and flow.states[sim.state].secret)
    gather = sim.gather
    return {
        "transcript": live.lines,
        "omitted_lines": live.omitted,
        "waiting": sim.waiting,
        "ended": sim.ended,
        "outcome": str(sim.outcome) if sim.outcome else None,
        "outcome_label": sim_outcome(sim.outcome) if sim.outcome else None,
        "pending": ("•" * len(live.pending)) if secret else live.pending,
        "input": gather.get("input", "dtmf") if gather is not None else None,
        "state": sim.state,
        "language": sim.language or _last_language(live),
        "clock": live.clock,
        "updated": time.time(),
    }


def _last_language(live: LiveCall) -> str | None:
    for entry in reversed(live.lines):
        if entry["who"] == "ivr" and entry.get("lang"):
            lang: str = entry["lang"]
            return lang
    return None


# -- the classroom view: every live call on a line --------------------------------------------

_HUNG_UP = "hung up in "


def display_sid(call_sid: str) -> str:
    """A short id for a call on a shared screen: '…' and the SID's last six characters."""
    return "…" + call_sid[-6:]


def classroom(store: SessionStore, flow: Flow, now: float) -> dict[str, Any]:
    """Every call in progress on the line (page calls and real ones), counts per state, and
    where callers hung up today (midnight in the line's zone): the classroom view's snapshot.

    A real call is shown by its short id only; a page call also by its full `call_sid` (the
    trainee's page has it anyway, and the trainer can follow it).
    """
    zone = clock_zone(flow)
    pages = {p.call_sid for p in store.page_calls(flow.name, now)}
    idle = {p.call_sid for p in store.expired_page_calls(now) if p.line == flow.name}
    calls = []
    for record in sorted(store.live_calls(flow.name, now), key=lambda r: r.started_at):
        if record.call_sid in idle:
            continue  # a page call left idle past its TTL: about to be hung up, not live
        full = store.get_call(record.call_sid)
        page = record.call_sid in pages
        calls.append(
            {
                "sid": display_sid(record.call_sid),
                "call_sid": record.call_sid if page else None,
                "state": record.state,
                "lang": record.lang,
                "source": "page" if page else "twilio",
                "started_at": record.started_at,
                "started_local": local_time(record.started_at, zone),
                "steps": sum(1 for e in full.events if e.trigger != "start") if full else 0,
            }
        )
    midnight = datetime.fromtimestamp(now, ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
    dropped = Counter(
        r.outcome[len(_HUNG_UP) :]
        for r in store.ended_calls(flow.name, midnight.timestamp())
        if r.outcome and r.outcome.startswith(_HUNG_UP)
    )
    return {
        "line": flow.name,
        "at": now,
        "at_local": local_time(now, zone),
        "time_zone": zone,
        "calls": calls,
        "counts": dict(Counter(c["state"] for c in calls).most_common()),
        "dropped": dict(dropped.most_common()),
    }


# -- analytics, worded for people -------------------------------------------------------------


def worded(figures: dict[str, Any], flow: Flow) -> dict[str, Any]:
    """The line's analytics with words a trainer reads: counted nouns ('1 choice'), what a key
    that stays does ('9 switches language'), and calls in progress apart from how calls ended."""
    out = dict(figures)
    in_progress = out.get("outcome_kinds", {}).get("in progress", 0)
    out["in_progress"] = in_progress
    out["outcome_kinds"] = {k: v for k, v in out.get("outcome_kinds", {}).items() if k != "in progress"}
    out["outcomes"] = {k: v for k, v in out.get("outcomes", {}).items() if k != "in progress"}
    out["outcome_labels"] = {k: outcome_label(k) for k in out["outcomes"]}
    choices = {}
    for state, table in out.get("choices", {}).items():
        options = {}
        for key, option in table["options"].items():
            options[key] = {**option, "label": _option_label(flow, state, key, option)}
        choices[state] = {**table, "options": options, "total_label": plural(table["total"], "choice")}
    out["choices"] = choices
    out["calls_label"] = plural(out.get("calls", 0), "call")
    return out


def _option_label(flow: Flow, state: str, key: str, option: dict[str, Any]) -> str:
    dest = max(option["dests"], key=option["dests"].__getitem__) if option["dests"] else state
    if dest != state:
        return f"{key} → {dest.replace('_', ' ')}"
    edge = next((e for e in flow.edges_from(state) if key_for_trigger(e.trigger) == key), None)
    if edge is not None and "toggle_language" in edge.actions:
        return f"{key}: switches language"
    if key == "*":
        return f"{key}: repeats the menu"
    return f"{key}: stays in this menu"
