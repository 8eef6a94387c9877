"""Map one webhook's Digits / SpeechResult onto the trigger a state declares."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.engine.flow import KEY_TRIGGERS, StateSpec
from ivr.engine.machine import FlowMachine

MAX_DIGITS = 64
_DIGITS_ONLY = re.compile(r"[^0-9]")
_KEYS_ONLY = re.compile(r"[^0-9*#]")


@dataclass(frozen=True)
class Input:
    """The trigger to fire, the digits the model sees, and what the call record may keep."""

    trigger: str
    digits: str
    shown: str


def choose_trigger(fm: FlowMachine, spec: StateSpec, lang: str, digits: str, speech: str) -> Input:
    """Decide the trigger for this input; anything unexpected becomes `invalid` or `no_input`."""
    raw_digits = digits[: MAX_DIGITS + 1]
    said = speech.strip()[:500]
    if spec.type == "entry":
        return _entry(spec, raw_digits, said)
    keys = fm.keys_at[spec.name]
    if raw_digits:
        key = raw_digits if raw_digits in KEY_TRIGGERS and raw_digits in keys else None
        trigger = KEY_TRIGGERS[key] if key else "invalid"
        return Input(trigger, "", _KEYS_ONLY.sub("?", raw_digits)[:MAX_DIGITS])
    if said:
        languages = (lang, *(x for x in fm.flow.languages if x != lang))
        for candidate in languages:
            key = fm.speech.key_for(spec.name, candidate, said, keys)
            if key is not None:
                return Input(KEY_TRIGGERS[key], "", f'said "{said[:80]}"')
        return Input("invalid", "", f'said "{said[:80]}"')
    return Input("no_input", "", "")


def _entry(spec: StateSpec, digits: str, said: str) -> Input:
    value = digits or _DIGITS_ONLY.sub("", said)
    if not value:
        return Input("no_input", "", "")
    if len(value) > MAX_DIGITS:
        value = value[:MAX_DIGITS] + "x"  # too long to be valid; the flow's conditions reject it
    shown = f"[{len(value)} digits hidden]" if spec.secret else _KEYS_ONLY.sub("?", value)
    return Input("entry", value, shown)
