"""In-memory session store: one process, no I/O; for tests, benches and a quick look (`:memory:`)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ivr.engine.call import CallSession
from ivr.engine.members import check_hash, fixture_rows, id_hash
from ivr.engine.store import CallEvent, CallRecord, CallSlot, SessionStore

#: The `IVR_DATABASE` value that selects this store instead of an SQLite file.
MEMORY = ":memory:"


@dataclass
class _Row:
    """A call as kept: its record, its session as JSON (as the other stores keep it), its expiry."""

    record: CallRecord
    session: str | None
    expires_at: float


class _MemorySlot(CallSlot):
    """Works on copies; the store takes them only when the request ends without an error."""

    def __init__(self, store: MemoryStore, call_sid: str, now: float) -> None:
        self._store = store
        self.call_sid = call_sid
        row = store._rows.get(call_sid)
        self.row = replace(row, record=replace(row.record, events=[])) if row else None
        self.events: list[CallEvent] = []
        self.known = row is not None
        self.session = None
        if row is not None and row.session is not None and row.expires_at >= now:
            self.session = CallSession.from_dict(json.loads(row.session))

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
        self.row.session = json.dumps(session.to_dict())
        self.row.expires_at = now + self._store.ttl
        self.session = session

    def log(self, event: CallEvent) -> None:
        self.events.append(event)

    def reference_free(self, reference: str) -> bool:
        rows = {**self._store._rows, **({self.call_sid: self.row} if self.row else {})}
        return all(row.record.reference != reference for row in rows.values())


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
        self._events: dict[str, list[CallEvent]] = {}
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
                self._rows[call_sid] = slot.row
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
                row.session = json.dumps({**json.loads(row.session), "ended": True})
            return True

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
        for row in rows:
            yield json.dumps(row.record.to_dict())
            if row.session is not None:
                yield row.session
        for event in events:
            yield json.dumps(event.__dict__)
