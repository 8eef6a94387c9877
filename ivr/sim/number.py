"""A Twilio number's voice settings, as the console or the API sets them."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

#: The events a status callback can subscribe to, in the order a call goes through them.
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
METHODS = ("GET", "POST")


@dataclass(frozen=True)
class NumberConfig:
    """Voice URL and method, status callback (URL, method, events), fallback URL and method.

    URLs may be relative to the call's base URL. By default Twilio sends the status callback
    once, when the call is completed.
    """

    voice_url: str = "/voice"
    voice_method: str = "POST"
    status_callback: str | None = "/voice/status"
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    fallback_url: str | None = None
    fallback_method: str = "POST"

    def __post_init__(self) -> None:
        for name in ("voice_method", "status_callback_method", "fallback_method"):
            method = getattr(self, name).upper()
            if method not in METHODS:
                raise ValueError(f"{name} {method!r} is not GET or POST")
            object.__setattr__(self, name, method)
        bad = [e for e in self.status_callback_events if e not in CALL_EVENTS]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a call event; use {', '.join(CALL_EVENTS)}")

    def merged(self, **changes: Any) -> NumberConfig:
        """A copy with the settings given (None leaves a setting as it is)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def call_kwargs(self) -> dict[str, Any]:
        """The SimulatedCall keyword arguments of these settings."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def split_voice_url(url: str) -> tuple[str, str | None]:
    """A --url as the console's voice URL: (base URL, voice path) or (base, None) for a bare host.

    `http://host/ivr/welcome?x=1` is requested as it is; `http://host` and `http://host/` keep
    meaning this app (its `/voice`).
    """
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    if parts.path in ("", "/") and not parts.query:
        return base, None
    return base, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def events(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'initiated ringing' or a list -> a tuple of events (checked by NumberConfig)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return tuple(items)
