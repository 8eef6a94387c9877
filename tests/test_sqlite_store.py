"""The SQLite store: atomic read-modify-write, expiry, restarts, and no secrets in clear."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from ivr.call import CallSession
from ivr.sqlite_store import SqliteStore
from ivr.store import CallEvent

from .flow_text import greeting, message, prompt
from .phone import Phone

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"
# The scans for secrets look for member 2's entries as well.
MEMBER2_ID, MEMBER2_DOB = "55501234", "11231948"


def test_database_defaults_to_the_instance_folder(tmp_path, monkeypatch):
    from app import create_app

    monkeypatch.delenv("IVR_DATABASE", raising=False)
    app = create_app({"TESTING": True})
    assert app.config["DATABASE"] == str(Path(app.instance_path) / "ivr.sqlite3")
    app.extensions["ivr"].store.close()


def test_wal_mode(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    assert store.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_session_expires(tmp_path):
    store = SqliteStore(tmp_path / "s.db", ttl=60)
    with store.call("CA1", now=1000.0) as slot:
        slot.create(CallSession("CA1", "main", "main_menu", reference="12345678"), caller="", now=1000.0)
    with store.call("CA1", now=1059.0) as slot:
        assert slot.session is not None and slot.session.state == "main_menu"
    with store.call("CA1", now=1200.0) as slot:
        assert slot.session is None and slot.known  # expired, but the record stays


def test_an_error_rolls_back(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    try:
        with store.call("CA2", now=1.0) as slot:
            slot.create(CallSession("CA2", "main", "main_menu", reference="22345678"), caller="", now=1.0)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert store.get_call("CA2") is None


def test_concurrent_updates_of_one_call_lose_nothing(tmp_path):
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    with store.call("CA3", now=1.0) as slot:
        slot.create(CallSession("CA3", "main", "main_menu", reference="32345678"), caller="", now=1.0)

    def bump(times: int) -> None:
        own = SqliteStore(path)  # a separate connection, like another worker
        for _ in range(times):
            with own.call("CA3", now=2.0) as slot:
                assert slot.session is not None
                slot.session.step += 1
                slot.save(slot.session, now=2.0)
                slot.log(CallEvent(2.0, slot.session.step, "press_1", "", "a", "b", "en"))
        own.close()

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = store.get_call("CA3")
    with store.call("CA3", now=3.0) as slot:
        assert slot.session is not None and slot.session.step == 200
    assert len(record.events) == 200
    assert sorted(e.step for e in record.events) == list(range(1, 201))


def test_a_restarted_app_continues_the_call(make_app):
    first = make_app()
    phone = Phone(first.test_client()).dial().press("2")
    first.extensions["ivr"].store.close()
    second = make_app()  # same database file, new process state
    phone.client = second.test_client()
    assert prompt("billing_discrepancy") in phone.press("1").heard
    # The languages already greeted are kept too: a switch back and forth is only confirmed.
    phone.press("9")  # Spanish, greeted for the first time
    assert greeting("es") in phone.heard
    phone.client = make_app().test_client()
    assert phone.press("9").heard.startswith(message("language_set", "en"))
    assert phone.press("9").heard.startswith(message("language_set", "es"))
    assert greeting("es") not in phone.heard


def test_no_member_id_or_birth_date_in_clear(make_app, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    app = make_app()
    client = app.test_client()
    assert "verified" in Phone(client).dial().press("1").press(MEMBER_ID).press(MEMBER_DOB).heard
    assert "verified" in Phone(client).dial().press("1").press(MEMBER2_ID).press(MEMBER2_DOB).heard
    Phone(client).dial().press("1").press(MEMBER_ID).press("12251999").press("77777777")
    Phone(client).dial().say("refill").press(MEMBER_ID)
    store = app.extensions["ivr"].store
    texts = list(store.iter_raw_text())
    assert any("verify_dob" in t for t in texts)  # the scan does see the call data
    dump = "\n".join(texts) + "\n".join(sqlite3.connect(store.path).iterdump())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ivr.sqlite3*"))
    for secret in (MEMBER_ID, MEMBER2_ID, MEMBER2_DOB, "12251999", "77777777"):
        assert secret not in dump
        assert secret.encode() not in raw
        assert secret not in caplog.text
    assert "[8 digits hidden]" in dump


def _open_store(path: str, results) -> None:  # a separate process, like a gunicorn worker
    try:
        SqliteStore(path)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
        results.put(repr(exc))


def test_workers_opening_a_new_file_at_once_all_start(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(8):
        path = str(tmp_path / f"fresh{trial}.db")
        results = ctx.Queue()
        workers = [ctx.Process(target=_open_store, args=(path, results)) for _ in range(5)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(10)
        assert outcomes == ["ok"] * 5
