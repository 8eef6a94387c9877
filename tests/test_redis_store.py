"""The Redis store's own ways: keys and their TTLs, prefixes, lock leases, URLs (the rest of what a
store must do is in test_store_contract.py, run on every store)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from ivr.engine.call import CallSession
from ivr.engine.config import RECORD_TTL
from ivr.engine.errors import ConfigError, StoreError
from ivr.engine.store import CallEvent, SessionStore
from ivr.stores.redis_store import RedisStore
from ivr.stores.sqlite_store import SqliteStore

from .narrowing import stored
from .redis_server import RedisServer
from .servers import free_port

pytest_plugins = ["tests.redis_server"]

MEMBER_ID = "10203040"


@pytest.fixture
def make_store(redis_server: RedisServer, redis_prefix: str) -> Iterator[Callable[..., RedisStore]]:
    """Open stores on the test's prefix, each like another worker; all closed afterwards."""
    opened: list[RedisStore] = []

    def open_store(**options: Any) -> RedisStore:
        store = RedisStore(redis_server.url, prefix=redis_prefix, **options)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def _start(store: RedisStore, sid: str, now: float, reference: str = "12345678") -> None:
    with store.call(sid, now=now) as slot:
        slot.create(CallSession(sid, "main", "main_menu", reference=reference), caller="", now=now)
        slot.log(CallEvent(now, 0, "start", "", "incoming", "main_menu", "en"))


# -- expiry ------------------------------------------------------------------------------------


def test_session_key_goes_then_the_record_after_record_ttl(
    make_store: Callable[..., RedisStore], redis_server: RedisServer, redis_prefix: str
) -> None:
    store = make_store(ttl=1, record_ttl=2)
    client = redis_server.client()
    _start(store, "CA2", now=time.time())
    assert 0 < client.pttl(f"{redis_prefix}session:CA2") <= 1000
    for key in ("call:CA2", "events:CA2", "ref:12345678"):
        assert 1000 < client.pttl(redis_prefix + key) <= 2000, key
    time.sleep(1.3)
    assert client.exists(f"{redis_prefix}session:CA2") == 0
    with store.call("CA2", now=time.time()) as slot:
        assert slot.session is None and slot.known
    assert store.get_call("CA2") is not None
    time.sleep(1.0)
    assert store.get_call("CA2") is None
    assert store.recent_calls() == []
    assert client.zcard(f"{redis_prefix}recent") == 0  # forgotten once seen expired
    with store.call("CA3", now=time.time()) as slot:
        assert slot.reference_free("12345678")


def test_records_are_kept_30_days_by_default(
    make_store: Callable[..., RedisStore], redis_server: RedisServer, redis_prefix: str
) -> None:
    store = make_store()
    _start(store, "CA4", now=time.time())
    client = redis_server.client()
    assert RECORD_TTL - 60 < client.ttl(f"{redis_prefix}call:CA4") <= RECORD_TTL
    assert 4 * 3600 - 60 < client.ttl(f"{redis_prefix}session:CA4") <= 4 * 3600


def test_records_must_outlive_sessions(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigError, match="raise IVR_RECORD_TTL"):
        RedisStore(redis_server.url, ttl=600, record_ttl=60)


# -- atomicity ---------------------------------------------------------------------------------


def _keys(redis_server: RedisServer, prefix: str) -> set[str]:
    return {k[len(prefix) :] for k in redis_server.client().scan_iter(match=prefix + "*")}


def test_a_rolled_back_call_leaves_no_key_and_no_lock(
    make_store: Callable[..., RedisStore], redis_server: RedisServer, redis_prefix: str
) -> None:
    store = make_store()
    with pytest.raises(RuntimeError, match="boom"), store.call("CA5", now=1.0) as slot:
        slot.create(CallSession("CA5", "main", "main_menu", reference="22345678"), caller="", now=1.0)
        slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
        raise RuntimeError("boom")
    assert store.get_call("CA5") is None
    assert _keys(redis_server, redis_prefix) == set()  # lock released too; no directory until used


def test_a_request_that_outlives_its_lease_writes_nothing(make_store: Callable[..., RedisStore]) -> None:
    slow, fast = make_store(lock_lease=0.2), make_store()
    _start(fast, "CA8", now=1.0)
    holding, overtaken = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def slow_request() -> None:
        try:
            with slow.call("CA8", now=2.0) as slot:
                holding.set()
                overtaken.wait(10)
                assert slot.session is not None
                slot.session.state = "stale_menu"
                slot.save(slot.session, now=2.0)
        except StoreError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert holding.wait(10)
    with fast.call("CA8", now=3.0) as slot:  # waits for the lease to lapse, then goes first
        assert slot.session is not None
        slot.session.state = "billing_menu"
        slot.save(slot.session, now=3.0)
    overtaken.set()
    thread.join(10)
    assert len(outcome) == 1 and "lock lease (0.2s)" in str(outcome[0])
    assert stored(fast, "CA8").state == "billing_menu"


def test_a_call_held_too_long_fails_with_advice(make_store: Callable[..., RedisStore]) -> None:
    holder, waiter = make_store(), make_store(lock_timeout=0.3)
    _start(holder, "CA9", now=1.0)
    with holder.call("CA9", now=2.0):
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"stayed locked .* retry then"), waiter.call("CA9", now=2.0):
            pass
        assert 0.3 <= time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("url", "error", "advice"),
    [
        pytest.param("redis://127.0.0.1:{port}/0", StoreError, "Start redis-server there", id="down"),
        pytest.param(
            "redis://:hunter2@127.0.0.1:{port}/0", StoreError, "redis://:***@127.0.0.1", id="password-hidden"
        ),
        pytest.param("http://127.0.0.1:{port}/", ConfigError, "use redis://host:6379/0", id="not-redis"),
    ],
)
def test_a_bad_redis_url_says_how_to_mend_it(url: str, error: type[Exception], advice: str) -> None:
    with pytest.raises(error) as caught:
        RedisStore(url.format(port=free_port())).get_call("CA1")  # opening it sends nothing
    assert advice in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_member_key_is_never_kept_in_redis(
    make_store: Callable[..., RedisStore], redis_server: RedisServer, redis_prefix: str
) -> None:
    first, second = make_store(secret_key="a configured key"), make_store(secret_key="a configured key")
    member = first.members.hash_member_id(MEMBER_ID)
    assert member == second.members.hash_member_id(MEMBER_ID)
    assert first.members.verify(member, "03071956") is not None
    assert second.members.verify(member, "03071956") is not None
    assert _keys(redis_server, redis_prefix) == {f"members:{first.members.key_id}"}  # no member_key
    unkeyed = make_store()  # no key configured: one for this process only, its own directory
    assert unkeyed.members.hash_member_id(MEMBER_ID) != member
    assert unkeyed.members.verify(member, "03071956") is None


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        pytest.param({}, {}, SqliteStore, id="default-sqlite"),
        pytest.param({"REDIS_URL": "{url}"}, {}, RedisStore, id="config"),
        pytest.param({}, {"IVR_REDIS_URL": "{url}"}, RedisStore, id="IVR_REDIS_URL"),
        pytest.param({}, {"REDIS_URL": "{url}"}, RedisStore, id="REDIS_URL"),
        pytest.param(
            {}, {"IVR_REDIS_URL": "{url}", "REDIS_URL": "redis://127.0.0.1:1/0"}, RedisStore, id="IVR_-wins"
        ),
    ],
)
def test_redis_url_selects_the_redis_store(
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    redis_prefix: str,
    settings: dict[str, str],
    env: dict[str, str],
    expected: type[SessionStore],
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("IVR_REDIS_URL", raising=False)
    monkeypatch.setenv("IVR_REDIS_PREFIX", redis_prefix)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(url=redis_server.url))
    app = make_app(**{k: v.format(url=redis_server.url) for k, v in settings.items()})
    store = app.extensions["ivr"].store
    assert type(store) is expected
    if expected is RedisStore:
        assert isinstance(store, RedisStore)
        assert store.keys.prefix == redis_prefix and store.url == redis_server.url
    store.close()


# -- round trips -------------------------------------------------------------------------------


def _names(packed: bytes) -> list[str]:
    """The command names in what one send put on the wire (RESP arrays of bulk strings)."""
    names, i = [], 0
    while i < len(packed):
        end = packed.index(b"\r\n", i)
        count, i = int(packed[i + 1 : end]), end + 2
        for n in range(count):
            end = packed.index(b"\r\n", i)
            size, i = int(packed[i + 1 : end]), end + 2
            if n == 0:
                names.append(packed[i : i + size].decode().upper())
            i += size + 2
    return names


def _commands(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What every store sends from now on, one entry per round trip: the command's name (the
    names of a pipeline's commands, space-separated), counted where they reach the socket."""
    sent: list[str] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(conn: redis.connection.AbstractConnection, command: Any, check_health: bool = True) -> None:
        items = [command] if isinstance(command, bytes | str) else command
        packed = b"".join(x.encode() if isinstance(x, str) else bytes(x) for x in items)
        sent.append(" ".join(_names(packed)))
        send(conn, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_step_is_one_round_trip_to_read_and_one_to_write(
    make_store: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    _start(store, "CA10", now=1.0)
    sent = _commands(store, monkeypatch)
    with store.call("CA10", now=2.0) as slot:
        assert slot.session is not None
        slot.session.state = "billing_menu"
        slot.save(slot.session, now=2.0)
        slot.log(CallEvent(2.0, 1, "press_2", "2", "main_menu", "billing_menu", "en"))
    assert sent == ["EVALSHA GET", "EVALSHA"]  # lock and read (the session by GET), then write
    record = store.get_call("CA10")
    assert record is not None and record.state == "billing_menu"
    assert [e.trigger for e in record.events] == ["start", "press_2"]


def test_scripts_flushed_from_redis_are_loaded_again(
    make_store: Callable[..., RedisStore], redis_server: RedisServer
) -> None:
    store = make_store()
    _start(store, "CA11", now=1.0)
    redis_server.client().script_flush()  # a restarted or failed-over Redis has no scripts
    with store.call("CA11", now=2.0) as slot:
        assert slot.session is not None
        slot.session.state = "billing_menu"
        slot.save(slot.session, now=2.0)
    assert stored(store, "CA11").state == "billing_menu"
    assert store.end_call("CA11", "completed", 3.0, 30)


def test_a_reference_claimed_meanwhile_writes_nothing_and_frees_the_lock(
    make_store: Callable[..., RedisStore], redis_server: RedisServer, redis_prefix: str
) -> None:
    store = make_store()
    with pytest.raises(StoreError, match="reference number was taken"), store.call("CA12", now=1.0) as slot:
        assert slot.reference_free("32345678")
        redis_server.client().set(f"{redis_prefix}ref:32345678", "CA13")  # another call, just now
        slot.create(CallSession("CA12", "main", "main_menu", reference="32345678"), caller="", now=1.0)
    assert store.get_call("CA12") is None
    assert _keys(redis_server, redis_prefix) == {"ref:32345678"}  # no record, no lock left
    _start(store, "CA12", now=2.0, reference="42345678")  # the next try goes through
    assert store.get_call("CA12") is not None


def test_a_new_call_is_two_round_trips_its_reference_checked_by_the_read(
    make_store: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    _start(store, "CA13", now=1.0, reference="62345678")  # the scripts loaded (a fresh Redis has none)
    sent = _commands(store, monkeypatch)
    with store.call("CA14", now=1.0) as slot:
        reference = slot.new_reference()
        slot.create(CallSession("CA14", "main", "main_menu", reference=reference), caller="", now=1.0)
        slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
    assert sent == ["EVALSHA GET", "EVALSHA"]
    record = store.get_call("CA14")
    assert record is not None and record.reference == reference
    assert len(reference) == 8 and reference.isdigit() and reference[0] != "0"


def test_a_taken_candidate_reference_is_never_offered(
    make_store: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr.stores import redis_store

    store = make_store()
    _start(store, "CA15", now=1.0, reference="52345678")
    monkeypatch.setattr(redis_store, "draw_reference", lambda: "52345678")  # the read's candidate
    with store.call("CA16", now=2.0) as slot:
        reference = slot.new_reference()
        assert reference != "52345678" and len(reference) == 8
        slot.create(CallSession("CA16", "main", "main_menu", reference=reference), caller="", now=2.0)
    record = store.get_call("CA16")
    assert record is not None and record.reference == reference


def test_a_call_ended_by_the_worker_that_served_its_last_step_is_one_round_trip(
    make_store: Callable[..., RedisStore],
    redis_server: RedisServer,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = make_store()
    _start(store, "CA20", now=1.0)
    with store.call("CA20", now=2.0) as slot:
        assert slot.session is not None
        slot.session.verified, slot.session.member_hash = True, "a member"
        slot.save(slot.session, now=2.0)
    sent = _commands(store, monkeypatch)
    assert store.end_call("CA20", "completed", 3.0, 30)
    assert sent == ["EVALSHA"]
    record = store.get_call("CA20")
    assert record is not None
    assert (record.status, record.ended_at, record.outcome) == ("completed", 3.0, "hung up in main_menu")
    session = json.loads(redis_server.client().get(f"{redis_prefix}session:CA20") or "")
    assert session["ended"] and not session["verified"] and session["member_hash"] is None
    assert not store.end_call("CA99", "completed", 3.0, 30)  # unknown: nothing written
    assert not _keys(redis_server, redis_prefix) & {"call:CA99", "session:CA99"}


def test_an_end_after_another_worker_moved_the_call_closes_it_as_it_is(
    make_store: Callable[..., RedisStore],
    redis_server: RedisServer,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = make_store(), make_store()
    _start(first, "CA21", now=1.0)
    with second.call("CA21", now=2.0) as slot:  # the next step, on another worker
        assert slot.session is not None
        slot.session.state, slot.session.member_hash = "billing_menu", "a member"
        slot.save(slot.session, now=2.0, outcome="transfer:billing")
    sent = _commands(first, monkeypatch)
    assert first.end_call("CA21", "completed", 3.0, 30)
    assert sent == ["EVALSHA", "EVALSHA"]  # what it had seen was stale: told what is there, then closed
    record = first.get_call("CA21")
    assert record is not None and (record.state, record.outcome) == ("billing_menu", "transfer:billing")
    session = json.loads(redis_server.client().get(f"{redis_prefix}session:CA21") or "")
    assert (session["state"], session["ended"], session["member_hash"]) == ("billing_menu", True, None)
    assert first.ended_calls("main", since=0.0)[0].call_sid == "CA21"
    assert first.live_calls("main", now=2.5) == []


def test_an_end_waits_for_the_request_holding_the_call(make_store: Callable[..., RedisStore]) -> None:
    store, other = make_store(), make_store()
    _start(store, "CA22", now=1.0)
    ended: list[bool] = []
    waiter = threading.Thread(target=lambda: ended.append(other.end_call("CA22", "completed", 3.0, 30)))
    with store.call("CA22", now=2.0) as slot:
        waiter.start()
        time.sleep(0.2)
        assert not ended  # the status callback waits for the step in flight
        assert slot.session is not None
        slot.session.state = "billing_menu"
        slot.save(slot.session, now=2.0)
    waiter.join(10)
    assert ended == [True]
    record = store.get_call("CA22")
    assert record is not None and (record.status, record.outcome) == ("completed", "hung up in billing_menu")
