"""SQLite session store: WAL, one BEGIN IMMEDIATE transaction per request, calls survive a kill.

Opening the store writes nothing: the file is set up on first use and the member directory
seeded on the first identity check, each tried again on the next request after a failure,
so a worker boots while the file is read-only or its folder missing and recovers by itself.
The member hash key is never kept in the file (ivr.engine.members.load_key).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: SQLite's own busy wait only
    fcntl = None  # type: ignore[assignment]

from ivr.engine.call import CallSession
from ivr.engine.config import SESSION_TTL
from ivr.engine.errors import StoreError
from ivr.engine.members import check_hash, fixture_rows, id_hash, key_id
from ivr.engine.store import (
    PAGE_CALL_GRACE,
    CallEvent,
    CallRecord,
    CallSlot,
    PageCall,
    PageCallSlot,
    Purged,
    SessionStore,
)

log = logging.getLogger(__name__)

#: Seconds a request waits for the write lock (the writers' flock, then SQLite's own) before it
#: gives up with StoreError, which a caller hears as the spoken fallback: well under the 15 s
#: Twilio waits for a webhook. The waits sleep between tries (cooperatively under gevent), so a
#: held lock never blocks the other requests of a worker.
LOCK_TIMEOUT = 5.0
#: SQLite's own busy wait per try, in seconds: short, as it blocks an event loop while it waits.
_BUSY_WAIT = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    call_sid TEXT PRIMARY KEY,
    line TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL,
    expires_at REAL NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    state TEXT NOT NULL,
    lang TEXT NOT NULL,
    session TEXT
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at);
CREATE TABLE IF NOT EXISTS call_events (
    call_sid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    step INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    input TEXT NOT NULL,
    source TEXT NOT NULL,
    dest TEXT NOT NULL,
    lang TEXT NOT NULL,
    heard TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (call_sid, seq)
);
-- Not on expires_at, which every step moves: that kept one more index page to write per step.
-- It serves both the live calls (ended_at IS NULL) and the ended ones (ended_at >= ?) of a line.
CREATE INDEX IF NOT EXISTS calls_open ON calls (line, ended_at);
CREATE TABLE IF NOT EXISTS page_calls (
    call_sid TEXT PRIMARY KEY,
    line TEXT NOT NULL,
    ended INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS page_calls_live ON page_calls (line, ended, expires_at);
CREATE TABLE IF NOT EXISTS page_locks (
    call_sid TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    id_hash TEXT PRIMARY KEY,
    check_hash TEXT NOT NULL,
    order_status TEXT NOT NULL
);
"""


class _SqliteSlot(CallSlot):
    """Reads the call at once; buffers its writes until `flush`, inside the same transaction.

    A new call is one INSERT of the record with its first session (not an INSERT, then an
    UPDATE of the same row with the session serialised twice); a step is one UPDATE, and one
    INSERT for the step's event.
    """

    def __init__(self, db: sqlite3.Connection, call_sid: str, ttl: int, now: float) -> None:
        self.db = db
        self.call_sid = call_sid
        self.ttl = ttl
        row = db.execute("SELECT session, expires_at FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
        self.known = row is not None
        self.session = None
        if row is not None and row[0] is not None and row[1] >= now:
            self.session = CallSession.from_dict(json.loads(row[0]))
        self._caller: str | None = None  # set by create: the record is written afresh
        self._saved: tuple[CallSession, float, str | None] | None = None
        self._events: list[tuple[Any, ...]] = []

    def create(self, session: CallSession, *, caller: str, now: float) -> None:
        self._caller = caller
        self._saved = (session, now, None)
        self.known = True
        self.session = session

    def save(self, session: CallSession, *, now: float, outcome: str | None = None) -> None:
        if self._saved is not None and outcome is None:
            outcome = self._saved[2]  # COALESCE(?, outcome): a later save keeps an earlier outcome
        self._saved = (session, now, outcome)
        self.session = session

    def log(self, event: CallEvent) -> None:
        self._events.append(
            (
                self.call_sid,
                self.call_sid,
                event.at,
                event.step,
                event.trigger,
                event.input,
                event.source,
                event.dest,
                event.lang,
                event.heard,
            )
        )

    def reference_free(self, reference: str) -> bool:
        row = self.db.execute("SELECT 1 FROM calls WHERE reference = ?", (reference,)).fetchone()
        return row is None

    def flush(self) -> None:
        """Write what the request buffered (before its transaction commits)."""
        if self._saved is not None:
            session, now, outcome = self._saved
            data = json.dumps(session.to_dict())
            if self._caller is not None:
                self.db.execute(
                    _CREATE,
                    (
                        self.call_sid,
                        session.line,
                        session.reference,
                        self._caller,
                        now,
                        now,
                        now + self.ttl,
                        "in-progress",
                        outcome,
                        session.state,
                        session.lang,
                        data,
                    ),
                )
            else:
                self.db.execute(
                    _SAVE, (now, now + self.ttl, session.state, session.lang, data, outcome, self.call_sid)
                )
        if len(self._events) == 1:
            self.db.execute(_LOG, self._events[0])
        elif self._events:
            self.db.executemany(_LOG, self._events)
        self._caller, self._saved, self._events = None, None, []


# A new call's record with its first session; a lost session's call starts afresh in its record.
_CREATE = (
    "INSERT INTO calls (call_sid, line, reference, caller, started_at, updated_at,"
    " expires_at, status, outcome, state, lang, session) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (call_sid) DO UPDATE SET line = excluded.line,"
    " reference = excluded.reference, updated_at = excluded.updated_at,"
    " expires_at = excluded.expires_at, status = excluded.status, ended_at = NULL,"
    " outcome = excluded.outcome, state = excluded.state, lang = excluded.lang,"
    " session = excluded.session"
)
_SAVE = (
    "UPDATE calls SET updated_at = ?, expires_at = ?, state = ?, lang = ?, session = ?,"
    " outcome = COALESCE(?, outcome) WHERE call_sid = ?"
)
_LOG = (
    "INSERT INTO call_events (call_sid, seq, at, step, trigger, input, source, dest, lang,"
    " heard) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_events WHERE call_sid = ?),"
    " ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _SqlitePageSlot(PageCallSlot):
    def __init__(self, store: SqliteStore, call_sid: str, found: PageCall | None) -> None:
        self._store = store
        self.call_sid = call_sid
        self.page_call = found

    def put(self, call: PageCall, *, now: float, limit: int | None = None) -> bool:
        with self._store.transaction(f"page call {call.call_sid}") as db:
            if limit is not None and not call.ended:
                (live,) = db.execute(
                    "SELECT COUNT(*) FROM page_calls WHERE line = ? AND ended = 0 AND expires_at >= ?"
                    " AND call_sid != ?",
                    (call.line, now, call.call_sid),
                ).fetchone()
                if live >= limit:
                    return False
            db.execute(
                "INSERT INTO page_calls (call_sid, line, ended, expires_at, data) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (call_sid) DO UPDATE SET line = excluded.line, ended = excluded.ended,"
                " expires_at = excluded.expires_at, data = excluded.data",
                (call.call_sid, call.line, int(call.ended), call.expires_at, call.data),
            )
        self.page_call = call
        return True

    def drop(self) -> None:
        with self._store.transaction(f"page call {self.call_sid}") as db:
            db.execute("DELETE FROM page_calls WHERE call_sid = ?", (self.call_sid,))
        self.page_call = None


class SqliteMembers:
    """Member directory on the store's `members` table, seeded on first use and on a miss."""

    def __init__(self, store: SqliteStore, key: bytes) -> None:
        self._store = store
        self._key = key
        self.key_id = key_id(key)
        self._seen = False  # the directory was there (or seeded) once in this process

    def hash_member_id(self, member_id: str) -> str:
        return id_hash(self._key, member_id)

    def verify(self, member_hash: str, dob: str) -> dict[str, str] | None:
        if not self._seen:
            self.ensure()
        row = self._row(member_hash)
        if row is None and self.ensure():  # a wrong ID, or a directory that went missing
            row = self._row(member_hash)
        if row is None or not secrets.compare_digest(row[0], check_hash(self._key, member_hash, dob)):
            return None
        status: dict[str, str] = json.loads(row[1])
        return status

    def ensure(self) -> bool:
        """Seed the directory if it is missing or hashed with another key; True if it was."""
        store = self._store
        with store.errors("look the member directory up"):
            if _directory_size(store.connection(), self.key_id):
                self._seen = True
                return False
        with store.errors("seed the fictional members"), store.set_up_transaction() as db:
            if _directory_size(db, self.key_id):  # another worker seeded it meanwhile
                self._seen = True
                return False
            count = _seed_members(db, self._key, self.key_id)
        if self._seen:
            log.error(
                "the member directory in %s was missing or hashed with another key: re-seeded %d "
                "members. Was the file replaced, or IVR_SECRET_KEY changed?",
                store.path,
                count,
            )
        else:
            log.warning("member directory in %s seeded: %d fictional members", store.path, count)
        self._seen = True
        return True

    def size(self) -> int:
        """How many members the directory holds for this key (seeding it when missing)."""
        self.ensure()
        with self._store.errors("count the members"):
            return _directory_size(self._store.connection(), self.key_id)

    def _row(self, member_hash: str) -> Any:
        with self._store.errors("look a member up"):
            return (
                self._store.connection()
                .execute("SELECT check_hash, order_status FROM members WHERE id_hash = ?", (member_hash,))
                .fetchone()
            )


class SqliteStore(SessionStore):
    """A file (or `:memory:`-free temporary path) shared by every thread and process of a host."""

    def __init__(
        self,
        path: str | Path,
        *,
        ttl: int = SESSION_TTL,
        secret_key: str | bytes | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = str(path)
        self.ttl = ttl
        self.lock_timeout = lock_timeout
        #: A click holds its page call this long at most; another waits this long at most.
        self.page_lock_lease = 30.0
        self.page_lock_timeout = 10.0
        self._local = threading.local()
        self._ready = False
        self._set_up_lock = threading.Lock()
        # This process's writers queue here first (in turn, a greenlet's lock under gevent), so
        # only one of them at a time polls the flock against the other processes; whoever holds
        # it writes on the process's one writer connection (see _writer).
        self._writers = threading.RLock()
        self._writer_db: sqlite3.Connection | None = None
        self._lock_file: _LockFile | None = None
        self._pid = os.getpid()
        self._inherited: list[object] = []  # a parent's connection and lock file: never used
        self._writer_reopen = False
        if isinstance(secret_key, str):
            secret_key = secret_key.encode()
        # No key configured (a store opened by hand): one for this process only.
        self._members = SqliteMembers(self, secret_key or secrets.token_bytes(32))

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection, the file set up on first use (StoreError if it cannot be).

        Inside a write transaction it is the transaction's own, so reads see what it wrote.
        """
        writing: sqlite3.Connection | None = getattr(self._local, "writing", None)
        if writing is not None:
            return writing
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and getattr(self._local, "reopen", False):
            # Opened while the file was read-only, SQLite keeps it so: open it afresh.
            self._local.reopen = False
            db.close()
            db = None
        if db is None:
            if not self._ready:
                self._set_up()
            with self.errors("open the database"):
                db = self._connect()
            self._local.db = db
        return db

    def _connect(self, busy: float = _BUSY_WAIT, *, shared: bool = False) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=busy, isolation_level=None, check_same_thread=not shared)
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill in WAL mode
        db.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
        return db

    def _set_up(self) -> None:
        """Make the folder, WAL mode and the tables; tried again on the next use if it fails."""
        with self._set_up_lock:
            if self._ready:
                return
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"the SQLite store {self.path} cannot make its folder: {exc.strerror or exc}. "
                    "Check IVR_DATABASE"
                ) from exc
            # Several workers may open a brand-new file at once: switching it to WAL does not
            # wait on SQLite's busy handler, so the set-up runs behind the writers' lock.
            lock = self._writer_lock()
            try:
                with self.errors("set up the database"):
                    db = self._connect(busy=self.lock_timeout)  # once per process: may wait
                    try:
                        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                            db.execute("PRAGMA journal_mode=WAL")  # kept in the file from then on
                        db.executescript(_SCHEMA)
                        _migrate(db)
                    finally:
                        db.close()
            finally:
                self._unlock(lock)
            self._ready = True

    @property
    def members(self) -> SqliteMembers:
        return self._members

    def check(self) -> dict[str, object]:
        with self.transaction("a readiness check") as db:  # a real write: a read-only file fails
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('checked_at', strftime('%s', 'now'))"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
        return {"store": "sqlite", "members": self._members.size()}

    @contextmanager
    def call(self, call_sid: str, now: float) -> Iterator[CallSlot]:
        with self.transaction(f"call {call_sid}") as db:
            slot = _SqliteSlot(db, call_sid, self.ttl, now)
            yield slot
            slot.flush()

    @contextmanager
    def transaction(self, what: str = "the database") -> Iterator[sqlite3.Connection]:
        """One write transaction behind the writers' lock: committed, or rolled back on error.

        An SQLite error inside it, or at BEGIN or COMMIT, is raised as StoreError.
        """
        deadline = time.monotonic() + self.lock_timeout
        with self._writing(deadline) as db:
            with self.errors(f"lock {what}"):
                _begin(db, deadline)
            try:
                yield db
                with self.errors(f"commit {what}"):
                    db.execute("COMMIT")
            except BaseException as exc:
                _rollback(db)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(f"write {what}", exc) from exc
                raise

    @contextmanager
    def _writing(self, deadline: float) -> Iterator[sqlite3.Connection]:
        """The writers' lock and the writer connection, which this thread's reads use meanwhile."""
        # The set-up first: it runs behind the writers' lock itself, and a thread holding that
        # lock while it waited for another's set-up deadlocked both.
        if not self._ready:
            self._set_up()
        lock = self._writer_lock(deadline)
        try:
            db = self._local.writing = self._writer()
            yield db
        finally:
            self._local.writing = None
            self._unlock(lock)

    def _writer(self) -> sqlite3.Connection:
        """The process's writer connection (the caller holds the writers' lock).

        One for every thread and greenlet of the process: its page cache stays warm from one
        request to the next (a connection of each greenlet's own started every transaction cold,
        and a new keep-alive client cost a new connection), and it holds one descriptor however
        many requests are open. A process forked from this one opens its own (_writer_lock
        forgets the parent's).
        """
        db = self._writer_db
        if db is not None and self._writer_reopen:
            self._writer_reopen = False  # opened while the file was read-only: afresh
            db.close()
            db = self._writer_db = None
        if db is None:
            with self.errors("open the database"):
                db = self._writer_db = self._connect(shared=True)
        return db

    def _forget_parent(self) -> None:
        """In a process forked from the one that opened them, leave the writer connection and
        the lock file alone (closing them here would drop locks the parent holds) and open new ones."""
        if self._pid != os.getpid():
            self._inherited += [self._writer_db, self._lock_file]
            self._writer_db, self._lock_file, self._pid = None, None, os.getpid()

    @contextmanager
    def set_up_transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction for set-up work: the request's own when one is open, else a new one."""
        writing: sqlite3.Connection | None = getattr(self._local, "writing", None)
        if writing is not None:  # inside call(): BEGIN IMMEDIATE already holds the write lock
            yield writing
            return
        deadline = time.monotonic() + self.lock_timeout
        with self._writing(deadline) as db, _committed(db, deadline):
            yield db

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Raise any SQLite error inside as StoreError, saying what the store was doing."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(doing, exc) from exc

    def _error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY:
            self._local.reopen = True
            self._writer_reopen = True
        if _busy(exc):
            return StoreError(
                f"the SQLite store {self.path} cannot {doing}: another connection has held the "
                f"write lock for more than {self.lock_timeout:g} s (a long transaction, a backup, "
                "an sqlite3 shell?)"
            )
        return StoreError(
            f"the SQLite store {self.path} cannot {doing}: {str(exc).rstrip('.')}. Check that the "
            "file and its folder exist and are writable, and that the disk is not full (IVR_DATABASE)"
        )

    def _unlock(self, lock: int | None) -> None:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)
        self._writers.release()

    def _writer_lock(self, deadline: float | None = None) -> int | None:
        """Queue this thread behind the other writers of the file, processes included.

        SQLite has one writer at a time and its busy handler polls with sleeps of up to 100 ms,
        which shows as a long tail under load; polling flock() every few milliseconds hands
        the lock on soon after the writer ahead commits. Threads (greenlets under gevent) queue
        on the process's lock first, so one lock file per process does. Waiting past
        `deadline` (the lock timeout from now by default) raises StoreError: a stuck writer
        costs a caller its menu, never a webhook Twilio gives up on, and it never blocks an
        event loop.
        """
        deadline = time.monotonic() + self.lock_timeout if deadline is None else deadline
        if not self._writers.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise self._stuck()
        self._forget_parent()
        if fcntl is None or self.path == ":memory:":
            return None
        lock = self._lock_file
        if lock is None:
            try:
                lock = self._lock_file = _LockFile(self.path + ".lock")
            except OSError as exc:
                self._writers.release()
                raise StoreError(
                    f"the SQLite store {self.path} cannot open its lock file: {exc.strerror or exc}. "
                    "Check that the folder exists and is writable (IVR_DATABASE)"
                ) from exc
        pause = 0.0002
        while True:
            try:
                fcntl.flock(lock.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock.fd
            except BlockingIOError:
                if time.monotonic() + pause > deadline:
                    self._writers.release()
                    raise self._stuck() from None
            time.sleep(pause)  # gevent's sleep under gevent: the other greenlets go on
            pause = min(pause * 2, 0.005)

    def _stuck(self) -> StoreError:
        return StoreError(
            f"the SQLite store {self.path} cannot lock {self.path}.lock: another writer has held "
            f"it for more than {self.lock_timeout:g} s (a stuck worker?)"
        )

    def end_call(self, call_sid: str, status: str, now: float, duration: int | None) -> bool:
        with self.transaction(f"the end of call {call_sid}") as db:
            cursor = db.execute(
                "UPDATE calls SET status = ?, ended_at = ?, updated_at = ?,"
                " outcome = COALESCE(outcome, 'hung up in ' || state),"
                " session = json_set(session, '$.ended', json('true'), '$.verified', json('false'),"
                " '$.member_hash', NULL, '$.order_status', json('{}'), '$.rx_last4', NULL,"
                " '$.last_twiml', NULL) WHERE call_sid = ?",
                (status, now, now, call_sid),
            )
        return cursor.rowcount > 0

    def get_call(self, call_sid: str) -> CallRecord | None:
        with self.errors(f"read call {call_sid}"):
            db = self.connection()
            row = db.execute(f"SELECT {_RECORD_COLUMNS} FROM calls WHERE call_sid = ?", (call_sid,))
            found = row.fetchone()
            if found is None:
                return None
            record = _record(found)
            record.events = [
                CallEvent(*r)
                for r in db.execute(
                    "SELECT at, step, trigger, input, source, dest, lang, heard FROM call_events"
                    " WHERE call_sid = ? ORDER BY seq",
                    (call_sid,),
                )
            ]
        return record

    def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        with self.errors("read the recent calls"):
            rows = self.connection().execute(
                f"SELECT {_RECORD_COLUMNS} FROM calls ORDER BY started_at DESC LIMIT ?", (limit,)
            )
            return [_record(r) for r in rows]

    def live_calls(self, line: str, now: float) -> list[CallRecord]:
        with self.errors("read the live calls"):
            rows = self.connection().execute(
                f"SELECT {_RECORD_COLUMNS} FROM calls WHERE line = ? AND ended_at IS NULL"
                " AND expires_at >= ? ORDER BY started_at",
                (line, now),
            )
            return [_record(r) for r in rows]

    def ended_calls(self, line: str, since: float) -> list[CallRecord]:
        with self.errors("read the ended calls"):
            rows = self.connection().execute(
                f"SELECT {_RECORD_COLUMNS} FROM calls WHERE ended_at >= ? AND line = ? ORDER BY ended_at",
                (since, line),
            )
            return [_record(r) for r in rows]

    # -- page calls ------------------------------------------------------------------------

    @contextmanager
    def page_call(self, call_sid: str, now: float) -> Iterator[PageCallSlot]:
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.page_lock_timeout
        pause = 0.005
        while not self._page_lock(call_sid, token):
            if time.monotonic() > deadline:
                raise StoreError(
                    f"page call {call_sid} stayed locked by another click for {self.page_lock_timeout}s; "
                    f"the lock frees itself after {self.page_lock_lease}s: retry then"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        try:
            with self.errors(f"read page call {call_sid}"):
                row = (
                    self.connection()
                    .execute(
                        "SELECT call_sid, line, data, ended, expires_at FROM page_calls WHERE call_sid = ?",
                        (call_sid,),
                    )
                    .fetchone()
                )
            yield _SqlitePageSlot(self, call_sid, _page(row) if row else None)
        finally:
            with self.transaction(f"unlock page call {call_sid}") as db:
                db.execute("DELETE FROM page_locks WHERE call_sid = ? AND token = ?", (call_sid, token))

    def _page_lock(self, call_sid: str, token: str) -> bool:
        wall = time.time()  # a lease in real time, whatever clock the caller's `now` is on
        with self.transaction(f"lock page call {call_sid}") as db:
            cursor = db.execute(
                "INSERT INTO page_locks (call_sid, token, until) VALUES (?, ?, ?)"
                " ON CONFLICT (call_sid) DO UPDATE SET token = excluded.token, until = excluded.until"
                " WHERE page_locks.until < ?",
                (call_sid, token, wall + self.page_lock_lease, wall),
            )
        return cursor.rowcount > 0

    def page_calls(self, line: str | None, now: float, *, ended: bool = False) -> list[PageCall]:
        query = f"SELECT {_PAGE_COLUMNS} FROM page_calls WHERE ended <= ? AND expires_at >= ?"
        args: tuple[Any, ...] = (int(ended), now)
        if line is not None:
            query, args = query + " AND line = ?", (*args, line)
        with self.errors("read the page calls"):
            return [_page(r) for r in self.connection().execute(query, args)]

    def expired_page_calls(self, now: float, limit: int = 100) -> list[PageCall]:
        with self.errors("read the expired page calls"):
            rows = self.connection().execute(
                f"SELECT {_PAGE_COLUMNS} FROM page_calls WHERE ended = 0 AND expires_at < ?"
                " ORDER BY expires_at LIMIT ?",
                (now, limit),
            )
            return [_page(r) for r in rows]

    def purge(self, now: float, records_before: float) -> Purged:
        old = "started_at < ? AND (ended_at IS NOT NULL OR expires_at < ?)"
        with self.transaction("a purge") as db:
            sessions = db.execute(
                "UPDATE calls SET session = NULL WHERE session IS NOT NULL AND expires_at < ?", (now,)
            ).rowcount
            db.execute(
                f"DELETE FROM call_events WHERE call_sid IN (SELECT call_sid FROM calls WHERE {old})",  # noqa: S608
                (records_before, now),
            )
            records = db.execute(f"DELETE FROM calls WHERE {old}", (records_before, now)).rowcount  # noqa: S608
            pages = db.execute(
                "DELETE FROM page_calls WHERE expires_at < ? AND (ended = 1 OR expires_at < ?)",
                (now, now - PAGE_CALL_GRACE),
            ).rowcount
            db.execute("DELETE FROM page_locks WHERE until < ?", (time.time(),))
        return Purged(sessions, records, pages)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        with self._writers:  # not under a transaction of another thread
            self._forget_parent()
            if self._writer_db is not None:
                self._writer_db.close()
                self._writer_db = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def iter_raw_text(self) -> Iterator[str]:
        with self.errors("read its tables"):
            db = self.connection()
            for table in ("calls", "call_events", "meta", "page_calls"):
                for row in db.execute(f"SELECT * FROM {table}"):  # noqa: S608 - fixed table names
                    yield " ".join(str(v) for v in row)

    # -- failure counts (identity lockouts, trainer logins) -----------------------------

    def count_failure(self, key: str, window: float, now: float) -> int:
        # In the request's own transaction when a call is open (an identity check's action).
        with self.errors("count a failure"), self.set_up_transaction() as db:
            db.execute(_FAILURES_TABLE)
            db.execute(_FAILURES_INDEX)
            db.execute("DELETE FROM failures WHERE at <= ?", (now - window,))
            db.execute("INSERT INTO failures (key, at) VALUES (?, ?)", (key, now))
            row = db.execute("SELECT COUNT(*) FROM failures WHERE key = ? AND at > ?", (key, now - window))
            return int(row.fetchone()[0])

    def failures(self, key: str, window: float, now: float) -> int:
        try:
            with self.errors("read the failure counts"):
                row = self.connection().execute(
                    "SELECT COUNT(*) FROM failures WHERE key = ? AND at > ? AND at <= ?",
                    (key, now - window, now),
                )
                return int(row.fetchone()[0])
        except StoreError as exc:
            if "no such table" in str(exc):
                return 0  # nothing has failed yet on this file
            raise


#: Failure times by key (a keyed hash of a caller's number or a trainer's address), made on first use.
_FAILURES_TABLE = "CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL)"
_FAILURES_INDEX = "CREATE INDEX IF NOT EXISTS failures_key_at ON failures (key, at)"

_RECORD_COLUMNS = (
    "call_sid, line, reference, caller, started_at, updated_at, ended_at, status, outcome, state, lang"
)


_PAGE_COLUMNS = "call_sid, line, data, ended, expires_at"


def _record(row: Any) -> CallRecord:
    return CallRecord(*row)


def _page(row: Any) -> PageCall:
    return PageCall(call_sid=row[0], line=row[1], data=row[2], ended=bool(row[3]), expires_at=row[4])


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file an older version made up to this schema (columns added since)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(call_events)")}
    if "heard" not in columns:
        db.execute("ALTER TABLE call_events ADD COLUMN heard TEXT NOT NULL DEFAULT ''")
        log.warning("added the column call_events.heard to an older database")
    # calls_live (line, ended_at, expires_at) became calls_open (line, ended_at): one index
    # page fewer written per step, as expires_at moves on every step.
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'calls_live'").fetchone():
        db.execute("DROP INDEX calls_live")
        log.info("replaced the index calls_live of an older database by calls_open")
    # calls_ended (ended_at) repeated calls_open for the one query on ended_at, which names the
    # line: one index page fewer written per new call and per end of call.
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'calls_ended'").fetchone():
        db.execute("DROP INDEX calls_ended")
        log.info("dropped the index calls_ended of an older database: calls_open serves its query")


def _directory_size(db: sqlite3.Connection, kid: str) -> int:
    """How many members the table holds, if they were hashed with the key named `kid` (else 0)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'members_key_id'").fetchone()
    if row is None or row[0] != kid:
        return 0
    return int(db.execute("SELECT COUNT(*) FROM members").fetchone()[0])


def _seed_members(db: sqlite3.Connection, key: bytes, kid: str) -> int:
    """Replace the directory with the fictional members hashed with `key` (inside a transaction)."""
    rows = fixture_rows(key)
    db.execute("DELETE FROM members")
    db.executemany(
        "INSERT INTO members (id_hash, check_hash, order_status) VALUES (?, ?, ?)",
        [(r.id_hash, r.check_hash, json.dumps(r.order_status)) for r in rows],
    )
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('members_key_id', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (kid,),
    )
    # Older versions kept the hash key here, next to the hashes: it does not belong in the file.
    if db.execute("DELETE FROM meta WHERE key = 'member_key'").rowcount:
        log.warning("removed the member hash key an older version kept in the database")
    return len(rows)


class _LockFile:
    """The writers' lock file of a process, closed when it is collected."""

    __slots__ = ("fd",)

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()


def _busy(exc: BaseException) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def _begin(db: sqlite3.Connection, deadline: float) -> None:
    """BEGIN IMMEDIATE, tried again until `deadline` while another connection holds the lock."""
    pause = 0.001
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # cooperative under gevent, where SQLite's own wait would block
        pause = min(pause * 2, 0.05)


@contextmanager
def _committed(db: sqlite3.Connection, deadline: float) -> Iterator[None]:
    """A set-up transaction (the caller holds the writers' lock): committed, or rolled back."""
    _begin(db, deadline)
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back what is open; a failed rollback is logged, never raised over the first error."""
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.warning("rollback failed: %s", exc)
