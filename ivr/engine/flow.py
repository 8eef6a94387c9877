"""A validated flow: one phone line's menu as immutable data, ready to build a machine from."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

#: The keys of a phone keypad, in keypad order: the one definition every face uses.
PHONE_KEYS = "0123456789*#"

#: Triggers a flow may declare; the engine maps webhook input onto exactly these.
KEY_TRIGGERS: dict[str, str] = {
    **{str(d): f"press_{d}" for d in range(10)},
    "*": "press_star",
    "#": "press_pound",
}
TRIGGERS: frozenset[str] = frozenset([*KEY_TRIGGERS.values(), "no_input", "invalid", "entry", "start"])
FAILURE_TRIGGERS: frozenset[str] = frozenset(["no_input", "invalid"])

STATE_TYPES: frozenset[str] = frozenset(["start", "menu", "info", "entry", "transfer", "goodbye", "closed"])
#: Types that wait for one key: a menu of options, or an information leaf.
MENU_TYPES: frozenset[str] = frozenset(["menu", "info"])
#: Types whose TwiML ends the call or hands it over: they take no input, so no way out.
TERMINAL_TYPES: frozenset[str] = frozenset(["transfer", "goodbye", "closed"])
#: Messages every flow must carry in every language.
REQUIRED_MESSAGES: tuple[str, ...] = (
    "no_input",
    "invalid",
    "invalid_entry",
    "failover",
    "reference",
    "transfer",
    "error",
    "hold",
    "ended",
    "after_transfer",
)


def key_for_trigger(trigger: str) -> str | None:
    """Return the key a press trigger stands for, or None for other triggers."""
    for key, name in KEY_TRIGGERS.items():
        if name == trigger:
            return key
    return None


@dataclass(frozen=True)
class GatherSpec:
    """How a state collects input: the attributes of its `<Gather>`."""

    input: str = "dtmf speech"
    num_digits: int | None = 1
    finish_on_key: str = ""
    timeout: int = 6
    max_digits: int = 1


@dataclass(frozen=True)
class Pace:
    """How patiently a line listens and how fast it speaks (the TTY line is slower)."""

    timeout: int = 6
    entry_timeout: int = 10
    rate: str | None = None  # SSML prosody rate, e.g. "85%"


#: What a key of the key map does: go to a state, repeat, or switch the language.
REPEAT = "repeat"
LANGUAGE = "language"


@dataclass(frozen=True)
class Hours:
    """Opening hours of a line, in one time zone."""

    timezone: str
    days: frozenset[int]  # 0 = Monday
    open_minute: int
    close_minute: int


@dataclass(frozen=True)
class StateSpec:
    """One state of a flow and everything needed to speak it."""

    name: str
    type: str
    prompt: dict[str, str]
    reprompt: dict[str, str]
    speech: dict[str, dict[str, tuple[str, ...]]]
    gather: GatherSpec | None
    desk: str | None = None
    secret: bool = False
    #: Said first when a caller arrives here by a choice ("Billing and insurance.").
    confirm: dict[str, str] = field(default_factory=dict)
    #: The other languages' offers ("Para español, oprima 9.") follow the prompt.
    offer_language: bool = False

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES


@dataclass(frozen=True)
class Edge:
    """One transition after expanding source lists: used by checks, crawl and diagrams."""

    trigger: str
    source: str
    dest: str
    conditions: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    #: The actions the transition runs (its `before` ones, then its `after` ones).
    actions: tuple[str, ...] = ()

    @property
    def conditional(self) -> bool:
        return bool(self.conditions or self.unless)


@dataclass(frozen=True)
class Flow:
    """A whole line: states, transitions (in the shape `transitions` takes) and messages."""

    name: str
    file: str
    title: str
    languages: tuple[str, ...]
    initial: str
    states: dict[str, StateSpec]
    transitions: tuple[dict[str, Any], ...]
    messages: dict[str, dict[str, str]]
    speech: dict[str, dict[str, tuple[str, ...]]]
    greeting: dict[str, str]
    hours: Hours | None = None
    edges: tuple[Edge, ...] = field(default=())
    #: Said after the greeting's language offer on the first words of a call.
    warning: dict[str, str] = field(default_factory=dict)
    #: Numbers that reach this line (data: a prompt may speak them, nothing dials them).
    numbers: tuple[str, ...] = ()
    pace: Pace = field(default_factory=Pace)
    #: The key map: key -> a state name, REPEAT or LANGUAGE, the same in every menu.
    keys: dict[str, str] = field(default_factory=dict)
    #: Budgets for `ivr lint` that this line sets for itself (e.g. a slower TTY pace).
    lint: dict[str, Any] = field(default_factory=dict)

    def machine_config(self) -> dict[str, Any]:
        """Return fresh keyword arguments for `transitions.Machine` (it mutates what it gets)."""
        return {
            "states": list(self.states),
            "transitions": copy.deepcopy(list(self.transitions)),
            "initial": self.initial,
        }

    def keys_at(self, state: str) -> tuple[str, ...]:
        """Return the keys that do something at `state`, in key order."""
        found = {key_for_trigger(e.trigger) for e in self.edges if e.source == state}
        return tuple(k for k in KEY_TRIGGERS if k in found)

    def edges_from(self, state: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.source == state)
