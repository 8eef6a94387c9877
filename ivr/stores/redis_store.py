"""Redis session store: two round trips per request, shared by every worker on every host.

`call()` takes the call's lock (SET NX PX, a token of its own) and reads the record and the
session in one server-side script; the writes are buffered and sent in one more script (each
run by EVALSHA, loaded once, loaded again on NOSCRIPT) that writes them only while the lock still
holds this request's token, then releases it. The token is the version the write is checked
against: a request that outlived its lease finds another's token there and writes nothing (a
StoreError), so no update is lost, and requests for one call are serialised across processes
and hosts as SQLite's BEGIN IMMEDIATE serialises them. The body of `call()` runs once: it may
have counted an identity failure (count_failure) that a second run would count again.

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
    ready           string  the last readiness check (a real write), gone after a minute

Opening the store sends nothing to Redis: a worker boots while Redis is down. The member
directory is named after its key (`kid`, ivr.engine.members.key_id) and has no TTL, so it
outlives sessions under a `volatile-*` eviction policy; when it is missing all the same (an
empty restart, `allkeys-*` eviction) the first identity check that misses re-seeds it and
logs an error. The hash key itself is never kept in Redis.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import cast
from urllib.parse import urlsplit

import redis
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

log = logging.getLogger(__name__)

# Delete the lock only while it still holds our token: after a lapse it may be another's.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Take a call's lock and read it: 0 if another request holds it, else {record fields, session,
# whether a candidate reference number is taken} (a new call's number, checked in the same trip).
# KEYS: lock:<sid>, call:<sid>, session:<sid>, ref:<candidate>; ARGV: token, lease ms
_LOCK_AND_READ = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
return {redis.call('hgetall', KEYS[2]), redis.call('get', KEYS[3]), redis.call('exists', KEYS[4])}
"""
# A request's writes, applied only while the call's lock holds its token; then the lock is freed.
# KEYS[1]: lock:<sid>, then the keys written; ARGV[1]: the token, ARGV[2]: the call SID,
# ARGV[3]: the writes as "command key-index argument-count;" each, then every write's arguments.
# A `claim` (of a reference number) first checks that no other call holds the key: -1 if one does.
_COMMIT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
for cmd, k in string.gmatch(ARGV[3], '(%a+) (%d+) %d+;') do
  if cmd == 'claim' then
    local holder = redis.call('get', KEYS[tonumber(k)])
    if holder and holder ~= ARGV[2] then
      redis.call('del', KEYS[1])
      return -1
    end
  end
end
local a = 4
for cmd, k, n in string.gmatch(ARGV[3], '(%a+) (%d+) (%d+);') do
  local key, last = KEYS[tonumber(k)], a + tonumber(n) - 1
  if cmd == 'claim' then
    redis.call('set', key, ARGV[2], 'EX', ARGV[a])
  else
    redis.call(cmd, key, unpack(ARGV, a, last))
  end
  a = last + 1
end
redis.call('del', KEYS[1])
return 1
"""
# Write a page call; a new live one only while its line has fewer than the limit (-1: none).
# KEYS: page:<sid>, pages, pages:<line>, pagesall:<line>;
# ARGV: sid, json, expires_at, now, limit, ended, ttl ms
_PUT_PAGE = """
redis.call('zremrangebyscore', KEYS[3], '-inf', '(' .. ARGV[4])
redis.call('zremrangebyscore', KEYS[4], '-inf', '(' .. ARGV[4])
if ARGV[6] == '0' then
  local limit = tonumber(ARGV[5])
  if limit >= 0 and not redis.call('zscore', KEYS[3], ARGV[1])
     and redis.call('zcard', KEYS[3]) >= limit then
    return 0
  end
  redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
  redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
else
  redis.call('zrem', KEYS[2], ARGV[1])
  redis.call('zrem', KEYS[3], ARGV[1])
end
redis.call('zadd', KEYS[4], ARGV[3], ARGV[1])
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[7])
return 1
"""


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


#: What the locked read found: the record's fields, the session (JSON), whether the candidate
#: reference number is taken.
_Found = tuple[dict[str, str], str | None, bool]


class _Writes:
    """Commands for the commit script, each on a key: sent in one EVALSHA."""

    __slots__ = ("args", "keys", "spec")

    def __init__(self, lock: str) -> None:
        self.keys: list[str] = [lock]
        self.spec: list[str] = []
        self.args: list[EncodableT] = []

    def add(self, command: str, key: str, *args: EncodableT) -> None:
        self.keys.append(key)
        self.spec.append(f"{command} {len(self.keys)} {len(args)};")
        self.args.extend(args)


class _RedisSlot(CallSlot):
    """Holds what the locked read found; buffers every write until `writes`."""

    def __init__(self, store: RedisStore, call_sid: str, now: float, found: _Found, candidate: str) -> None:
        record, raw, taken = found
        self._store = store
        #: A reference number the read found free (None once offered, or if it was taken).
        self._candidate = None if taken else candidate
        self._keys = store.keys
        self._ttl = store.ttl
        self._record_ttl = store.record_ttl
        self.call_sid = call_sid
        self._record = record
        self.known = bool(record)
        self.session = None
        if raw is not None and record and float(record["expires_at"]) >= now:
            self.session = CallSession.from_dict(json.loads(raw))
        self._fields: dict[str, str] = {}
        self._cleared: set[str] = set()
        self._session_json: str | None = None
        self._events: list[str] = []
        self._claimed: set[str] = set()
        self._released: set[str] = set()
        self._started: float | None = None

    def create(self, session: CallSession, *, caller: str, now: float) -> None:
        old = self._record
        if old.get("reference") and old["reference"] != session.reference:
            self._released.add(old["reference"])
        self._claimed.add(session.reference)
        self._started = float(old["started_at"]) if old else now
        fields = {
            "call_sid": self.call_sid,
            "caller": old.get("caller", caller),
            "started_at": repr(self._started),
            "status": "in-progress",
            "line": session.line,
            "reference": session.reference,
        }
        self._cleared = {"ended_at", "outcome"}
        self._set(fields)
        self.known = True
        self.save(session, now=now)

    def save(self, session: CallSession, *, now: float, outcome: str | None = None) -> None:
        fields = {
            "updated_at": repr(now),
            "expires_at": repr(now + self._ttl),
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
        with self._store.errors(f"look reference {reference} up"):
            return not self._store.client.exists(self._keys.reference(reference))

    def writes(self, lock: str, now: float) -> _Writes:
        """Everything buffered, in the order it is written (nothing: the lock is only freed)."""
        out = _Writes(lock)
        if not (self._fields or self._session_json or self._events):
            return out
        keys, sid, keep = self._keys, self.call_sid, self._record_ttl
        record = keys.record(sid)
        if self._cleared:
            out.add("hdel", record, *self._cleared)
        if self._fields:
            out.add("hset", record, *(x for pair in self._fields.items() for x in pair))
            out.add("expire", record, keep)
        if self._session_json is not None:
            out.add("set", keys.session(sid), self._session_json, "EX", self._ttl)
        if self._events:
            out.add("rpush", keys.events(sid), *self._events)
            out.add("expire", keys.events(sid), keep)
        for reference in self._released:
            out.add("del", keys.reference(reference))
        for reference in self._claimed:
            out.add("claim", keys.reference(reference), keep)
        if self._started is not None:
            out.add("zadd", keys.recent, repr(self._started), sid)
            out.add("zremrangebyscore", keys.recent, "-inf", repr(now - keep))
        if "expires_at" in self._fields and self._record.get("line"):
            live = keys.live(self._record["line"])
            out.add("zadd", live, self._fields["expires_at"], sid)
            out.add("zremrangebyscore", live, "-inf", f"({now!r}")
        return out

    def _set(self, fields: dict[str, str]) -> None:
        self._fields.update(fields)
        self._cleared -= fields.keys()
        self._record = {**self._record, **fields}


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
        with self._store.errors("look a member up"):
            with self._store.client.pipeline(transaction=False) as pipe:
                pipe.hget(self._name, member_hash)
                pipe.exists(self._name)
                raw, exists = pipe.execute()
            if raw is None and not exists:  # not a wrong ID: the directory itself is gone
                self._seed()
                raw = self._store.client.hget(self._name, member_hash)
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
        self._release = self._client.register_script(_RELEASE)
        self._put_page = self._client.register_script(_PUT_PAGE)
        self._commit = self._client.register_script(_COMMIT)
        self._lock_read = self._client.register_script(_LOCK_AND_READ)
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
        self._write(call_sid, slot.writes(lock, now), token, f"save call {call_sid} to")

    def _lock_and_read(self, call_sid: str, lock: str, token: str, candidate: str = "") -> _Found:
        """Take the call's lock and read its record and session (and whether reference
        `candidate` is taken): one EVALSHA per try."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        try:
            while True:
                keys = [
                    lock,
                    self.keys.record(call_sid),
                    self.keys.session(call_sid),
                    self.keys.reference(candidate),
                ]
                found = self._lock_read(keys=keys, args=[token, int(self.lock_lease * 1000)])
                if found:
                    flat, raw, taken = found
                    record = {_text(k): _text(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}
                    return record, _maybe_text(raw) if record else None, bool(taken) or not candidate
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"call {call_sid} stayed locked by another request for {self.lock_timeout}s; "
                        "a worker may be stuck. It frees itself after the lock lease "
                        f"({self.lock_lease}s); retry then."
                    )
                time.sleep(pause * (0.5 + secrets.randbelow(1000) / 1000))
                pause = min(pause * 2, 0.05)
        except redis.RedisError as exc:
            raise StoreError(
                f"cannot lock call {call_sid} on Redis at {self.url}: {exc}. Start redis-server "
                "there, or point IVR_REDIS_URL at one that runs."
            ) from exc

    def _write(self, call_sid: str, writes: _Writes, token: str, doing: str) -> None:
        """Run the commit script: the writes, if the lock still holds `token`, and the unlock."""
        try:
            done = self._commit(keys=writes.keys, args=[token, call_sid, "".join(writes.spec), *writes.args])
        except redis.RedisError as exc:
            self._unlock(writes.keys[0], token, call_sid)
            raise StoreError(f"cannot {doing} {self.url}: {exc}") from exc
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

    def _unlock(self, lock: str, token: str, call_sid: str, what: str = "call") -> None:
        try:
            self._release(keys=[lock], args=[token])
        except redis.RedisError:  # the lease lapses by itself
            log.warning("could not release the lock of %s %s", what, call_sid)

    def end_call(self, call_sid: str, status: str, now: float, duration: int | None) -> bool:
        keys = self.keys
        lock, token = keys.lock(call_sid), secrets.token_hex(16)
        record, raw, _ = self._lock_and_read(call_sid, lock, token)
        writes = _Writes(lock)
        if record:
            fields = {"status": status, "ended_at": repr(now), "updated_at": repr(now)}
            if "outcome" not in record:
                fields["outcome"] = f"hung up in {record['state']}"
            writes.add("hset", keys.record(call_sid), *(x for pair in fields.items() for x in pair))
            if raw is not None:
                ended = json.dumps(ended_session(json.loads(raw)))
                writes.add("set", keys.session(call_sid), ended, "KEEPTTL")
            line = record.get("line", "")
            writes.add("zrem", keys.live(line), call_sid)
            writes.add("zadd", keys.ended(line), repr(now), call_sid)
            writes.add("expire", keys.ended(line), self.record_ttl)
            writes.add("zremrangebyscore", keys.ended(line), "-inf", repr(now - self.record_ttl))
        self._write(call_sid, writes, token, f"end call {call_sid} on")
        return bool(record)

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
            return bool(self._put_page(keys=keys, args=args))

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
        with self.errors(f"count a failure for {key[:12]}"), self._client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(name, "-inf", now - window)
            pipe.zadd(name, {member: now})
            pipe.zcount(name, f"({now - window}", "+inf")
            pipe.expire(name, max(int(window) + 1, 1))
            return int(pipe.execute()[2])

    def failures(self, key: str, window: float, now: float) -> int:
        name = f"{self.keys.prefix}failures:{key}"
        with self.errors(f"read the failure count for {key[:12]}"):
            return int(self._client.zcount(name, f"({now - window}", now))


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
