"""The session store interface: one call locked per request, its record and its path."""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ivr.engine.call import CallSession, MemberDirectory


@dataclass(frozen=True)
class CallEvent:
    """One step of a call's path; `input` is already masked for secret states.

    `heard` is what the caller heard in answer to the step, as words (ivr.engine.ssml), with
    anything that reads back a secret entry masked; "" in records older than the field.
    """

    at: float
    step: int
    trigger: str
    input: str
    source: str
    dest: str
    lang: str
    heard: str = ""


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


#: How long a page call that expired while still up may wait to be hung up before it is
#: forgotten anyway (a purge deletes ended ones as soon as they expire).
PAGE_CALL_GRACE = 24 * 3600


@dataclass(frozen=True)
class PageCall:
    """A call placed from the trainer page, kept between clicks so any worker serves the next.

    `data` is the simulated caller's snapshot (JSON text, SimulatedCall.snapshot in
    ivr/sim/snapshot.py); the store reads only the other fields. A call that is not `ended` is live until
    `expires_at`; an ended one is kept until then so its transcript stays readable.
    """

    call_sid: str
    line: str
    data: str
    ended: bool
    expires_at: float


class PageCallSlot(ABC):
    """One page call held for one click, locked against every other worker and host."""

    #: The call as stored (expired or not), or None for a new one.
    page_call: PageCall | None

    @abstractmethod
    def put(self, call: PageCall, *, now: float, limit: int | None = None) -> bool:
        """Write the call at once; with `limit`, refuse (False, nothing written) to add a live
        call to a line that already has `limit` live page calls other than this one."""

    @abstractmethod
    def drop(self) -> None:
        """Forget the call at once."""


@dataclass(frozen=True)
class Purged:
    """What one purge removed: expired sessions, old call records, forgotten page calls."""

    sessions: int = 0
    records: int = 0
    page_calls: int = 0


#: What an ended call's session forgets at once: who the caller proved to be and what they heard.
_FORGOTTEN_AT_END: dict[str, Any] = {
    "verified": False,
    "member_hash": None,
    "order_status": {},
    "rx_last4": None,
    "last_twiml": None,
}


def ended_session(session: dict[str, Any]) -> dict[str, Any]:
    """A stored session (as a dict) once its call has ended: marked ended, nothing personal kept."""
    return {**session, **_FORGOTTEN_AT_END, "ended": True}


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

    def new_reference(self) -> str:
        """A reference number for this call that no other call has: eight digits, no leading 0."""
        while True:
            reference = draw_reference()
            if self.reference_free(reference):
                return reference


def draw_reference() -> str:
    """Eight random digits, the first not 0 (a caller reads it back as a number)."""
    while True:
        reference = f"{secrets.randbelow(10**8):08d}"
        if reference[0] != "0":
            return reference


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

    @abstractmethod
    def live_calls(self, line: str, now: float) -> list[CallRecord]:
        """The calls of `line` in progress (not ended, session not expired), without paths."""

    @abstractmethod
    def ended_calls(self, line: str, since: float) -> list[CallRecord]:
        """The calls of `line` that ended at or after `since`, without paths."""

    # -- page calls (the trainer page) ---------------------------------------------------------

    @abstractmethod
    def page_call(self, call_sid: str, now: float) -> AbstractContextManager[PageCallSlot]:
        """Lock one page call across processes for one click (not a transaction: the click's
        own webhooks use `call()` meanwhile); StoreError when it stays locked too long."""

    @abstractmethod
    def page_calls(self, line: str | None, now: float, *, ended: bool = False) -> list[PageCall]:
        """The live page calls (not ended, not expired) of `line`, or of every line; with
        `ended`, the ended ones still kept (until they expire) as well."""

    @abstractmethod
    def expired_page_calls(self, now: float, limit: int = 100) -> list[PageCall]:
        """Page calls that expired while still up (to be hung up), oldest first."""

    # -- retention ---------------------------------------------------------------------------

    @abstractmethod
    def purge(self, now: float, records_before: float) -> Purged:
        """Delete sessions whose TTL passed, records of ended calls started before
        `records_before` with their paths, and page calls past their expiry."""

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

    @abstractmethod
    def count_failure(self, key: str, window: float, now: float) -> int:
        """Record one failure under `key` at `now`; return the failures in the last `window`
        seconds, this one included. Shared by every process on the store; `key` is already a
        keyed hash (never a caller's number in clear). Older failures may be forgotten."""

    @abstractmethod
    def failures(self, key: str, window: float, now: float) -> int:
        """Return the failures recorded under `key` in the `window` seconds up to `now`."""
