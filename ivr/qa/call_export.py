"""A recorded call as a scenario (docs/scenarios.md) that places the same call again.

Records keep secret entries masked ('[8 digits hidden]'), so an entry is replayed with a test
value that takes the same transition: the fictional member of ivr/data/members.yaml when the
entry was accepted, a malformed ID or a wrong date of birth when it was refused.

Each step's expectation is the exact words the caller heard (kept with the step by the engine),
with what differs between two calls left open: the reference number (a new one per call), and
the order status of the member who called (the replay is the first fictional member's).
Records older than those words get a distinctive phrase of the prompt instead.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from ivr.engine.flow import FAILURE_TRIGGERS, PHONE_KEYS, Edge, Flow, key_for_trigger
from ivr.engine.hours import is_open
from ivr.engine.members import MEMBERS_FILE
from ivr.engine.render import heard
from ivr.engine.store import CallEvent, CallRecord

_SPOKEN = re.compile(r'^said "(.*)"$', re.DOTALL)
_HUNG_UP = "hung up in "
#: Entry values that fail each input check (the crawler tries the same ones).
_REFUSED = {"member_id_ok": "12", "identity_matches": "01011990", "rx_number_ok": "12"}
_GOOD_RX = "7654321"
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z¿¡])")
_CLAUSE_END = re.compile(r"[,;:]\s")
_MAX_WORDS = 10


def call_to_scenario(record: CallRecord, flow: Flow) -> dict[str, Any]:
    """A scenario, as a dict ready for `yaml.safe_dump`, that replays `record` on its line.

    After each input it expects a phrase of what the caller heard (the notice of a retry, else
    the prompt of the state reached, in the call's language at that step) and the state itself.
    """
    events = sorted(record.events, key=lambda e: e.step)
    data: dict[str, Any] = {
        "name": f"Call {record.reference or record.call_sid} on the "
        f"{record.line} line: {record.outcome or 'in progress'}",
        "line": record.line,
    }
    start = next((e for e in events if e.trigger == "start"), None)
    now = _clock(record, flow, start)
    if now is not None:
        data["now"] = now
    data["tags"] = ["exported"]
    steps: list[Any] = []
    lang = "en"
    for event in events:
        if event is not start:
            if event.trigger == "start":
                continue  # the call was restarted after its session was lost: not an input
            steps.append(_action(event, flow))
        if event.dest in flow.states:
            expected = _exact(event, record) if event.heard else _phrase(_heard(event, flow))
            steps.append({"expect": expected})
            steps.append({"expect_state": event.dest})
        if event.lang != lang:
            steps.append({"expect_language": event.lang})
            lang = event.lang
    outcome: dict[str, str] = {}
    if record.outcome and record.outcome.startswith(_HUNG_UP):
        steps.append("hangup")
        outcome["kind"] = "caller-hangup"
    elif record.outcome in ("goodbye", "closed"):
        outcome["kind"] = "hangup"
    outcome["state"] = events[-1].dest if events else record.state
    final = flow.states.get(outcome["state"])
    if final is None or final.type != "closed":  # a closed line speaks every language, chosen none
        outcome["language"] = events[-1].lang if events else record.lang
    if steps:
        data["steps"] = steps
    data["outcome"] = outcome
    return data


def scenario_yaml(scenario: dict[str, Any]) -> str:
    """The scenario as a YAML file's text, keys in the order of docs/scenarios.md."""
    return yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=100)


# -- inputs ----------------------------------------------------------------------------------


def _action(event: CallEvent, flow: Flow) -> Any:
    if event.trigger == "no_input":
        return "silence"
    spoken = _SPOKEN.match(event.input)
    if spoken:
        return {"say": spoken.group(1)}
    key = key_for_trigger(event.trigger)
    if key is not None:
        return {"press": key}
    if event.trigger == "entry":
        return {"press": _entry_keys(event, flow)}
    # `invalid`: the key pressed if it is one; else any key that does nothing here
    valid = flow.keys_at(event.source)
    if len(event.input) == 1 and event.input in PHONE_KEYS and event.input not in valid:
        return {"press": event.input}
    spare = next((k for k in PHONE_KEYS if k not in valid), None)
    return {"press": spare} if spare else {"say": "nothing like any option"}


def _entry_keys(event: CallEvent, flow: Flow) -> str:
    spec = flow.states.get(event.source)  # None: the flow lost this state since the call
    secret = spec is None or spec.secret
    digits = event.input if not secret and event.input.isdigit() else _test_value(event, flow)
    gather = spec.gather if spec is not None else None
    if (
        gather is not None
        and gather.finish_on_key
        and (gather.num_digits is None or len(digits) < gather.num_digits)
    ):
        digits += gather.finish_on_key
    return digits


def _test_value(event: CallEvent, flow: Flow) -> str:
    """A value taking the same `entry` transition as the masked one did."""
    member_id, dob = _member()
    accepted = {"member_id_ok": member_id, "identity_matches": dob, "rx_number_ok": _GOOD_RX}
    refused: str | None = None
    for edge in (e for e in flow.edges if e.trigger == "entry" and e.source == event.source):
        checks = [c for c in edge.conditions if c in accepted]
        if edge.dest == event.dest:
            if checks:
                return accepted[checks[0]]
            break
        if checks and refused is None:
            refused = checks[0]
    return _REFUSED[refused] if refused else _REFUSED["member_id_ok"]


@cache
def _member() -> tuple[str, str]:
    """The first fictional member's ID and date of birth."""
    members = yaml.safe_load(MEMBERS_FILE.read_text(encoding="utf-8"))
    return str(members[0]["member_id"]), str(members[0]["dob"])


# -- what was heard --------------------------------------------------------------------------


def _heard(event: CallEvent, flow: Flow) -> str:
    """The text that identifies the answer to `event`: a retry's notice, else the prompt."""
    dest = flow.states[event.dest]
    notice = _notice(event, flow)
    texts = flow.messages.get(notice, {}) if notice else dest.prompt
    text = texts.get(event.lang) or texts.get(flow.languages[0]) or dest.prompt.get(event.lang, "")
    return heard(text, event.lang)


def _notice(event: CallEvent, flow: Flow) -> str | None:
    # The engine's rule (Engine._advance): an action's notice first, then failures.
    edge = _edge(event, flow)
    if edge is not None and "refuse_identity_check" in edge.actions and "identity_locked" in flow.messages:
        return "identity_locked"
    if edge is not None and "count_identity_failure" in edge.actions and "identity_failed" in flow.messages:
        return "identity_failed"
    if not (event.trigger in FAILURE_TRIGGERS or (event.trigger == "entry" and event.dest == event.source)):
        return None
    source = flow.states.get(event.source)
    if (
        source is not None
        and source.type == "info"
        and event.trigger == "no_input"
        and flow.states[event.dest].type == "goodbye"
    ):
        return None  # silence after an information leaf: "finished", no failover notice
    if flow.states[event.dest].terminal:
        return "failover"
    if event.trigger == "entry":
        return "invalid_entry"
    return event.trigger


def _edge(event: CallEvent, flow: Flow) -> Edge | None:
    return next(
        (e for e in flow.edges if (e.trigger, e.source, e.dest) == (event.trigger, event.source, event.dest)),
        None,
    )


#: Where the reference number was spoken: any eight digits, read one by one.
_ANY_REFERENCE = r"[0-9](?: [0-9]){7}"
#: What the engine put where a secret entry was read back.
_HIDDEN = "[hidden]"


def _exact(event: CallEvent, record: CallRecord) -> Any:
    """The words heard after `event`, exactly: a string (`contains`), or a regex with the
    reference number and masked parts open; another member's order status becomes the
    replayed member's."""
    text = _as_replayed_member(event.heard, event.lang)
    reference = " ".join(record.reference) if record.reference.isdigit() else ""
    parts = [text]
    for hole, pattern in ((reference, _ANY_REFERENCE), (_HIDDEN, ".+?")):
        if not hole:
            continue
        split: list[str] = []
        for index, part in enumerate(parts):
            if index % 2:  # a hole already
                split.append(part)
                continue
            pieces = part.split(hole)
            for n, piece in enumerate(pieces):
                if n:
                    split.append(pattern)
                split.append(piece)
        parts = split
    if len(parts) == 1:
        return text
    pattern = "".join(re.escape(p) if i % 2 == 0 else p for i, p in enumerate(parts))
    return {"regex": pattern}


def _as_replayed_member(text: str, lang: str) -> str:
    replayed = _statuses()[0].get(lang, "")
    for status in _statuses()[1:]:
        words = status.get(lang, "")
        if words and words in text:
            text = text.replace(words, replayed)
    return text


@cache
def _statuses() -> list[dict[str, str]]:
    """Every fictional member's order status by language, the replayed member's first."""
    members = yaml.safe_load(MEMBERS_FILE.read_text(encoding="utf-8"))
    return [{k: " ".join(str(v).split()) for k, v in m.get("order_status", {}).items()} for m in members]


def _phrase(text: str) -> str:
    """A distinctive phrase: the first clause or sentence, before any placeholder."""
    text = " ".join(text.split()).split("…")[0].strip()
    sentences = _SENTENCE_END.split(text, maxsplit=2)
    phrase = " ".join(sentences[:2]) if len(sentences[0].split()) < 3 else sentences[0]
    if len(phrase.split()) > _MAX_WORDS - 2:
        clause = _CLAUSE_END.split(phrase, maxsplit=1)[0]
        phrase = clause if len(clause.split()) >= 3 else phrase
    words = phrase.split()
    if len(words) > _MAX_WORDS + 2:
        phrase = " ".join(words[:_MAX_WORDS])
    return phrase.rstrip(".,;:!?¿¡ ")


# -- the clock -------------------------------------------------------------------------------


def _clock(record: CallRecord, flow: Flow, start: CallEvent | None) -> str | None:
    """For a line with opening hours: a time on the same side of them as the call was."""
    if flow.hours is None or start is None:
        return None
    wanted = flow.states[start.dest].type != "closed"
    zone = ZoneInfo(flow.hours.timezone)
    moment = datetime.fromtimestamp(record.started_at, zone).replace(second=0, microsecond=0)
    for _ in range(2 * 24 * 8):  # half-hours for 8 days: every week has both sides
        if is_open(flow.hours, moment) == wanted:
            return moment.isoformat()
        moment += timedelta(minutes=30)
    return None
