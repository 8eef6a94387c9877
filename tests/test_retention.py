# ruff: noqa: F811 - the store fixtures of test_store_contract, imported, are redefined as arguments
"""Bounded growth (issue 12, item 5), on every store: page calls in the store (locked per call,
capped per line), their transcripts capped, what was heard kept with each step and masked, ended
and expired sessions forgetting who the caller was, and records purged after the retention."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.engine.call import CallSession
from ivr.engine.config import EngineConfig
from ivr.engine.engine import HIDDEN, Engine, heard_words
from ivr.engine.store import CallEvent, PageCall, SessionStore
from ivr.stores.sqlite_store import SqliteStore

from .phone import Phone
from .redis_server import scan_everything
from .test_store_contract import (  # noqa: F401 - fixtures: one store per parameter
    MEMBER2_DOB,
    MEMBER2_ID,
    MEMBER_DOB,
    MEMBER_ID,
    _everything_stored,
    app,
    make_app,
    make_store,
    store,
    store_kind,
    store_settings,
)

pytest_plugins = ["tests.redis_server"]

API = "/trainer/api"
DAY = 24 * 3600


def _page(sid: str, line: str = "main", *, ended: bool = False, expires_at: float = 2000.0) -> PageCall:
    return PageCall(sid, line, json.dumps({"sid": sid}), ended, expires_at)


def _start(store: SessionStore, sid: str, now: float, line: str = "main") -> None:
    with store.call(sid, now=now) as slot:
        session = CallSession(sid, line, "main_menu", reference=str(10_000_000 + hash(sid) % 80_000_000))
        session.verified, session.order_status = True, {"en": "shipped on Monday"}
        slot.create(session, caller="***0000", now=now)
        slot.log(CallEvent(now, 0, "start", "", "incoming", "main_menu", "en", "Thanks for calling."))


# -- page calls in the store -----------------------------------------------------------------


def test_a_page_call_is_kept_listed_and_dropped(store: SessionStore) -> None:
    with store.page_call("CA1", now=1000.0) as slot:
        assert slot.page_call is None
        assert slot.put(_page("CA1"), now=1000.0)
    with store.page_call("CA1", now=1001.0) as slot:
        assert slot.page_call == _page("CA1")
    assert [p.call_sid for p in store.page_calls("main", 1001.0)] == ["CA1"]
    assert store.page_calls("tty", 1001.0) == [] and len(store.page_calls(None, 1001.0)) == 1
    assert store.page_calls("main", 2001.0) == []  # expired: not live
    assert [p.call_sid for p in store.expired_page_calls(2001.0)] == ["CA1"]
    with store.page_call("CA1", now=1002.0) as slot:
        slot.put(_page("CA1", ended=True), now=1002.0)
    assert store.page_calls("main", 1002.0) == [] and store.expired_page_calls(2001.0) == []
    assert [p.call_sid for p in store.page_calls("main", 1002.0, ended=True)] == ["CA1"]
    assert store.page_calls("main", 2001.0, ended=True) == []
    with store.page_call("CA1", now=1003.0) as slot:
        assert slot.page_call is not None and slot.page_call.ended  # kept for its transcript
        slot.drop()
    with store.page_call("CA1", now=1004.0) as slot:
        assert slot.page_call is None


def test_a_line_takes_at_most_the_limit_of_live_page_calls(store: SessionStore) -> None:
    for sid in ("CA1", "CA2"):
        with store.page_call(sid, now=1000.0) as slot:
            assert slot.put(_page(sid), now=1000.0, limit=2)
    with store.page_call("CA3", now=1000.0) as slot:
        assert not slot.put(_page("CA3"), now=1000.0, limit=2)
        assert slot.put(_page("CA3", "tty"), now=1000.0, limit=2)  # another line: room of its own
    with store.page_call("CA1", now=1000.0) as slot:
        assert slot.put(_page("CA1"), now=1000.0, limit=2)  # a call already counted is updated
        slot.put(_page("CA1", ended=True), now=1000.0)
    with store.page_call("CA3", now=1000.0) as slot:
        assert slot.put(_page("CA3"), now=1000.0, limit=2)  # the ended call made room
    with store.page_call("CA4", now=3000.0) as slot:
        assert slot.put(_page("CA4", expires_at=4000.0), now=3000.0, limit=2)  # the others expired
    assert store.page_calls(None, 1000.0) != []


def test_one_click_at_a_time_holds_a_page_call_across_workers(
    make_store: Callable[..., SessionStore],
) -> None:
    first, second = make_store(), make_store()
    order: list[str] = []
    held = threading.Event()

    def other_worker() -> None:
        held.wait(10)
        with second.page_call("CA1", now=1000.0) as slot:
            order.append("second")
            assert slot.page_call is not None and json.loads(slot.page_call.data)["n"] == 1

    thread = threading.Thread(target=other_worker)
    thread.start()
    with first.page_call("CA1", now=1000.0) as slot:
        held.set()
        with first.call("CA1", now=1000.0):  # the click's own webhooks run meanwhile
            pass
        time.sleep(0.3)  # the other worker is kept waiting, whatever the timing
        slot.put(PageCall("CA1", "main", json.dumps({"n": 1}), False, 2000.0), now=1000.0)
        order.append("first")
    thread.join(15)
    assert order == ["first", "second"]


# -- live and ended calls, and what an ended call forgets ----------------------------------------


def test_live_and_ended_calls_of_a_line(store: SessionStore) -> None:
    now = time.time()
    _start(store, "CA1", now)
    _start(store, "CA2", now)
    _start(store, "CA3", now, line="tty")
    assert sorted(r.call_sid for r in store.live_calls("main", now)) == ["CA1", "CA2"]
    assert store.end_call("CA2", "completed", now + 1, 1)
    assert [r.call_sid for r in store.live_calls("main", now + 1)] == ["CA1"]
    ended = store.ended_calls("main", now)
    assert [(r.call_sid, r.outcome) for r in ended] == [("CA2", "hung up in main_menu")]
    assert store.ended_calls("main", now + 2) == [] and store.ended_calls("tty", now) == []
    with store.call("CA2", now=now + 2) as slot:
        assert slot.session is not None and slot.session.ended
        assert not slot.session.verified and slot.session.order_status == {}
        assert slot.session.last_twiml is None
    assert not any("shipped on Monday" in t for t in store.iter_raw_text() if "CA2" in t)


def test_a_purge_forgets_expired_sessions_and_old_records(
    make_store: Callable[..., SessionStore], store_kind: str
) -> None:
    store = make_store(ttl=60)
    now = time.time()
    _start(store, "CAold", now - 40 * DAY)
    store.end_call("CAold", "completed", now - 40 * DAY + 5, 5)
    _start(store, "CAidle", now - 3600)  # its session expired an hour ago; never ended
    _start(store, "CAlive", now)
    with store.page_call("CApage", now=now) as slot:
        slot.put(_page("CApage", ended=True, expires_at=now - 1), now=now)
    purged = store.purge(now, now - 30 * DAY)
    if store_kind == "redis":
        # Redis expires records by their TTL (the retention, from their last write) and drops
        # them from the recent list as they age; sessions and page calls expire by their own.
        assert "CAold" not in [r.call_sid for r in store.recent_calls(10)]
    else:
        assert (purged.records, purged.sessions, purged.page_calls) == (1, 2, 1)
        assert store.get_call("CAold") is None
    assert store.get_call("CAidle") is not None and store.get_call("CAlive") is not None
    with store.call("CAidle", now=now) as slot:
        assert slot.session is None and slot.known
    if store_kind != "redis":  # where Redis keeps a session, its own TTL deletes it
        texts = [t for t in store.iter_raw_text() if "CAidle" in t]
        assert texts and not any("shipped on Monday" in t or '"verified": true' in t for t in texts)
    assert store.purge(now, now - 30 * DAY).records == 0


def test_the_engine_purges_at_most_every_few_minutes(app: Flask) -> None:
    engine: Engine = app.extensions["ivr"]
    assert engine.housekeeping(force=True) is not None
    assert engine.housekeeping() is None  # not again so soon
    assert engine.config.retention_days == 30


def test_retention_and_record_ttl_settings() -> None:
    config = EngineConfig.from_mapping({"RETENTION_DAYS": "7"})
    assert (config.retention_days, config.record_ttl) == (7, 7 * DAY)
    assert EngineConfig.from_mapping({"RETENTION_DAYS": "7", "RECORD_TTL": "99"}).record_ttl == 99


# -- what was heard, kept with each step -----------------------------------------------------


def test_each_step_keeps_the_words_heard(call: Callable[..., Phone], engine: Engine) -> None:
    phone = call().press("1").press(MEMBER_ID).press(MEMBER_DOB).press("2")
    record = engine.store.get_call(phone.sid)
    assert record is not None
    heard = [e.heard for e in record.events]
    assert heard[0].startswith("Thanks for calling the Caremark mail order pharmacy simulator.")
    assert heard[-1].startswith("Track a shipment. Your most recent order: two prescriptions shipped")
    assert heard[-1] in phone.heard  # the very words the caller heard
    assert all(MEMBER_ID not in h and MEMBER_DOB not in h for h in heard)


def test_words_that_read_a_secret_entry_back_are_masked() -> None:
    twiml = (
        "<Response><Say>You entered 1 0 2 0 3 0 4 0.</Say><Say>Born March 7, 1956, that is "
        "03071956? Or 7 de marzo de 1956.</Say></Response>"
    )
    assert (
        heard_words(twiml, "10203040")
        == f"You entered {HIDDEN}. Born March 7, 1956, that is 03071956? Or 7 de marzo de 1956."
    )
    assert heard_words(twiml, "03071956") == (
        f"You entered 1 0 2 0 3 0 4 0. Born {HIDDEN}, that is {HIDDEN}? Or {HIDDEN}."
    )
    assert heard_words(twiml) == heard_words(twiml, "")
    assert heard_words("not xml") == ""


def test_an_older_sqlite_file_gets_the_heard_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE call_events (call_sid TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL,"
        " step INTEGER NOT NULL, trigger TEXT NOT NULL, input TEXT NOT NULL, source TEXT NOT NULL,"
        " dest TEXT NOT NULL, lang TEXT NOT NULL, PRIMARY KEY (call_sid, seq));"
        "INSERT INTO call_events VALUES ('CA1', 1, 1.0, 0, 'start', '', 'incoming', 'main_menu', 'en');"
    )
    db.commit()
    db.close()
    store = SqliteStore(path)
    try:
        _start(store, "CA2", time.time())
        record = store.get_call("CA2")
        assert record is not None and record.events[0].heard == "Thanks for calling."
        old = store.connection().execute("SELECT heard FROM call_events WHERE call_sid = 'CA1'").fetchone()
        assert old == ("",)
    finally:
        store.close()


# -- the trainer page's calls: bounded, nothing secret kept ------------------------------------


def _dump(store_kind: str, store: Any, request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """All a store holds now, read past its own API where it can be: (text, raw bytes)."""
    texts = list(store.iter_raw_text())
    if store_kind == "sqlite":
        dump = "\n".join(texts) + "\n".join(sqlite3.connect(store.path).iterdump())
        raw = b"".join(p.read_bytes() for p in Path(store.path).parent.glob("ivr.sqlite3*"))
        return dump, raw
    if store_kind == "redis":
        return "\n".join(scan_everything(request.getfixturevalue("redis_server").client())), b""
    return "\n".join(texts), b""


def test_nothing_secret_is_kept_of_page_calls(
    client: FlaskClient, engine: Engine, store_kind: str, request: pytest.FixtureRequest
) -> None:
    sid = client.post(f"{API}/calls", json={"line": "main"}).get_json()["call"]["call_sid"]
    client.post(f"{API}/calls/{sid}/press", json={"keys": "1"})
    for key in MEMBER2_ID[:6]:  # keys collected one click at a time, kept between clicks
        client.post(f"{API}/calls/{sid}/press", json={"keys": key})
    dump, raw = _dump(store_kind, engine.store, request)
    for key in MEMBER2_ID[6:]:
        client.post(f"{API}/calls/{sid}/press", json={"keys": key})
    client.post(f"{API}/calls/{sid}/press", json={"keys": "#"})
    client.post(f"{API}/calls/{sid}/press", json={"keys": MEMBER2_DOB})
    done, raw_done = _everything_stored(store_kind, engine.store, request)
    assert client.get(f"{API}/calls/{sid}").get_json()["call"]["state"] == "refill_menu"
    for secret in (MEMBER2_ID, MEMBER2_ID[:6], MEMBER2_DOB):
        assert secret not in dump and secret not in done
        assert secret.encode() not in raw and secret.encode() not in raw_done


# -- ivr purge ---------------------------------------------------------------------------------


def _purge(env: dict[str, str]) -> Any:
    from click.testing import CliRunner

    from ivr.cli import main

    unset = {
        k: None for k in ("TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_SHARED_KEY", "IVR_REDIS_URL", "REDIS_URL")
    }
    return CliRunner(env={**unset, "IVR_TRAINER": "0", **env}).invoke(main, ["purge"])


def test_ivr_purge_deletes_what_the_retention_says_is_old_in_the_servers_store(tmp_path: Path) -> None:
    path = tmp_path / "ivr.sqlite3"
    store = SqliteStore(path)
    now = time.time()
    for sid, age in (("CAold", 8 * DAY), ("CArecent", 2 * DAY)):
        _start(store, sid, now - age)
        store.end_call(sid, "completed", now - age + 5, 5)
    store.close()
    result = _purge({"IVR_DATABASE": str(path), "IVR_RETENTION_DAYS": "7"})
    assert result.exit_code == 0, result.output
    assert result.stdout == "purged 2 expired sessions, 1 call record older than 7 days, 0 page calls\n"
    kept = SqliteStore(path)
    assert kept.get_call("CAold") is None and kept.get_call("CArecent") is not None
    assert not sqlite3.connect(path).execute("SELECT 1 FROM call_events WHERE call_sid = 'CAold'").fetchall()
    again = _purge({"IVR_DATABASE": str(path), "IVR_RETENTION_DAYS": "7"})
    assert again.stdout.startswith("purged 0 expired sessions, 0 call records")


def test_ivr_purge_on_a_store_it_cannot_open_says_so_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / "a-file" / "ivr.sqlite3"
    result = _purge({"IVR_DATABASE": str(path)})
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: nothing was purged: the SQLite store {path} cannot make its folder"
    )
