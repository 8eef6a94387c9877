"""The Redis store: atomic read-modify-write, expiry, restarts, no secrets in clear, and the menus."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from ivr.call import CallSession
from ivr.errors import ConfigError, StoreError
from ivr.redis_store import RECORD_TTL, RedisStore
from ivr.sqlite_store import SqliteStore
from ivr.store import CallEvent

from .flow_text import greeting, message, prompt
from .phone import SPECIALTY, Phone
from .redis_server import RedisServer, free_port, scan_everything

pytest_plugins = ["tests.redis_server"]

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"
# The scans for secrets look for member 2's entries as well.
MEMBER2_ID, MEMBER2_DOB = "55501234", "11231948"


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


@pytest.fixture
def redis_app(make_app: Callable[..., Flask], redis_server: RedisServer, redis_prefix: str):
    """Build apps on the test's Redis prefix (two calls: two workers sharing the calls)."""
    return lambda **config: make_app(REDIS_URL=redis_server.url, REDIS_PREFIX=redis_prefix, **config)


@pytest.fixture
def app(make_app: Callable[..., Flask], backend: dict[str, Any]) -> Iterator[Flask]:
    """conftest's app, once on each store: `call`, `client` and `engine` follow it."""
    application = make_app(**backend)
    yield application
    application.extensions["ivr"].store.close()


def _start(store: RedisStore, sid: str, now: float, reference: str = "12345678") -> None:
    with store.call(sid, now=now) as slot:
        slot.create(CallSession(sid, "main", "main_menu", reference=reference), caller="", now=now)
        slot.log(CallEvent(now, 0, "start", "", "incoming", "main_menu", "en"))


# -- expiry ------------------------------------------------------------------------------------


def test_session_expires_by_the_clock_the_engine_gives(make_store):
    store = make_store(ttl=60)
    _start(store, "CA1", now=1000.0)
    with store.call("CA1", now=1059.0) as slot:
        assert slot.session is not None and slot.session.state == "main_menu"
    with store.call("CA1", now=1200.0) as slot:
        assert slot.session is None and slot.known  # expired, but the record stays


def test_session_key_goes_then_the_record_after_record_ttl(make_store, redis_server, redis_prefix):
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


def test_records_are_kept_30_days_by_default(make_store, redis_server, redis_prefix):
    store = make_store()
    _start(store, "CA4", now=time.time())
    client = redis_server.client()
    assert RECORD_TTL - 60 < client.ttl(f"{redis_prefix}call:CA4") <= RECORD_TTL
    assert 4 * 3600 - 60 < client.ttl(f"{redis_prefix}session:CA4") <= 4 * 3600


def test_records_must_outlive_sessions(redis_server):
    with pytest.raises(ConfigError, match="raise IVR_RECORD_TTL"):
        RedisStore(redis_server.url, ttl=600, record_ttl=60)


# -- atomicity ---------------------------------------------------------------------------------


def _keys(redis_server: RedisServer, prefix: str) -> set[str]:
    return {k[len(prefix) :] for k in redis_server.client().scan_iter(match=prefix + "*")}


def test_an_error_rolls_back_a_new_call(make_store, redis_server, redis_prefix):
    store = make_store()
    with pytest.raises(RuntimeError, match="boom"), store.call("CA5", now=1.0) as slot:
        slot.create(CallSession("CA5", "main", "main_menu", reference="22345678"), caller="", now=1.0)
        slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
        raise RuntimeError("boom")
    assert store.get_call("CA5") is None
    assert _keys(redis_server, redis_prefix) == {"members", "member_key"}  # lock released too


def test_an_error_rolls_back_every_part_of_a_step(make_store):
    store = make_store()
    _start(store, "CA6", now=1.0)
    with pytest.raises(RuntimeError), store.call("CA6", now=2.0) as slot:
        assert slot.session is not None
        slot.session.state, slot.session.step = "billing_menu", 1
        slot.save(slot.session, now=2.0, outcome="goodbye")
        slot.log(CallEvent(2.0, 1, "press_2", "2", "main_menu", "billing_menu", "en"))
        raise RuntimeError("boom")
    started = time.monotonic()
    with store.call("CA6", now=3.0) as slot:
        assert slot.session is not None and (slot.session.state, slot.session.step) == ("main_menu", 0)
    assert time.monotonic() - started < 1  # the failed request did not keep the lock
    record = store.get_call("CA6")
    assert (record.state, record.outcome, record.updated_at) == ("main_menu", None, 1.0)
    assert [e.trigger for e in record.events] == ["start"]


def test_concurrent_updates_of_one_call_lose_nothing(make_store):
    _start(make_store(), "CA7", now=1.0)

    def bump(store: RedisStore, times: int) -> None:
        for _ in range(times):
            with store.call("CA7", now=2.0) as slot:
                assert slot.session is not None
                slot.session.step += 1
                slot.save(slot.session, now=2.0)
                slot.log(CallEvent(2.0, slot.session.step, "press_9", "", "a", "b", "en"))

    threads = [threading.Thread(target=bump, args=(make_store(), 50)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = make_store()
    with store.call("CA7", now=3.0) as slot:
        assert slot.session is not None and slot.session.step == 200
    assert [e.step for e in store.get_call("CA7").events] == list(range(0, 201))


def test_a_request_that_outlives_its_lease_writes_nothing(make_store):
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
    assert fast.get_call("CA8").state == "billing_menu"


def test_a_call_held_too_long_fails_with_advice(make_store):
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
        pytest.param("redis://:hunter2@127.0.0.1:{port}/0", StoreError, "redis://:***@127.0.0.1",
                     id="password-hidden"),
        pytest.param("http://127.0.0.1:{port}/", ConfigError, "use redis://host:6379/0", id="not-redis"),
    ],
)  # fmt: skip
def test_a_bad_redis_url_says_how_to_mend_it(url, error, advice):
    with pytest.raises(error) as caught:
        RedisStore(url.format(port=free_port()))
    assert advice in str(caught.value)
    assert "hunter2" not in str(caught.value)


# -- records, references, members --------------------------------------------------------------


def test_end_call_closes_the_record_and_the_session(make_store):
    store = make_store()
    assert store.end_call("CAnone", "completed", now=5.0, duration=3) is False
    _start(store, "CA10", now=1.0)
    assert store.end_call("CA10", "completed", now=5.0, duration=3) is True
    record = store.get_call("CA10")
    assert (record.status, record.ended_at, record.outcome) == ("completed", 5.0, "hung up in main_menu")
    with store.call("CA10", now=6.0) as slot:
        assert slot.session is not None and slot.session.ended


def test_end_call_keeps_an_outcome_already_reached(make_store):
    store = make_store()
    _start(store, "CA11", now=1.0)
    with store.call("CA11", now=2.0) as slot:
        assert slot.session is not None
        slot.save(slot.session, now=2.0, outcome="transfer:pharmacist")
    store.end_call("CA11", "completed", now=3.0, duration=None)
    assert store.get_call("CA11").outcome == "transfer:pharmacist"


def test_recent_calls_newest_first_without_paths(make_store):
    store = make_store()
    for n in range(5):
        _start(store, f"CA2{n}", now=100.0 + n, reference=f"3000000{n}")
    recent = store.recent_calls(limit=3)
    assert [r.call_sid for r in recent] == ["CA24", "CA23", "CA22"]
    assert all(r.events == [] for r in recent)
    assert store.recent_calls(limit=0) == []


def test_a_restarted_call_gets_a_new_reference_and_frees_the_old(make_store):
    store = make_store(ttl=60)
    _start(store, "CA30", now=1.0, reference="40000001")
    with store.call("CA31", now=2.0) as slot:
        assert not slot.reference_free("40000001")
    with store.call("CA30", now=500.0) as slot:  # session expired: the engine starts afresh
        assert slot.session is None and slot.known
        slot.create(CallSession("CA30", "main", "main_menu", reference="40000002"), caller="x", now=500.0)
    record = store.get_call("CA30")
    assert (record.reference, record.started_at, record.updated_at) == ("40000002", 1.0, 500.0)
    with store.call("CA31", now=501.0) as slot:
        assert slot.reference_free("40000001") and not slot.reference_free("40000002")


def test_member_key_is_made_once_and_shared(make_store, redis_server, redis_prefix):
    first, second = make_store(), make_store()
    assert first.members.hash_member_id(MEMBER_ID) == second.members.hash_member_id(MEMBER_ID)
    stored = redis_server.client().get(f"{redis_prefix}member_key")
    assert stored is not None and len(bytes.fromhex(stored)) == 32
    configured = make_store(secret_key="a configured key")
    assert configured.members.hash_member_id(MEMBER_ID) != first.members.hash_member_id(MEMBER_ID)
    member = configured.members.hash_member_id(MEMBER_ID)
    assert configured.members.verify(member, MEMBER_DOB) is not None
    assert configured.members.verify(member, "12251999") is None
    assert first.members.verify(member, MEMBER_DOB) is None  # hashed with the other key


# -- through the app ---------------------------------------------------------------------------


def test_a_restarted_app_continues_the_call(redis_app):
    first = redis_app()
    phone = Phone(first.test_client()).dial().press("2")
    first.extensions["ivr"].store.close()
    second = redis_app()  # same Redis, new process state
    phone.client = second.test_client()
    assert prompt("billing_discrepancy") in phone.press("1").heard
    # The languages already greeted are kept too: a switch back and forth is only confirmed.
    phone.press("9")  # Spanish, greeted for the first time
    assert greeting("es") in phone.heard
    phone.client = redis_app().test_client()
    assert phone.press("9").heard.startswith(message("language_set", "en"))
    assert phone.press("9").heard.startswith(message("language_set", "es"))
    assert greeting("es") not in phone.heard


def test_call_record_keeps_the_path(redis_app):
    app = redis_app()
    phone = Phone(app.test_client()).dial().press("2").silence().press("1")
    record = app.extensions["ivr"].store.get_call(phone.sid)
    assert [(e.step, e.trigger, e.source, e.dest) for e in record.events] == [
        (0, "start", "incoming", "main_menu"),
        (1, "press_2", "main_menu", "billing_menu"),
        (2, "no_input", "billing_menu", "billing_menu"),
        (3, "press_1", "billing_menu", "billing_discrepancy"),
    ]
    assert record.caller == "***0000" and record.line == "main"
    assert len(record.reference) == 8 and record.reference.isdigit()


def test_no_member_id_or_birth_date_in_clear(redis_app, redis_server, caplog):
    caplog.set_level(logging.DEBUG)
    app = redis_app()
    client = app.test_client()
    assert "verified" in Phone(client).dial().press("1").press(MEMBER_ID).press(MEMBER_DOB).heard
    assert "verified" in Phone(client).dial().press("1").press(MEMBER2_ID).press(MEMBER2_DOB).heard
    Phone(client).dial().press("1").press(MEMBER_ID).press("12251999").press("77777777")
    Phone(client).dial().say("refill").press(MEMBER_ID)
    texts = list(app.extensions["ivr"].store.iter_raw_text())
    everything = scan_everything(redis_server.client())
    assert any("verify_dob" in t for t in texts)  # the scan does see the call data
    assert set(texts) <= set(everything)  # and the store hides nothing from a full scan
    dump = "\n".join(everything)
    assert "[8 digits hidden]" in dump
    for secret in (MEMBER_ID, MEMBER2_ID, MEMBER2_DOB, "12251999", "77777777"):
        assert secret not in dump
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        pytest.param({}, {}, SqliteStore, id="default-sqlite"),
        pytest.param({"REDIS_URL": "{url}"}, {}, RedisStore, id="config"),
        pytest.param({}, {"IVR_REDIS_URL": "{url}"}, RedisStore, id="IVR_REDIS_URL"),
        pytest.param({}, {"REDIS_URL": "{url}"}, RedisStore, id="REDIS_URL"),
        pytest.param({}, {"IVR_REDIS_URL": "{url}", "REDIS_URL": "redis://127.0.0.1:1/0"}, RedisStore,
                     id="IVR_-wins"),
    ],
)  # fmt: skip
def test_redis_url_selects_the_redis_store(make_app, monkeypatch, redis_server, redis_prefix,
                                           settings, env, expected):  # fmt: skip
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("IVR_REDIS_URL", raising=False)
    monkeypatch.setenv("IVR_REDIS_PREFIX", redis_prefix)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(url=redis_server.url))
    app = make_app(**{k: v.format(url=redis_server.url) for k, v in settings.items()})
    store = app.extensions["ivr"].store
    assert type(store) is expected
    if expected is RedisStore:
        assert store.keys.prefix == redis_prefix and store.url == redis_server.url
    store.close()


# -- the menus, on both stores (the `app` fixture above runs each test once per store) ---------

PATHS = [
    pytest.param(("2", "1"), [prompt("billing_discrepancy")], id="billing-discrepancy"),
    pytest.param(("3", "2"), ["low-income subsidy"], id="medicare-lis"),
    pytest.param(("5", "1"), ["30-day travel supply"], id="intl-travel"),
    pytest.param(("9", "2"), ["diferencia en su factura"], id="spanish-billing"),
    pytest.param(("1", MEMBER_ID, MEMBER_DOB, "2"),
                 ["Your most recent order: two prescriptions shipped on Monday"], id="verified-tracking"),
]  # fmt: skip


@pytest.mark.parametrize(("keys", "phrases"), PATHS)
def test_menu_paths(call, engine, keys, phrases):
    phone = call().walk(*keys)
    for phrase in phrases:
        assert phrase in phone.heard
    record = engine.store.get_call(phone.sid)
    assert [e.step for e in record.events] == list(range(len(keys) + 1))


def test_transfer_records_its_outcome(call, engine):
    phone = call().walk("3", "0")
    assert phone.enqueue is not None and phone.enqueue.text == "sim-medicare"
    assert engine.store.get_call(phone.sid).outcome == "transfer:medicare"


def test_goodbye_hangs_up_and_a_status_closes_the_call(call, engine):
    phone = call().walk("2", "1")  # no key ends a call: silence after a leaf is "finished"
    phone.silence().silence()
    assert not phone.hung_up
    phone.silence()
    assert phone.hung_up and engine.store.get_call(phone.sid).outcome == "goodbye"
    assert phone.hangup("completed") == 204
    record = engine.store.get_call(phone.sid)
    assert record.status == "completed" and record.outcome == "goodbye"


def test_specialty_line_and_recent_calls(call, engine):
    first = call()
    second = call(to=SPECIALTY).press("1")
    assert "prescriber and your insurance plan" in second.heard
    recent = engine.store.recent_calls()
    assert [(r.call_sid, r.line) for r in recent] == [(second.sid, "specialty"), (first.sid, "main")]
