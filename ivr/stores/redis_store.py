"""Redis session store: two round trips per step, one per final status, shared by every worker.

`call()` takes the call's lock (SET NX PX, a token of its own) and reads the record in one
server-side script, sent together with a GET of the session (one trip: while the lock is held no
other request writes the session, and a large value costs Redis far less by GET than through a
script); the writes are buffered and sent in one more script that writes them only while the
lock still holds this request's token, then releases it. The token is the version the write is
checked against: a request that outlived its lease finds another's token there and writes
nothing (a StoreError), so no update is lost, and requests for one call are serialised across
processes and hosts as SQLite's BEGIN IMMEDIATE serialises them.

A step cannot be one optimistic trip (fire on a copy kept in the process, then write if the
version is unchanged): `call()` is a context manager, so its body runs once and cannot be run
again on a conflict, and it may have counted an identity failure (count_failure) that a second
run would count again. The read before the body is what lets another worker's fresher write,
or a retried webhook in flight, be seen in time.

`end_call()` takes no lock: one script closes the record if no request holds the call and the
call's line and session are the ones this process last saw of it (it served the call's last
step): one round trip; else it answers what is there, and a second trip closes it.

Every script runs by EVALSHA (loaded again by EVAL on NOSCRIPT, ivr.stores.redis_scripts),
and the hot commands go through `_Link`: packed commands straight on a redis-py connection,
with the client's retry policy but not its per-command bookkeeping.

Keys, under a prefix (default "ivr:"):

    call:<sid>      hash    the record (CallRecord fields and `expires_at`), kept `record_ttl`
    session:<sid>   string  the session as JSON, gone `ttl` seconds after its last save
    events:<sid>    list    the path, one JSON CallEvent per step, kept `record_ttl`
    ref:<number>    string  the call holding a reference number, kept `record_ttl`
    lock:<sid>      string  the holder's token while a request works on the call
    recent          zset    call SIDs by start time
    live:<line>     zset    calls in progress on a line, by session expiry
    ended:<line>    zset    ended calls of a line, by end time (kept `record_ttl`)
    page:<sid>      string  a trainer-page call between clicks (JSON), kept past its expiry
    pages           zset    page calls still up, by expiry (to hang up expired ones)
    pages:<line>    zset    the same for one line (to count and list them)
    pagesall:<line> zset    every page call a line keeps, ended ones too, by expiry
    pagelock:<sid>  string  the holder's token while a click works on the page call
    members:<kid>   hash    member ID hash -> {"check": keyed hash with DOB, "order_status"}
    failures:<key>  zset    failed identity checks of one source, by time (kept the window)
    ready           string  the last readiness check (a real write), gone after a minute

Opening the store sends nothing to Redis: a worker boots while Redis is down. The member
directory is named after its key (`kid`, ivr.engine.members.key_id) and has no TTL, so it
outlives sessions under a `volatile-*` eviction policy; when it is missing all the same (an
empty restart, `allkeys-*` eviction) the first identity check that misses re-seeds it and
logs an error. The hash key itself is never kept in Redis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import hiredis
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.typing import EncodableT

from ivr.engine.call import CallSession
from ivr.engine.config import RECORD_TTL, SESSION_TTL
from ivr.engine.errors import ConfigError, StoreError
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
    draw_reference,
    ended_session,
)
from ivr.stores import redis_scripts

log = logging.getLogger(__name__)

#: How many calls' last-seen line and session a store remembers (for `end_call` in one trip).
_SEEN = 2048
#: Idle connections a store keeps open at most (more are closed when they come back).
_IDLE = 64


class _Script:
    """A Lua script and its SHA1, as EVALSHA names it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


_READ = _Script(redis_scripts.READ)
_COMMIT = _Script(redis_scripts.COMMIT)
_END = _Script(redis_scripts.END)
_RELEASE = _Script(redis_scripts.RELEASE)
_COUNT_FAILURE = _Script(redis_scripts.COUNT_FAILURE)
_MEMBER = _Script(redis_scripts.MEMBER)
_PUT_PAGE = _Script(redis_scripts.PUT_PAGE)


class _Connection(Protocol):
    """What `_Link` uses of a redis-py connection (whose methods are not annotated)."""

    retry: Retry

    def send_packed_command(self, command: list[bytes], check_health: bool = True) -> None: ...

    def read_response(self) -> Any: ...

    def disconnect(self) -> None: ...


def _pack(args: tuple[EncodableT, ...]) -> bytes:
    # hiredis's stub types the argument as a tuple of one item; it takes any number.
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]
    return packed


class _Link:
    """One command, one round trip: packed by hiredis, sent on a connection of redis-py's kind
    (connect, AUTH, SELECT, TLS and timeouts as the URL says, the client's retry policy on a
    dropped connection), its reply read; none of the client's per-command bookkeeping (its pool,
    observability hooks, response callbacks), which cost as much as the trip itself.

    Connections are taken from and given back to a list (atomic under the GIL, and between
    greenlets); a process forked from this one opens its own instead of sharing the parent's.
    """

    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        self._kwargs = dict(pool.connection_kwargs)
        self._class: Any = pool.connection_class
        self._idle: list[_Connection] = []
        self._pid = os.getpid()

    def run(self, script: _Script, keys: Sequence[str], args: Sequence[EncodableT]) -> Any:
        """EVALSHA the script; EVAL it (which loads it) when Redis has not got it."""
        try:
            return self.send(_pack(("EVALSHA", script.sha, len(keys), *keys, *args)))
        except NoScriptError:  # a restarted, failed-over or flushed Redis
            return self.send(_pack(("EVAL", script.source, len(keys), *keys, *args)))

    def run_then_get(
        self, script: _Script, keys: Sequence[str], args: Sequence[EncodableT], key: str
    ) -> tuple[Any, Any]:
        """The script, then GET `key`, in one trip (sent together, answered together): a large
        value read by GET costs Redis a tenth of what it costs through a script."""
        get = _pack(("GET", key))
        replies = self.send(_pack(("EVALSHA", script.sha, len(keys), *keys, *args)) + get, 2)
        if isinstance(replies[0], NoScriptError):
            replies = self.send(_pack(("EVAL", script.source, len(keys), *keys, *args)) + get, 2)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies[0], replies[1]

    def command(self, *args: EncodableT) -> Any:
        return self.send(_pack(args))

    def send(self, packed: bytes, replies: int = 1) -> Any:
        """Send one or more packed commands; their reply (a list of `replies` replies, error
        replies in it as exceptions, when more than one)."""
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = cast(_Connection, self._class(**self._kwargs))
        try:
            try:
                return _trip(conn, packed, replies)
            except (RedisConnectionError, RedisTimeoutError):
                conn.disconnect()  # a stale connection (Redis restarted): the retry policy's turn
                return conn.retry.call_with_retry(
                    lambda: _trip(conn, packed, replies), lambda _: conn.disconnect()
                )
        finally:  # a failed trip left it disconnected (redis-py does): it connects again when used
            if len(self._idle) < _IDLE:
                self._idle.append(conn)
            else:
                conn.disconnect()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn in idle:
                conn.disconnect()


def _trip(conn: _Connection, packed: bytes, replies: int) -> Any:
    conn.send_packed_command([packed], check_health=False)
    if replies == 1:
        return conn.read_response()
    out: list[Any] = []
    for _ in range(replies):
        try:
            out.append(conn.read_response())
        except ResponseError as error:  # read whole: the next reply follows
            out.append(error)
    return out


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.recent = f"{prefix}recent"
        self.ready = f"{prefix}ready"
        # Where older versions kept the hash key, and the directory next to it: deleted on seeding.
        self.old = (f"{prefix}member_key", f"{prefix}members")

    def members(self, kid: str) -> str:
        return f"{self.prefix}members:{kid}"

    def record(self, call_sid: str) -> str:
        return f"{self.prefix}call:{call_sid}"

    def session(self, call_sid: str) -> str:
        return f"{self.prefix}session:{call_sid}"

    def events(self, call_sid: str) -> str:
        return f"{self.prefix}events:{call_sid}"

    def reference(self, reference: str) -> str:
        return f"{self.prefix}ref:{reference}"

    def lock(self, call_sid: str) -> str:
        return f"{self.prefix}lock:{call_sid}"

    def live(self, line: str) -> str:
        return f"{self.prefix}live:{line}"

    def ended(self, line: str) -> str:
        return f"{self.prefix}ended:{line}"

    def page(self, call_sid: str) -> str:
        return f"{self.prefix}page:{call_sid}"

    def pages(self, line: str | None = None) -> str:
        return f"{self.prefix}pages:{line}" if line is not None else f"{self.prefix}pages"

    def all_pages(self, line: str | None) -> str:
        return f"{self.prefix}pagesall:{line}" if line is not None else f"{self.prefix}pagesall"

    def page_lock(self, call_sid: str) -> str:
        return f"{self.prefix}pagelock:{call_sid}"


#: What the locked read found: the record's started_at, expires_at, reference, caller and line
#: (None where missing), the session (JSON), whether the record exists, whether the candidate
#: reference number is taken.
_Found = list[Any]


class _RedisSlot(CallSlot):
    """Holds what the locked read found; buffers every write for the commit script."""

    def __init__(self, store: RedisStore, call_sid: str, now: float, found: _Found, candidate: str) -> None:
        started, expires, reference, caller, line, raw, exists, taken = found
        self._store = store
        #: A reference number the read found free (None once offered, or if it was taken).
        self._candidate = None if taken else candidate
        self.call_sid = call_sid
        self.known = bool(exists)
        self._started: str | None = started if exists else None
        self._reference: str | None = reference if exists else None
        self._caller: str | None = caller if exists else None
        self._line: str | None = line if exists else None
        #: The session as stored (JSON), None when there is none.
        self._raw: str | None = raw if exists else None
        self.session = None
        if self._raw is not None and expires is not None and float(expires) >= now:
            self.session = CallSession.from_dict(json.loads(self._raw))
        self._fields: dict[str, str] = {}
        self._cleared: set[str] = set()
        self._session_json: str | None = None
        self._events: list[str] = []
        self._claimed: set[str] = set()
        self._released: set[str] = set()
        self._new_start: str | None = None  # set by create: the call is listed in `recent`

    def create(self, session: CallSession, *, caller: str, now: float) -> None:
        if self._reference and self._reference != session.reference:
            self._released.add(self._reference)
        self._claimed.add(session.reference)
        self._new_start = repr(float(self._started)) if self._started is not None else repr(now)
        fields = {
            "call_sid": self.call_sid,
            "caller": self._caller if self._caller is not None else caller,
            "started_at": self._new_start,
            "status": "in-progress",
            "line": session.line,
            "reference": session.reference,
        }
        self._started, self._caller, self._line = self._new_start, fields["caller"], session.line
        self._reference = session.reference
        self._cleared = {"ended_at", "outcome"}
        self._set(fields)
        self.known = True
        self.save(session, now=now)

    def save(self, session: CallSession, *, now: float, outcome: str | None = None) -> None:
        fields = {
            "updated_at": repr(now),
            "expires_at": repr(now + self._store.ttl),
            "state": session.state,
            "lang": session.lang,
        }
        if outcome is not None:
            fields["outcome"] = outcome
        self._set(fields)
        self._session_json = json.dumps(session.to_dict())
        self.session = session

    def log(self, event: CallEvent) -> None:
        self._events.append(json.dumps(event.__dict__))

    def new_reference(self) -> str:
        candidate, self._candidate = self._candidate, None
        if candidate is not None and candidate not in self._claimed:
            return candidate  # checked free by the read: no round trip of its own
        return super().new_reference()

    def reference_free(self, reference: str) -> bool:
        # The commit script claims it only if no call has taken it meanwhile (else nothing is written).
        if reference in self._claimed:
            return False
        store = self._store
        with store.errors(f"look reference {reference} up"):
            return not store.link.command("EXISTS", store.keys.reference(reference))

    def commit(self, lock: str, token: str, now: float) -> tuple[list[str], list[EncodableT]]:
        """The commit script's keys and arguments: everything buffered (with nothing buffered,
        the script only frees the lock)."""
        store, sid = self._store, self.call_sid
        keys, keep = store.keys, store.record_ttl
        line = self._line or ""
        names = [lock, keys.record(sid), keys.session(sid), keys.events(sid), keys.recent, keys.live(line)]
        if not (self._fields or self._session_json or self._events):
            return names, [token, sid, keep, "", store.ttl, "", "", "", "", 0, 0, 0, 0, 0]
        names += [keys.reference(r) for r in self._claimed]
        names += [keys.reference(r) for r in self._released]
        items = [x for pair in self._fields.items() for x in pair]
        live = self._fields.get("expires_at", "") if line else ""
        args: list[EncodableT] = [
            token,
            sid,
            keep,
            self._session_json or "",
            store.ttl,
            live,
            f"({now!r}",
            self._new_start or "",
            repr(now - keep),
            len(self._cleared),
            len(items),
            len(self._events),
            len(self._claimed),
            len(self._released),
            *self._cleared,
            *items,
            *self._events,
        ]
        return names, args

    def seen(self) -> tuple[str, str] | None:
        """The call's line and stored session ('' for none) once committed; None if no record."""
        if not self.known or self._line is None:
            return None
        stored = self._session_json if self._session_json is not None else self._raw
        return self._line, stored or ""

    def _set(self, fields: dict[str, str]) -> None:
        self._fields.update(fields)
        self._cleared -= fields.keys()


class _RedisPageSlot(PageCallSlot):
    def __init__(self, store: RedisStore, call_sid: str, found: PageCall | None) -> None:
        self._store = store
        self.call_sid = call_sid
        self.page_call = found

    def put(self, call: PageCall, *, now: float, limit: int | None = None) -> bool:
        if not self._store.put_page_call(call, now, limit):
            return False
        if self.page_call is not None and self.page_call.line != call.line:
            self._store.drop_page_call(self.call_sid, self.page_call.line)
            self._store.put_page_call(call, now, None)
        self.page_call = call
        return True

    def drop(self) -> None:
        if self.page_call is not None:
            self._store.drop_page_call(self.call_sid, self.page_call.line)
        self.page_call = None


class RedisMembers:
    """Member directory on the store's `members:<kid>` hash, re-seeded when it has gone."""

    def __init__(self, store: RedisStore, key: bytes) -> None:
        self._store = store
        self._key = key
        self.key_id = key_id(key)
        self._name = store.keys.members(self.key_id)
        self._seen = False  # the directory was there (or seeded) once in this process

    def hash_member_id(self, member_id: str) -> str:
        return id_hash(self._key, member_id)

    def verify(self, member_hash: str, dob: str) -> dict[str, str] | None:
        raw = self._lookup(member_hash)
        if raw is None:
            return None
        row = json.loads(raw)
        if not secrets.compare_digest(row["check"], check_hash(self._key, member_hash, dob)):
            return None
        return cast(dict[str, str], row["order_status"])

    def size(self) -> int:
        """How many members the directory holds (seeding it when missing)."""
        with self._store.errors("count the members"):
            count = int(self._store.client.hlen(self._name))
            if not count:
                count = self._seed()
        return count

    def _lookup(self, member_hash: str) -> str | None:
        store = self._store
        with store.errors("look a member up"):
            raw = store.link.run(_MEMBER, [self._name], [member_hash])
            if raw == 0:  # not a wrong ID: the directory itself is gone
                self._seed()
                raw = store.link.command("HGET", self._name, member_hash)
        return _maybe_text(raw)

    def _seed(self) -> int:
        rows = {
            r.id_hash: json.dumps({"check": r.check_hash, "order_status": r.order_status})
            for r in fixture_rows(self._key)
        }
        keys = self._store.keys
        with self._store.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._name, *keys.old)  # never the key next to the hashes
            pipe.hset(self._name, mapping=_encodable(rows))
            pipe.execute()
        if self._seen:
            log.error(
                "the member directory %s vanished from Redis at %s: re-seeded %d members. Redis "
                "restarted without persistence or evicted it: use maxmemory-policy noeviction or "
                "volatile-lru, and persistence (appendonly yes)",
                self._name,
                self._store.url,
                len(rows),
            )
        else:
            log.warning(
                "the member directory %s was missing from Redis at %s (first start, or Redis lost "
                "its data): re-seeded %d fictional members",
                self._name,
                self._store.url,
                len(rows),
            )
        self._seen = True
        return len(rows)


class RedisStore(SessionStore):
    """Calls in one Redis database, shared by every worker on every host that uses the same URL."""

    def __init__(
        self,
        url: str,
        *,
        ttl: int = SESSION_TTL,
        record_ttl: int = RECORD_TTL,
        secret_key: str | bytes | None = None,
        prefix: str = "ivr:",
        lock_lease: float = 5.0,
        lock_timeout: float = 10.0,
    ) -> None:
        if record_ttl < ttl:
            raise ConfigError(
                f"record_ttl ({record_ttl}s) is shorter than the session ttl ({ttl}s): "
                "records must outlive sessions; raise IVR_RECORD_TTL"
            )
        self.url = redact_url(url)
        self.ttl = ttl
        self.record_ttl = record_ttl
        self.keys = _Keys(prefix)
        self.lock_lease = lock_lease
        self.lock_timeout = lock_timeout
        try:
            self._client = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
            )
        except ValueError as exc:
            raise ConfigError(
                f"IVR_REDIS_URL={self.url!r} is not a Redis URL ({exc}); "
                "use redis://host:6379/0 (or rediss:// for TLS)"
            ) from exc
        self._link = _Link(self._client)
        self._lease_ms = int(lock_lease * 1000)
        #: Each call's line and session as this process last saw them: end_call's guess.
        self._seen: dict[str, tuple[str, str]] = {}
        #: A click holds its page call this long at most (it runs a few webhooks meanwhile).
        self.page_lock_lease = 30.0
        if isinstance(secret_key, str):
            secret_key = secret_key.encode()
        # No key configured (a store opened by hand): one for this process only.
        self._members = RedisMembers(self, secret_key or secrets.token_bytes(32))

    @property
    def client(self) -> redis.Redis:
        return self._client

    @property
    def link(self) -> _Link:
        return self._link

    @property
    def members(self) -> RedisMembers:
        return self._members

    def check(self) -> dict[str, object]:
        with self.errors("answer a readiness check"):
            self._client.set(self.keys.ready, repr(time.time()), px=60_000)  # a real write
        return {"store": "redis", "members": self._members.size()}

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Raise any Redis error inside as StoreError, saying what the store was doing."""
        try:
            yield
        except redis.RedisError as exc:
            raise StoreError(
                f"cannot {doing} on Redis at {self.url}: {exc}. Start redis-server there, "
                "or point IVR_REDIS_URL at one that runs."
            ) from exc

    @contextmanager
    def call(self, call_sid: str, now: float) -> Iterator[CallSlot]:
        lock, token, candidate = self.keys.lock(call_sid), secrets.token_hex(16), draw_reference()
        slot = _RedisSlot(
            self, call_sid, now, self._lock_and_read(call_sid, lock, token, candidate), candidate
        )
        try:
            yield slot  # an error in the body: nothing is written, the lock is freed
        except BaseException:
            self._unlock(lock, token, call_sid)
            raise
        keys, args = slot.commit(lock, token, now)
        try:
            done = self._link.run(_COMMIT, keys, args)
        except redis.RedisError as exc:
            self._unlock(lock, token, call_sid)
            raise StoreError(f"cannot save call {call_sid} to {self.url}: {exc}") from exc
        if done == 0:
            raise StoreError(
                f"call {call_sid} changed while this request held it past its lock lease "
                f"({self.lock_lease}s); nothing was written. Raise lock_lease if requests "
                "are that slow."
            )
        if done == -1:
            raise StoreError(
                f"call {call_sid}: its new reference number was taken by another call meanwhile; "
                "nothing was written. Retry the request."
            )
        seen = slot.seen()
        if seen is not None:
            if len(self._seen) >= _SEEN:
                self._seen.clear()  # calls long over, mostly: a guess missed costs one trip
            self._seen[call_sid] = seen

    def _lock_and_read(self, call_sid: str, lock: str, token: str, candidate: str) -> _Found:
        """Take the call's lock and read its record and session (and whether reference
        `candidate` is taken): one EVALSHA per try."""
        keys = [lock, self.keys.record(call_sid), self.keys.session(call_sid), self.keys.reference(candidate)]
        args: list[EncodableT] = [token, self._lease_ms]
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        try:
            while True:
                found, raw = self._link.run_then_get(_READ, keys, args, keys[2])
                if found:
                    return [*found[:5], raw, *found[5:]]
                if time.monotonic() > deadline:
                    raise self._held(call_sid)
                time.sleep(pause * (0.5 + secrets.randbelow(1000) / 1000))
                pause = min(pause * 2, 0.05)
        except redis.RedisError as exc:
            raise StoreError(
                f"cannot lock call {call_sid} on Redis at {self.url}: {exc}. Start redis-server "
                "there, or point IVR_REDIS_URL at one that runs."
            ) from exc

    def _held(self, call_sid: str) -> StoreError:
        return StoreError(
            f"call {call_sid} stayed locked by another request for {self.lock_timeout}s; "
            "a worker may be stuck. It frees itself after the lock lease "
            f"({self.lock_lease}s); retry then."
        )

    def _unlock(self, lock: str, token: str, call_sid: str, what: str = "call") -> None:
        try:
            self._link.run(_RELEASE, [lock], [token])
        except redis.RedisError:  # the lease lapses by itself
            log.warning("could not release the lock of %s %s", what, call_sid)

    def end_call(self, call_sid: str, status: str, now: float, duration: int | None) -> bool:
        keys, keep = self.keys, self.record_ttl
        guess = self._seen.pop(call_sid, None)
        line, raw = guess if guess is not None else ("", "")
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        with self.errors(f"end call {call_sid}"):
            while True:
                ended = json.dumps(ended_session(json.loads(raw))) if raw else ""
                names = [
                    keys.lock(call_sid),
                    keys.record(call_sid),
                    keys.session(call_sid),
                    keys.live(line),
                    keys.ended(line),
                ]
                args: list[EncodableT] = [
                    raw,
                    ended,
                    line,
                    status,
                    repr(now),
                    keep,
                    repr(now - keep),
                    call_sid,
                    "0" if guess is None else "1",
                ]
                done = self._link.run(_END, names, args)
                if done == 1 or done == 0:
                    return bool(done)
                if done == -1:  # a request holds the call: wait for it, as for its lock
                    if time.monotonic() > deadline:
                        raise self._held(call_sid)
                    time.sleep(pause * (0.5 + secrets.randbelow(1000) / 1000))
                    pause = min(pause * 2, 0.05)
                    continue
                line, raw = cast(list[str], done)  # not as guessed: close it as it is
                guess = (line, raw)

    def get_call(self, call_sid: str) -> CallRecord | None:
        with self.errors(f"read call {call_sid}"), self._client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.keys.record(call_sid))
            pipe.lrange(self.keys.events(call_sid), 0, -1)
            raw_fields, events = pipe.execute()
        fields = _texts(raw_fields)
        if not fields:
            return None
        record = _record(fields)
        record.events = [CallEvent(**json.loads(e)) for e in events]
        return record

    def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        with self.errors("read the recent calls"):
            return self._recent_calls(limit)

    def _recent_calls(self, limit: int) -> list[CallRecord]:
        found: list[CallRecord] = []
        start = 0
        while len(found) < limit:
            sids = [_text(s) for s in self._client.zrevrange(self.keys.recent, start, start + limit - 1)]
            if not sids:
                break
            start += len(sids)
            with self._client.pipeline(transaction=False) as pipe:
                for sid in sids:
                    pipe.hgetall(self.keys.record(sid))
                rows = [_texts(row) for row in pipe.execute()]
            gone = [sid for sid, row in zip(sids, rows, strict=True) if not row]
            if gone:  # the record expired: forget it here too
                self._client.zrem(self.keys.recent, *gone)
                start -= len(gone)
            found.extend(_record(row) for row in rows if row)
        return found[:limit]

    def live_calls(self, line: str, now: float) -> list[CallRecord]:
        with self.errors("read the live calls"):
            sids = self._client.zrangebyscore(self.keys.live(line), now, "+inf")
            return [r for r in self._records([_text(s) for s in sids]) if r.ended_at is None]

    def ended_calls(self, line: str, since: float) -> list[CallRecord]:
        with self.errors("read the ended calls"):
            sids = self._client.zrangebyscore(self.keys.ended(line), since, "+inf")
            return self._records([_text(s) for s in sids])

    def _records(self, sids: list[str]) -> list[CallRecord]:
        if not sids:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hgetall(self.keys.record(sid))
            rows = [_texts(row) for row in pipe.execute()]
        return [_record(row) for row in rows if row]

    # -- page calls ---------------------------------------------------------------------

    @contextmanager
    def page_call(self, call_sid: str, now: float) -> Iterator[PageCallSlot]:
        key = self.keys.page_lock(call_sid)
        with self._locked(call_sid, key=key, lease=self.page_lock_lease, what="page call"):
            with self.errors(f"read page call {call_sid}"):
                raw = _maybe_text(self._client.get(self.keys.page(call_sid)))
            yield _RedisPageSlot(self, call_sid, _page(raw) if raw else None)

    def put_page_call(self, call: PageCall, now: float, limit: int | None) -> bool:
        keep = call.expires_at - now + (0 if call.ended else PAGE_CALL_GRACE)
        args: list[EncodableT] = [
            call.call_sid,
            json.dumps({**call.__dict__}),
            repr(call.expires_at),
            repr(now),
            -1 if limit is None else limit,
            int(call.ended),
            max(int(keep * 1000), 1000),
        ]
        keys = [
            self.keys.page(call.call_sid),
            self.keys.pages(),
            self.keys.pages(call.line),
            self.keys.all_pages(call.line),
        ]
        with self.errors(f"save page call {call.call_sid}"):
            return bool(self._link.run(_PUT_PAGE, keys, args))

    def drop_page_call(self, call_sid: str, line: str) -> None:
        with self.errors(f"drop page call {call_sid}"), self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.page(call_sid))
            pipe.zrem(self.keys.pages(), call_sid)
            pipe.zrem(self.keys.pages(line), call_sid)
            pipe.zrem(self.keys.all_pages(line), call_sid)
            pipe.execute()

    def page_calls(self, line: str | None, now: float, *, ended: bool = False) -> list[PageCall]:
        if ended and line is None:
            raise ValueError("the ended page calls are listed per line: name one")
        with self.errors("read the page calls"):
            listed = self.keys.all_pages(line) if ended else self.keys.pages(line)
            sids = self._client.zrangebyscore(listed, now, "+inf")
            found = self._pages([_text(s) for s in sids])
            return [p for p in found if (ended or not p.ended) and p.expires_at >= now]

    def expired_page_calls(self, now: float, limit: int = 100) -> list[PageCall]:
        with self.errors("read the expired page calls"):
            sids = [
                _text(s) for s in self._client.zrangebyscore(self.keys.pages(), "-inf", f"({now}", 0, limit)
            ]
            found = self._pages(sids)
            gone = set(sids) - {p.call_sid for p in found}
            if gone:  # forgotten meanwhile (the key outlived its grace)
                self._client.zrem(self.keys.pages(), *gone)
            return [p for p in found if not p.ended]

    def _pages(self, sids: list[str]) -> list[PageCall]:
        if not sids:
            return []
        raws = self._client.mget([self.keys.page(s) for s in sids])
        return [_page(_text(raw)) for raw in raws if raw is not None]

    # -- retention ------------------------------------------------------------------------

    def purge(self, now: float, records_before: float) -> Purged:
        """Sessions and page calls expire by their own TTL here; old records are deleted."""
        keys, records, kept = self.keys, 0, 0
        with self.errors("purge old call records"):
            while True:
                batch = self._client.zrangebyscore(keys.recent, "-inf", f"({records_before}", kept, 500)
                sids = [_text(s) for s in batch]
                if not sids:
                    break
                with self._client.pipeline(transaction=False) as pipe:
                    for sid, row in zip(sids, [_texts(r) for r in self._rows(sids)], strict=True):
                        if row and not row.get("ended_at") and float(row.get("expires_at", 0)) >= now:
                            kept += 1  # still in progress: kept until it ends
                            continue
                        pipe.delete(keys.record(sid), keys.events(sid), keys.session(sid))
                        if row.get("reference"):
                            pipe.delete(keys.reference(row["reference"]))
                        if row.get("line"):
                            pipe.zrem(keys.ended(row["line"]), sid)
                        pipe.zrem(keys.recent, sid)
                        records += 1 if row else 0
                    pipe.execute()
        return Purged(0, records, 0)

    def _rows(self, sids: list[str]) -> list[object]:
        with self._client.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hgetall(self.keys.record(sid))
            return list(pipe.execute())

    def close(self) -> None:
        self._link.close()
        self._client.close()

    def iter_raw_text(self) -> Iterator[str]:
        client = self._client
        for raw_key in client.scan_iter(match=_glob_escape(self.keys.prefix) + "*", count=500):
            key = _text(raw_key)
            yield key
            kind = _text(client.type(key))
            values: list[object] = []
            if kind == "string":
                values = [client.get(key)]
            elif kind == "hash":
                values = [text for pair in client.hgetall(key).items() for text in pair]
            elif kind == "list":
                values = list(client.lrange(key, 0, -1))
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "zset":
                pairs = cast(list[tuple[object, float]], client.zrange(key, 0, -1, withscores=True))
                values = [text for member, score in pairs for text in (member, repr(score))]
            yield from (_text(v) for v in values if v is not None)  # None: expired meanwhile

    # -- locking ------------------------------------------------------------------

    @contextmanager
    def _locked(
        self, call_sid: str, *, key: str | None = None, lease: float | None = None, what: str = "call"
    ) -> Iterator[None]:
        key, token = key or self.keys.lock(call_sid), secrets.token_hex(16)
        lease = lease or self.lock_lease
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        try:
            while not self._client.set(key, token, nx=True, px=int(lease * 1000)):
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{what} {call_sid} stayed locked by another request for {self.lock_timeout}s; "
                        "a worker may be stuck. It frees itself after the lock lease "
                        f"({lease}s); retry then."
                    )
                time.sleep(pause * (0.5 + secrets.randbelow(1000) / 1000))
                pause = min(pause * 2, 0.05)
        except redis.RedisError as exc:
            raise StoreError(
                f"cannot lock call {call_sid} on Redis at {self.url}: {exc}. Start redis-server "
                "there, or point IVR_REDIS_URL at one that runs."
            ) from exc
        try:
            yield
        finally:
            self._unlock(key, token, call_sid, what)

    # -- failure counts (identity lockouts, trainer logins) -----------------------------

    def count_failure(self, key: str, window: float, now: float) -> int:
        name = f"{self.keys.prefix}failures:{key}"
        member = f"{now!r}:{secrets.token_hex(4)}"
        args: list[EncodableT] = [repr(now - window), repr(now), member, max(int(window) + 1, 1)]
        with self.errors(f"count a failure for {key[:12]}"):
            return int(self._link.run(_COUNT_FAILURE, [name], args))

    def failures(self, key: str, window: float, now: float) -> int:
        name = f"{self.keys.prefix}failures:{key}"
        with self.errors(f"read the failure count for {key[:12]}"):
            return int(self._link.command("ZCOUNT", name, f"({now - window!r}", repr(now)))


def redact_url(url: str) -> str:
    """The URL without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}***@{netloc}").geturl()


def _page(raw: str) -> PageCall:
    data = json.loads(raw)
    return PageCall(
        call_sid=data["call_sid"],
        line=data["line"],
        data=data["data"],
        ended=bool(data["ended"]),
        expires_at=float(data["expires_at"]),
    )


def _record(fields: dict[str, str]) -> CallRecord:
    ended = fields.get("ended_at")
    return CallRecord(
        call_sid=fields["call_sid"],
        line=fields["line"],
        reference=fields["reference"],
        caller=fields["caller"],
        started_at=float(fields["started_at"]),
        updated_at=float(fields["updated_at"]),
        ended_at=float(ended) if ended else None,
        status=fields["status"],
        outcome=fields.get("outcome"),
        state=fields["state"],
        lang=fields["lang"],
    )


def _text(value: object) -> str:
    """A reply as str (the client decodes replies: `decode_responses=True`)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _maybe_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _texts(value: object) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in cast(Mapping[object, object], value).items()}


def _encodable(fields: Mapping[str, str]) -> dict[EncodableT, EncodableT]:
    return {k: v for k, v in fields.items()}


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
