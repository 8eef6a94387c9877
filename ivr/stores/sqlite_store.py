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
from ivr.engine.store import CallEvent, CallRecord, CallSlot, SessionStore

log = logging.getLogger(__name__)

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
    PRIMARY KEY (call_sid, seq)
);
CREATE TABLE IF NOT EXISTS members (
    id_hash TEXT PRIMARY KEY,
    check_hash TEXT NOT NULL,
    order_status TEXT NOT NULL
);
"""


class _SqliteSlot(CallSlot):
    def __init__(self, db: sqlite3.Connection, call_sid: str, ttl: int, now: float) -> None:
        self.db = db
        self.call_sid = call_sid
        self.ttl = ttl
        row = db.execute("SELECT session, expires_at FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
        self.known = row is not None
        self.session = None
        if row is not None and row[0] is not None and row[1] >= now:
            self.session = CallSession.from_dict(json.loads(row[0]))

    def create(self, session: CallSession, *, caller: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO calls (call_sid, line, reference, caller, started_at, updated_at,"
            " expires_at, status, state, lang, session) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (call_sid) DO UPDATE SET line = excluded.line,"
            " reference = excluded.reference, updated_at = excluded.updated_at,"
            " expires_at = excluded.expires_at, status = excluded.status, ended_at = NULL,"
            " outcome = NULL, state = excluded.state, lang = excluded.lang,"
            " session = excluded.session",
            (
                self.call_sid,
                session.line,
                session.reference,
                caller,
                now,
                now,
                now + self.ttl,
                "in-progress",
                session.state,
                session.lang,
                json.dumps(session.to_dict()),
            ),
        )
        self.known = True
        self.session = session

    def save(self, session: CallSession, *, now: float, outcome: str | None = None) -> None:
        self.db.execute(
            "UPDATE calls SET updated_at = ?, expires_at = ?, state = ?, lang = ?, session = ?,"
            " outcome = COALESCE(?, outcome) WHERE call_sid = ?",
            (
                now,
                now + self.ttl,
                session.state,
                session.lang,
                json.dumps(session.to_dict()),
                outcome,
                self.call_sid,
            ),
        )
        self.session = session

    def log(self, event: CallEvent) -> None:
        self.db.execute(
            "INSERT INTO call_events (call_sid, seq, at, step, trigger, input, source, dest, lang)"
            " VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_events WHERE call_sid = ?),"
            " ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    def reference_free(self, reference: str) -> bool:
        row = self.db.execute("SELECT 1 FROM calls WHERE reference = ?", (reference,)).fetchone()
        return row is None


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
        self, path: str | Path, *, ttl: int = SESSION_TTL, secret_key: str | bytes | None = None
    ) -> None:
        self.path = str(path)
        self.ttl = ttl
        self._local = threading.local()
        self._ready = False
        self._set_up_lock = threading.Lock()
        if isinstance(secret_key, str):
            secret_key = secret_key.encode()
        # No key configured (a store opened by hand): one for this process only.
        self._members = SqliteMembers(self, secret_key or secrets.token_bytes(32))

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection, the file set up on first use (StoreError if it cannot be)."""
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

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill in WAL mode
        db.execute("PRAGMA busy_timeout=30000")
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
                    db = self._connect()
                    try:
                        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                            db.execute("PRAGMA journal_mode=WAL")  # kept in the file from then on
                        db.executescript(_SCHEMA)
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
            yield _SqliteSlot(db, call_sid, self.ttl, now)

    @contextmanager
    def transaction(self, what: str = "the database") -> Iterator[sqlite3.Connection]:
        """One write transaction behind the writers' lock: committed, or rolled back on error.

        An SQLite error inside it, or at BEGIN or COMMIT, is raised as StoreError.
        """
        lock = self._writer_lock()
        try:
            with self.errors(f"lock {what}"):
                db = self.connection()
                db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                with self.errors(f"commit {what}"):
                    db.execute("COMMIT")
            except BaseException as exc:
                _rollback(db)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(f"write {what}", exc) from exc
                raise
        finally:
            self._unlock(lock)

    @contextmanager
    def set_up_transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction for set-up work: the request's own when one is open, else a new one."""
        db = self.connection()
        if db.in_transaction:  # inside call(): BEGIN IMMEDIATE already holds the write lock
            yield db
            return
        lock = self._writer_lock()
        try:
            with _committed(db):
                yield db
        finally:
            self._unlock(lock)

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
        return StoreError(
            f"the SQLite store {self.path} cannot {doing}: {str(exc).rstrip('.')}. Check that the "
            "file and its folder exist and are writable, and that the disk is not full (IVR_DATABASE)"
        )

    @staticmethod
    def _unlock(lock: int | None) -> None:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def _writer_lock(self) -> int | None:
        """Queue this thread behind the other writers of the file, processes included.

        SQLite has one writer at a time and its busy handler polls with sleeps of up to 100 ms,
        which shows as a long tail under load; a blocking flock() is woken as soon as the
        writer ahead commits. The lock is per open file, so each thread opens its own.
        """
        if fcntl is None or self.path == ":memory:":
            return None
        fd: int | None = getattr(self._local, "lock_fd", None)
        if fd is None:
            try:
                fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreError(
                    f"the SQLite store {self.path} cannot open its lock file: {exc.strerror or exc}. "
                    "Check that the folder exists and is writable (IVR_DATABASE)"
                ) from exc
            self._local.lock_fd = fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def end_call(self, call_sid: str, status: str, now: float, duration: int | None) -> bool:
        with self.transaction(f"the end of call {call_sid}") as db:
            cursor = db.execute(
                "UPDATE calls SET status = ?, ended_at = ?, updated_at = ?,"
                " outcome = COALESCE(outcome, 'hung up in ' || state),"
                " session = json_set(session, '$.ended', json('true')) WHERE call_sid = ?",
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
                    "SELECT at, step, trigger, input, source, dest, lang FROM call_events"
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

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        fd = getattr(self._local, "lock_fd", None)
        if fd is not None:
            os.close(fd)
            self._local.lock_fd = None

    def iter_raw_text(self) -> Iterator[str]:
        with self.errors("read its tables"):
            db = self.connection()
            for table in ("calls", "call_events", "meta"):
                for row in db.execute(f"SELECT * FROM {table}"):  # noqa: S608 - fixed table names
                    yield " ".join(str(v) for v in row)


_RECORD_COLUMNS = (
    "call_sid, line, reference, caller, started_at, updated_at, ended_at, status, outcome, state, lang"
)


def _record(row: Any) -> CallRecord:
    return CallRecord(*row)


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


@contextmanager
def _committed(db: sqlite3.Connection) -> Iterator[None]:
    """A set-up transaction (the caller holds the writers' lock): committed, or rolled back."""
    db.execute("BEGIN IMMEDIATE")
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
