"""The session store interface: one call locked per request, its record and its path."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ivr.engine.call import CallSession, MemberDirectory


@dataclass(frozen=True)
class CallEvent:
    """One step of a call's path; `input` is already masked for secret states."""

    at: float
    step: int
    trigger: str
    input: str
    source: str
    dest: str
    lang: str


@dataclass
class CallRecord:
    """A call as QA and trainers see it afterwards."""

    call_sid: str
    line: str
    reference: str
    caller: str
    started_at: float
    updated_at: float
    ended_at: float | None
    status: str
    outcome: str | None
    state: str
    lang: str
    events: list[CallEvent] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["events"] = [e.__dict__ for e in self.events]
        return data


class CallSlot(ABC):
    """One call held for the length of a request: read, change, then saved atomically."""

    session: CallSession | None
    #: True when a record exists, even if its session expired or the call ended.
    known: bool

    @abstractmethod
    def create(self, session: CallSession, *, caller: str, now: float) -> None:
        """Start a new record for this call (or restart one whose session was lost)."""

    @abstractmethod
    def save(self, session: CallSession, *, now: float, outcome: str | None = None) -> None:
        """Keep the session; it is written when the slot closes without an error."""

    @abstractmethod
    def log(self, event: CallEvent) -> None:
        """Append a step to the call's path."""

    @abstractmethod
    def reference_free(self, reference: str) -> bool:
        """Say whether no other call has this reference number."""


class SessionStore(ABC):
    """Where calls live between webhooks; implementations must make `call()` atomic."""

    @abstractmethod
    def call(self, call_sid: str, now: float) -> AbstractContextManager[CallSlot]:
        """Lock one call for a read-modify-write; commit on success, roll back on error."""

    @abstractmethod
    def end_call(self, call_sid: str, status: str, now: float, duration: int | None) -> bool:
        """Close a call's record after Twilio's final status; False if the call is unknown."""

    @abstractmethod
    def get_call(self, call_sid: str) -> CallRecord | None:
        """Return one call with its path."""

    @abstractmethod
    def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        """Return the latest calls, newest first, without their paths."""

    @property
    @abstractmethod
    def members(self) -> MemberDirectory:
        """The identity check, backed by this store's member table."""

    @abstractmethod
    def check(self) -> dict[str, Any]:
        """A readiness check: a real write to the store, and the member directory there
        (re-seeded, with an error logged, when it had gone); StoreError when not ready.

        Returns what was checked, fit for a readiness answer: {"store": ..., "members": n}.
        """

    def close(self) -> None:  # noqa: B027 - optional for implementations
        """Release connections."""

    def iter_raw_text(self) -> Iterator[str]:
        """Yield every stored text (for tests that scan for secrets in clear)."""
        return iter(())
