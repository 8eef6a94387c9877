"""One contract, every store: SQLite, Redis and memory keep calls the same way.

Each test runs once per store (ids `sqlite`, `redis`, `memory`): the `store` fixture opens one,
`make_store` opens more on the same calls (another worker; in memory, the process's one store)
and `app` builds the app on it, so `call`, `client` and `engine` follow. Store-specific checks
(WAL and file locks, Redis keys, TTLs and leases) stay in test_sqlite_store.py and
test_redis_store.py.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.engine.call import CallSession
from ivr.engine.config import EngineConfig
from ivr.engine.engine import Engine
from ivr.engine.store import CallEvent, SessionStore
from ivr.stores.memory_store import MemoryStore
from ivr.stores.open import open_store
from ivr.stores.redis_store import RedisStore
from ivr.stores.sqlite_store import SqliteStore

from .flow_text import greeting, message, prompt
from .narrowing import stored
from .phone import SPECIALTY, Phone
from .redis_server import RedisServer, scan_everything

pytest_plugins = ["tests.redis_server"]

STORES = ["sqlite", "redis", "memory"]
#: The stores whose calls outlive the process that wrote them.
DURABLE = ["sqlite", "redis"]
KINDS = {"sqlite": SqliteStore, "redis": RedisStore, "memory": MemoryStore}

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"
# The scans for secrets look for member 2's entries as well.
MEMBER2_ID, MEMBER2_DOB = "55501234", "11231948"


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_settings(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """App settings (IVR_ names without the prefix) that choose this store."""
    if store_kind == "sqlite":
        return {"DATABASE": str(tmp_path / "ivr.sqlite3"), "REDIS_URL": None}
    if store_kind == "memory":
        return {"DATABASE": ":memory:", "REDIS_URL": None}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"REDIS_URL": server.url, "REDIS_PREFIX": request.getfixturevalue("redis_prefix")}


@pytest.fixture
def make_store(store_settings: dict[str, Any], tmp_path: Path) -> Iterator[Callable[..., SessionStore]]:
    """Open the store again, like another worker on the same calls; all closed afterwards.

    Without a secret key they share the key file's (as the app's workers do)."""
    opened: list[SessionStore] = []
    shared: dict[tuple[Any, ...], SessionStore] = {}

    def open_one(ttl: int = 4 * 3600, secret_key: str | None = None) -> SessionStore:
        config = EngineConfig.from_mapping(
            {
                **store_settings,
                "SESSION_TTL": ttl,
                "SECRET_KEY": secret_key,
                "SECRET_KEY_FILE": str(tmp_path / "member.key"),
            }
        )
        if config.database == ":memory:":  # one process: its workers share the one store
            key = (ttl, secret_key)
            if key not in shared:
                shared[key] = open_store(config)
            return shared[key]
        store = open_store(config)
        opened.append(store)
        return store

    yield open_one
    for store in [*opened, *shared.values()]:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., SessionStore]) -> SessionStore:
    return make_store()


@pytest.fixture
def make_app(make_app: Callable[..., Flask], store_settings: dict[str, Any]) -> Callable[..., Flask]:
    """conftest's make_app on this store: two calls make two workers sharing the calls."""
    return lambda **config: make_app(**{**store_settings, **config})


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app()
    yield application
    application.extensions["ivr"].store.close()


def _start(store: SessionStore, sid: str, now: float, reference: str = "12345678") -> None:
    with store.call(sid, now=now) as slot:
        slot.create(CallSession(sid, "main", "main_menu", reference=reference), caller="", now=now)
        slot.log(CallEvent(now, 0, "start", "", "incoming", "main_menu", "en"))


def test_the_settings_open_this_store(engine: Engine, store_kind: str) -> None:
    assert type(engine.store) is KINDS[store_kind]


# -- expiry and atomicity ----------------------------------------------------------------------


def test_session_expires_by_the_clock_the_engine_gives(make_store: Callable[..., SessionStore]) -> None:
    store = make_store(ttl=60)
    _start(store, "CA1", now=1000.0)
    with store.call("CA1", now=1059.0) as slot:
        assert slot.session is not None and slot.session.state == "main_menu"
    with store.call("CA1", now=1200.0) as slot:
        assert slot.session is None and slot.known  # expired, but the record stays


def test_an_unknown_call_is_not_known(store: SessionStore) -> None:
    with store.call("CAnever", now=1.0) as slot:
        assert slot.session is None and not slot.known
    assert store.get_call("CAnever") is None


def test_an_error_rolls_back_a_new_call(store: SessionStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.call("CA5", now=1.0) as slot:
        slot.create(CallSession("CA5", "main", "main_menu", reference="22345678"), caller="", now=1.0)
        slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
        raise RuntimeError("boom")
    assert store.get_call("CA5") is None
    with store.call("CA6", now=2.0) as slot:
        assert slot.reference_free("22345678")


def test_an_error_rolls_back_every_part_of_a_step(store: SessionStore) -> None:
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
    assert record is not None
    assert (record.state, record.outcome, record.updated_at) == ("main_menu", None, 1.0)
    assert [e.trigger for e in record.events] == ["start"]


def test_concurrent_updates_of_one_call_lose_nothing(make_store: Callable[..., SessionStore]) -> None:
    _start(make_store(), "CA7", now=1.0)

    def bump(store: SessionStore, times: int) -> None:
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
    assert [e.step for e in stored(store, "CA7").events] == list(range(0, 201))


# -- records, references, members --------------------------------------------------------------


def test_end_call_closes_the_record_and_the_session(store: SessionStore) -> None:
    assert store.end_call("CAnone", "completed", now=5.0, duration=3) is False
    _start(store, "CA10", now=1.0)
    assert store.end_call("CA10", "completed", now=5.0, duration=3) is True
    record = store.get_call("CA10")
    assert record is not None
    assert (record.status, record.ended_at, record.outcome) == ("completed", 5.0, "hung up in main_menu")
    with store.call("CA10", now=6.0) as slot:
        assert slot.session is not None and slot.session.ended


def test_end_call_keeps_an_outcome_already_reached(store: SessionStore) -> None:
    _start(store, "CA11", now=1.0)
    with store.call("CA11", now=2.0) as slot:
        assert slot.session is not None
        slot.save(slot.session, now=2.0, outcome="transfer:pharmacist")
    store.end_call("CA11", "completed", now=3.0, duration=None)
    assert stored(store, "CA11").outcome == "transfer:pharmacist"


def test_recent_calls_newest_first_without_paths(store: SessionStore) -> None:
    for n in range(5):
        _start(store, f"CA2{n}", now=100.0 + n, reference=f"3000000{n}")
    recent = store.recent_calls(limit=3)
    assert [r.call_sid for r in recent] == ["CA24", "CA23", "CA22"]
    assert all(r.events == [] for r in recent)
    assert stored(store, "CA24").events != []  # the paths are kept, only not listed
    assert store.recent_calls(limit=0) == []


def test_a_restarted_call_gets_a_new_reference_and_frees_the_old(
    make_store: Callable[..., SessionStore],
) -> None:
    store = make_store(ttl=60)
    _start(store, "CA30", now=1.0, reference="40000001")
    with store.call("CA31", now=2.0) as slot:
        assert not slot.reference_free("40000001")
    with store.call("CA30", now=500.0) as slot:  # session expired: the engine starts afresh
        assert slot.session is None and slot.known
        slot.create(CallSession("CA30", "main", "main_menu", reference="40000002"), caller="x", now=500.0)
    record = store.get_call("CA30")
    assert record is not None
    assert (record.reference, record.started_at, record.updated_at) == ("40000002", 1.0, 500.0)
    with store.call("CA31", now=501.0) as slot:
        assert slot.reference_free("40000001") and not slot.reference_free("40000002")


def test_member_key_is_made_once_and_shared(make_store: Callable[..., SessionStore]) -> None:
    first, second = make_store(), make_store()
    assert first.members.hash_member_id(MEMBER_ID) == second.members.hash_member_id(MEMBER_ID)
    assert first.members.hash_member_id(MEMBER_ID) != MEMBER_ID
    configured = make_store(secret_key="a configured key")
    assert configured.members.hash_member_id(MEMBER_ID) != first.members.hash_member_id(MEMBER_ID)
    member = configured.members.hash_member_id(MEMBER_ID)
    assert configured.members.verify(member, MEMBER_DOB) is not None
    assert configured.members.verify(member, "12251999") is None
    assert first.members.verify(member, MEMBER_DOB) is None  # hashed with the other key


# -- through the app ---------------------------------------------------------------------------


@pytest.mark.parametrize("store_kind", DURABLE)
def test_a_restarted_app_continues_the_call(make_app: Callable[..., Flask]) -> None:
    first = make_app()
    phone = Phone(first).dial().press("2")
    first.extensions["ivr"].store.close()
    second = make_app()  # same calls, new process state
    assert prompt("billing_discrepancy") in phone.reach(second).press("1").heard
    # The languages already greeted are kept too: a switch back and forth is only confirmed.
    phone.press("9")  # Spanish, greeted for the first time
    assert greeting("es") in phone.heard
    phone.reach(make_app())
    assert phone.press("9").heard.startswith(message("language_set", "en"))
    assert phone.press("9").heard.startswith(message("language_set", "es"))
    assert greeting("es") not in phone.heard


def test_call_record_keeps_the_path(call: Callable[..., Phone], engine: Engine) -> None:
    phone = call().press("2").silence().press("1")
    record = engine.store.get_call(phone.sid)
    assert record is not None
    assert [(e.step, e.trigger, e.source, e.dest) for e in record.events] == [
        (0, "start", "incoming", "main_menu"),
        (1, "press_2", "main_menu", "billing_menu"),
        (2, "no_input", "billing_menu", "billing_menu"),
        (3, "press_1", "billing_menu", "billing_discrepancy"),
    ]
    assert record.caller == "***0000" and record.line == "main"
    assert len(record.reference) == 8 and record.reference.isdigit()


def _everything_stored(store_kind: str, store: Any, request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """All a store holds, read past its own API where it can be: (text, raw bytes on disk)."""
    texts = list(store.iter_raw_text())
    assert any("verify_dob" in t for t in texts)  # the scan does see the call data
    if store_kind == "sqlite":
        dump = "\n".join(texts) + "\n".join(sqlite3.connect(store.path).iterdump())
        raw = b"".join(p.read_bytes() for p in Path(store.path).parent.glob("ivr.sqlite3*"))
        return dump, raw
    if store_kind == "redis":
        everything = scan_everything(request.getfixturevalue("redis_server").client())
        assert set(texts) <= set(everything)  # the store hides nothing from a full scan
        return "\n".join(everything), b""
    return "\n".join(texts), b""


def test_no_member_id_or_birth_date_in_clear(
    app: Flask,
    call: Callable[..., Phone],
    engine: Engine,
    store_kind: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert "verified" in call().press("1").press(MEMBER_ID).press(MEMBER_DOB).heard
    assert "verified" in call().press("1").press(MEMBER2_ID).press(MEMBER2_DOB).heard
    call().press("1").press(MEMBER_ID).press("12251999").press("77777777")
    call().say("refill").press(MEMBER_ID)
    dump, raw = _everything_stored(store_kind, engine.store, request)
    assert "[8 digits hidden]" in dump
    for secret in (MEMBER_ID, MEMBER2_ID, MEMBER2_DOB, "12251999", "77777777"):
        assert secret not in dump
        assert secret.encode() not in raw
        assert secret not in caplog.text


# -- the menus, on every store -----------------------------------------------------------------

PATHS = [
    pytest.param(("2", "1"), [prompt("billing_discrepancy")], id="billing-discrepancy"),
    pytest.param(("3", "2"), ["low-income subsidy"], id="medicare-lis"),
    pytest.param(("5", "1"), ["30-day travel supply"], id="intl-travel"),
    pytest.param(("9", "2"), ["diferencia en su factura"], id="spanish-billing"),
    pytest.param(
        ("1", MEMBER_ID, MEMBER_DOB, "2"),
        ["Your most recent order: two prescriptions shipped on Monday"],
        id="verified-tracking",
    ),
]


@pytest.mark.parametrize(("keys", "phrases"), PATHS)
def test_menu_paths(
    call: Callable[..., Phone], engine: Engine, keys: tuple[str, ...], phrases: list[str]
) -> None:
    phone = call().walk(*keys)
    for phrase in phrases:
        assert phrase in phone.heard
    record = engine.store.get_call(phone.sid)
    assert record is not None
    assert [e.step for e in record.events] == list(range(len(keys) + 1))


def test_transfer_records_its_outcome(call: Callable[..., Phone], engine: Engine) -> None:
    phone = call().walk("3", "0")
    assert phone.enqueue is not None and phone.enqueue.text == "sim-medicare"
    assert str(phone.outcome) == "enqueue:sim-medicare"
    assert stored(engine.store, phone.sid).outcome == "transfer:medicare"


def test_goodbye_hangs_up_and_a_status_closes_the_call(call: Callable[..., Phone], engine: Engine) -> None:
    phone = call().walk("2", "1")  # no key ends a call: silence after a leaf is "finished"
    phone.silence().silence()
    assert not phone.hung_up and stored(engine.store, phone.sid).status == "in-progress"
    phone.silence()  # the goodbye: Twilio hangs up, then posts the final status
    assert phone.hung_up and str(phone.outcome) == "hangup"
    assert phone.transcript.steps[-1].kind == "status" and phone.status_code == 204
    record = engine.store.get_call(phone.sid)
    assert record.status == "completed" and record.outcome == "goodbye"


def test_specialty_line_and_recent_calls(call: Callable[..., Phone], engine: Engine) -> None:
    first = call()
    second = call(to=SPECIALTY).press("1")
    assert "prescriber and your insurance plan" in second.heard
    recent = engine.store.recent_calls()
    assert [(r.call_sid, r.line) for r in recent] == [(second.sid, "specialty"), (first.sid, "main")]


# -- failure counts: identity lockouts and trainer logins, shared by every worker --------------


def test_failures_are_counted_per_key_within_the_window(store: SessionStore) -> None:
    window, now = 900.0, 1_000_000.0
    assert store.failures("a", window, now) == 0
    assert [store.count_failure("a", window, now + i) for i in range(3)] == [1, 2, 3]
    assert store.count_failure("b", window, now) == 1, "another key counts apart"
    assert store.failures("a", window, now + 2) == 3
    assert store.failures("a", window, now + window + 0.5) == 2, "the first has left the window"
    assert store.failures("a", window, now + window + 3) == 0
    assert store.count_failure("a", window, now + 2 * window) == 1, "old failures do not count"


def test_failures_are_shared_by_the_workers_of_one_store(make_store: Callable[..., SessionStore]) -> None:
    first, second = make_store(), make_store()
    for _ in range(2):
        first.count_failure("caller", 60.0, 500.0)
    assert second.count_failure("caller", 60.0, 501.0) == 3
    assert first.failures("caller", 60.0, 502.0) == 3


def test_a_failure_counted_inside_a_call_is_kept_with_it(store: SessionStore) -> None:
    """Identity checks count failures while their call is open (one request, one transaction)."""
    _start(store, "CAfail", now=100.0)
    with store.call("CAfail", now=101.0) as slot:
        assert store.count_failure("inside", 60.0, 101.0) == 1
        assert slot.session is not None
    assert store.failures("inside", 60.0, 102.0) == 1
