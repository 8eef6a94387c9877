"""Per-call values a prompt may name (`{reference}`), each declared once with how it is spoken.

A placeholder is registered where its value is defined, with the decorator, so the loader's
checks, the renderer and every other face read the one registry:

    @placeholder("reference", spoken_as="digits")
    def _reference(session, lang): return session.reference
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.engine.call import CallSession

#: How a value is spoken: `text` as written, `digits` one by one (SSML say-as digits).
SPOKEN_AS = frozenset(["text", "digits"])

Getter = Callable[["CallSession", str], str]


@dataclass(frozen=True)
class Placeholder:
    """One per-call value: its name, how it is spoken, and how to read it off a call."""

    name: str
    spoken_as: str
    value: Getter
    description: str


PLACEHOLDERS: dict[str, Placeholder] = {}


def placeholder(name: str, *, spoken_as: str = "text") -> Callable[[Getter], Getter]:
    """Register a placeholder; the decorated function returns its value for a call."""
    if spoken_as not in SPOKEN_AS:
        raise ValueError(f"spoken_as must be one of {sorted(SPOKEN_AS)}")

    def register(func: Getter) -> Getter:
        PLACEHOLDERS[name] = Placeholder(name, spoken_as, func, (func.__doc__ or "").strip())
        return func

    return register


def values_for(session: CallSession) -> dict[str, str]:
    """Every placeholder's value for this call, in its current language."""
    return {name: p.value(session, session.lang) for name, p in PLACEHOLDERS.items()}


@placeholder("reference", spoken_as="digits")
def _reference(session: CallSession, lang: str) -> str:
    """The call's reference number, for follow-up."""
    return session.reference


@placeholder("rx_last4", spoken_as="digits")
def _rx_last4(session: CallSession, lang: str) -> str:
    """The last four digits of the prescription number entered."""
    return session.rx_last4 or ""


@placeholder("order_status", spoken_as="text")
def _order_status(session: CallSession, lang: str) -> str:
    """The verified member's most recent order, in the call's language."""
    return session.order_status.get(lang, "")
