"""What the trainer page shows: lines, call records and live transcripts as plain JSON data."""

from __future__ import annotations

import ast
import time
from typing import Any

from ivr import CallEvent, CallRecord, Engine, Flow, Outcome, SimulatedCall
from ivr import heard as heard_text

from .live_calls import LiveCall

#: A number for the default line when no number is configured for it (any number reaches it).
FALLBACK_NUMBER = "+15555550100"
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


def call_summary(record: CallRecord, *, page_call: bool = False) -> dict[str, Any]:
    """One row of the history: where the call went and how it ended (inputs already masked)."""
    end = record.ended_at if record.ended_at is not None else record.updated_at
    return {
        "call_sid": record.call_sid,
        "line": record.line,
        "reference": record.reference,
        "caller": record.caller,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
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
        return f"transfer to {rest.replace('_', ' ')}"
    if outcome == "closed":
        return "closed (outside hours)"
    return outcome.replace("_", " ")


def call_steps(record: CallRecord, flow: Flow) -> list[dict[str, Any]]:
    """Each step of a record with the prompt of the state it reached, for follow and replay.

    The store keeps the path, not the audio: `heard` is the reached state's prompt (after the
    greeting and warning the first time a language is heard, and after the confirmation of a
    choice), which is what the caller heard up to retry notices and re-prompts (`approximate`).
    """
    steps = []
    previous_lang = record.events[0].lang if record.events else record.lang
    greeted: set[str] = set()
    for index, event in enumerate(record.events):
        spec = flow.states.get(event.dest)
        greeting = event.lang not in greeted and (event.trigger == "start" or event.lang != previous_lang)
        greeted.add(event.lang)
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
                "heard": _prompt(flow, event, record.reference, greeting),
                "approximate": True,
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


def live_view(live: LiveCall, flow: Flow) -> dict[str, Any]:
    """The exact transcript of a page call: what the caller heard, pressed and said, by language."""
    sim = live.sim
    secret = bool(sim.state and sim.state in flow.states and flow.states[sim.state].secret)
    gather = sim.gather
    return {
        "transcript": transcript(sim, flow),
        "waiting": sim.waiting,
        "ended": sim.ended,
        "outcome": str(sim.outcome) if sim.outcome else None,
        "pending": ("•" * len(live.pending)) if secret else live.pending,
        "input": gather.get("input", "dtmf") if gather is not None else None,
        "state": sim.state,
        "language": sim.language or _last_language(sim),
        "clock": live.clock,
        "updated": time.time(),
    }


def transcript(sim: SimulatedCall, flow: Flow) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    lang: str | None = None
    state: str | None = None
    for step in sim.transcript.steps:
        if step.kind == "status":
            continue
        if step.input is not None:
            spec = flow.states.get(state or "")
            shown = _masked(step.input) if spec is not None and spec.secret else _caller(step.input)
            entries.append({"who": "caller", "text": shown, "lang": lang, "state": state})
        for heard in step.heard:
            if heard.kind == "say":
                lang = heard.language or lang
                entries.append(
                    {"who": "ivr", "text": heard.text, "lang": heard.language, "state": step.state or state}
                )
            elif heard.kind in ("play", "digits"):
                entries.append(
                    {
                        "who": "ivr",
                        "text": f"({heard.kind}: {heard.text})",
                        "lang": None,
                        "state": step.state or state,
                        "sound": True,
                    }
                )
        if step.error:
            entries.append({"who": "system", "text": f"error: {step.error}", "lang": None})
        state = step.state or state
    if sim.outcome is not None:
        entries.append({"who": "system", "text": f"call ended: {_sim_outcome(sim.outcome)}", "lang": None})
    for number, entry in enumerate(entries):
        entry["n"] = number
    return entries


def _caller(shown: str) -> str:
    if shown.startswith("keys "):
        return "pressed " + shown[5:]
    if shown == "silence":
        return "silence (no input)"
    if shown.startswith("said "):
        # The simulator writes said 'words' (a repr); call records write said "words".
        try:
            words = ast.literal_eval(shown[5:])
        except (ValueError, SyntaxError):
            return shown
        return f'said "{words}"' if isinstance(words, str) else shown
    return shown


def _masked(shown: str) -> str:
    if shown.startswith("keys "):
        digits = sum(c.isdigit() for c in shown[5:])
        return f"entered [{digits} digits hidden]"
    if shown.startswith("said "):
        return "said [hidden]"
    return _caller(shown)


def _sim_outcome(outcome: Outcome) -> str:
    labels = {
        "enqueue": "transferred to queue",
        "dial": "transferred to",
        "hangup": "the IVR hung up",
        "caller-hangup": "the caller hung up",
        "completed": "completed",
        "reject": "rejected",
        "error": "error",
    }
    label = labels.get(outcome.kind, outcome.kind)
    extra = outcome.target or outcome.detail
    return f"{label} {extra}" if extra else label


def _last_language(sim: SimulatedCall) -> str | None:
    for heard in reversed(sim.heard_all):
        if heard.kind == "say" and heard.language:
            return heard.language
    return None
