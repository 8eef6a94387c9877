"""In-memory session store: one process, no I/O; for tests, benches and a quick look (`:memory:`)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ivr.engine.call import CallSession
from ivr.engine.members import check_hash, fixture_rows, id_hash
from ivr.engine.store import (
    PAGE_CALL_GRACE,
    CallEvent,
    CallRecord,
    CallSlot,
    PageCall,
    PageCallSlot,
    Purged,
    SessionStore,
    ended_session,
)

#: The `IVR_DATABASE` value that selects this store instead of an SQLite file.
MEMORY = ":memory:"


@dataclass
class _Row:
    """A call as kept: its record, its session as a dict of plain values (as the other stores keep
    it, less the JSON text: strings are shared, the one dict in it is copied), its expiry."""

    record: CallRecord
    session: dict[str, Any] | None
    expires_at: float


def _session(data: dict[str, Any]) -> CallSession:
    """A request's own copy of a stored session (its one mutable field copied too)."""
    return CallSession.from_dict({**data, "order_status": dict(data.get("order_status") or {})})


def _request_copy(row: _Row) -> _Row:
    """A request's own copy of a row and its record (no events: the slot logs new ones apart).

    The same shallow copy as dataclasses.replace, without its trip through __init__ field by
    field (or copy.copy's through __reduce_ex__): it was the slot's largest cost on every
    in-process step. Both are plain dataclasses (no slots), so their fields are their __dict__.
    """
    record = object.__new__(CallRecord)
    record.__dict__.update(row.record.__dict__)
    record.events = []
    out = object.__new__(_Row)
    out.__dict__.update(row.__dict__)
    out.record = record
    return out


class _MemorySlot(CallSlot):
    """Works on copies; the store takes them only when the request ends without an error."""

    def __init__(self, store: MemoryStore, call_sid: str, now: float) -> None:
        self._store = store
        self.call_sid = call_sid
        row = store._rows.get(call_sid)
        self.row = _request_copy(row) if row else None
        self.events: list[CallEvent] = []
        self.known = row is not None
        self.session = None
        if row is not None and row.session is not None and row.expires_at >= now:
            self.session = _session(row.session)

    def create(self, session: CallSession, *, caller: str, now: float) -> None:
        old = self.row.record if self.row else None
        record = CallRecord(
            call_sid=self.call_sid,
            line=session.line,
            reference=session.reference,
            caller=old.caller if old else caller,
            started_at=old.started_at if old else now,
            updated_at=now,
            ended_at=None,
            status="in-progress",
            outcome=None,
            state=session.state,
            lang=session.lang,
        )
        self.row = _Row(record, None, now)
        self.known = True
        self.save(session, now=now)

    def save(self, session: CallSession, *, now: float, outcome: str | None = None) -> None:
        assert self.row is not None, "save() before create(): the engine creates a call first"
        record = self.row.record
        record.updated_at, record.state, record.lang = now, session.state, session.lang
        if outcome is not None:
            record.outcome = outcome
        self.row.session = session.to_dict()  # a copy: the request's later changes stay its own
        self.row.expires_at = now + self._store.ttl
        self.session = session

    def log(self, event: CallEvent) -> None:
        self.events.append(event)

    def reference_free(self, reference: str) -> bool:
        if self.row is not None and self.row.record.reference == reference:
            return False
        owner = self._store._references.get(reference)
        return owner is None or owner == self.call_sid  # this call's own old reference is replaced


class _MemoryPageSlot(PageCallSlot):
    """Writes at once, under the store's lock; the page call's own lock is held around it."""

    def __init__(self, store: MemoryStore, call_sid: str) -> None:
        self._store = store
        self.call_sid = call_sid
        self.page_call = store._pages.get(call_sid)

    def put(self, call: PageCall, *, now: float, limit: int | None = None) -> bool:
        store = self._store
        with store._lock:
            if limit is not None and not call.ended:
                others = [
                    p
                    for p in store._pages.values()
                    if p.line == call.line
                    and not p.ended
                    and p.expires_at >= now
                    and p.call_sid != call.call_sid
                ]
                if len(others) >= limit:
                    return False
            store._pages[call.call_sid] = call
        self.page_call = call
        return True

    def drop(self) -> None:
        with self._store._lock:
            self._store._pages.pop(self.call_sid, None)
        self.page_call = None


class MemoryMembers:
    """The fictional members, keyed-hashed as the other stores keep them."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._rows = {r.id_hash: r for r in fixture_rows(key)}

    def size(self) -> int:
        return len(self._rows)

    def hash_member_id(self, member_id: str) -> str:
        return id_hash(self._key, member_id)

    def verify(self, member_hash: str, dob: str) -> dict[str, str] | None:
        row = self._rows.get(member_hash)
        if row is None or not secrets.compare_digest(row.check_hash, check_hash(self._key, member_hash, dob)):
            return None
        return dict(row.order_status)


class MemoryStore(SessionStore):
    """Calls in dictionaries behind one lock: shared by the threads of one process, gone at exit."""

    def __init__(self, *, ttl: int = 4 * 3600, secret_key: str | bytes | None = None) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._rows: dict[str, _Row] = {}
        self._references: dict[str, str] = {}  # reference -> call SID: reference_free in O(1)
        self._events: dict[str, list[CallEvent]] = {}
        self._pages: dict[str, PageCall] = {}
        self._page_locks: dict[str, threading.Lock] = {}
        if isinstance(secret_key, str):
            secret_key = secret_key.encode()
        self._members = MemoryMembers(secret_key or secrets.token_bytes(32))

    @property
    def members(self) -> MemoryMembers:
        return self._members

    def check(self) -> dict[str, object]:
        return {"store": "memory", "members": self._members.size()}

    @contextmanager
    def call(self, call_sid: str, now: float) -> Iterator[CallSlot]:
        with self._lock:  # one request at a time, as SQLite's BEGIN IMMEDIATE
            slot = _MemorySlot(self, call_sid, now)
            yield slot  # an error here leaves the store as it was
            if slot.row is not None:
                old = self._rows.get(call_sid)
                if old is not None and old.record.reference != slot.row.record.reference:
                    self._references.pop(old.record.reference, None)
                self._rows[call_sid] = slot.row
                self._references[slot.row.record.reference] = call_sid
            if slot.events:
                self._events.setdefault(call_sid, []).extend(slot.events)

    def end_call(self, call_sid: str, status: str, now: float, duration: int | None) -> bool:
        with self._lock:
            row = self._rows.get(call_sid)
            if row is None:
                return False
            record = row.record
            record.status, record.ended_at, record.updated_at = status, now, now
            if record.outcome is None:
                record.outcome = f"hung up in {record.state}"
            if row.session is not None:
                row.session = ended_session(row.session)
            return True

    def live_calls(self, line: str, now: float) -> list[CallRecord]:
        with self._lock:
            return [
                replace(r.record, events=[])
                for r in self._rows.values()
                if r.record.line == line and r.record.ended_at is None and r.expires_at >= now
            ]

    def ended_calls(self, line: str, since: float) -> list[CallRecord]:
        with self._lock:
            return [
                replace(r.record, events=[])
                for r in self._rows.values()
                if r.record.line == line and r.record.ended_at is not None and r.record.ended_at >= since
            ]

    @contextmanager
    def page_call(self, call_sid: str, now: float) -> Iterator[PageCallSlot]:
        with self._lock:
            lock = self._page_locks.setdefault(call_sid, threading.Lock())
        with lock:
            slot = _MemoryPageSlot(self, call_sid)
            yield slot
            if slot.page_call is None:
                with self._lock:
                    self._page_locks.pop(call_sid, None)

    def page_calls(self, line: str | None, now: float, *, ended: bool = False) -> list[PageCall]:
        with self._lock:
            return [
                p
                for p in self._pages.values()
                if (line is None or p.line == line) and (ended or not p.ended) and p.expires_at >= now
            ]

    def expired_page_calls(self, now: float, limit: int = 100) -> list[PageCall]:
        with self._lock:
            found = [p for p in self._pages.values() if not p.ended and p.expires_at < now]
        return sorted(found, key=lambda p: p.expires_at)[:limit]

    def purge(self, now: float, records_before: float) -> Purged:
        with self._lock:
            sessions = 0
            for row in self._rows.values():
                if row.session is not None and row.expires_at < now:
                    row.session = None
                    sessions += 1
            old = [
                sid
                for sid, row in self._rows.items()
                if row.record.started_at < records_before
                and (row.record.ended_at is not None or row.expires_at < now)
            ]
            for sid in old:
                reference = self._rows.pop(sid).record.reference
                if self._references.get(reference) == sid:
                    del self._references[reference]
                self._events.pop(sid, None)
            gone = [
                sid
                for sid, p in self._pages.items()
                if p.expires_at < now and (p.ended or p.expires_at < now - PAGE_CALL_GRACE)
            ]
            for sid in gone:
                del self._pages[sid]
        return Purged(sessions, len(old), len(gone))

    def get_call(self, call_sid: str) -> CallRecord | None:
        with self._lock:
            row = self._rows.get(call_sid)
            if row is None:
                return None
            return replace(row.record, events=list(self._events.get(call_sid, [])))

    def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        with self._lock:
            records = sorted(
                (r.record for r in self._rows.values()), key=lambda r: r.started_at, reverse=True
            )
            return [replace(r, events=[]) for r in records[: max(limit, 0)]]

    def iter_raw_text(self) -> Iterator[str]:
        with self._lock:
            rows = list(self._rows.values())
            events = [e for path in self._events.values() for e in path]
            pages = list(self._pages.values())
        for row in rows:
            yield json.dumps(row.record.to_dict())
            if row.session is not None:
                yield json.dumps(row.session)
        for event in events:
            yield json.dumps(event.__dict__)
        for page in pages:
            yield json.dumps(page.__dict__)

    # -- failure counts (identity lockouts, trainer logins) -----------------------------

    def count_failure(self, key: str, window: float, now: float) -> int:
        lock, times = self._failure_state()
        with lock:  # not self._lock: call() holds that while the identity check's actions run
            kept = [t for t in times.get(key, []) if t > now - window]
            kept.append(now)
            times[key] = kept
            return len(kept)

    def failures(self, key: str, window: float, now: float) -> int:
        lock, times = self._failure_state()
        with lock:
            return sum(1 for t in times.get(key, []) if now - window < t <= now)

    def _failure_state(self) -> tuple[threading.Lock, dict[str, list[float]]]:
        state: tuple[threading.Lock, dict[str, list[float]]] | None = self.__dict__.get("_failures")
        if state is None:
            state = self.__dict__.setdefault("_failures", (threading.Lock(), {}))
        return state
