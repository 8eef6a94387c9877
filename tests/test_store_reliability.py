"""Both stores under retries, many workers and a killed server: no double steps, nothing lost.

Idempotency: Twilio retries a webhook with the same CallSid, the same action URL (so the same
`step`) and the same I-Twilio-Idempotency-Token. The engine already answers a request for an
older step with the TwiML it saved, and a retried first request with the first TwiML, all
inside the store's lock, so the token adds nothing and is not read; these tests send it anyway.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import queue
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask

from app import create_app
from ivr.engine.config import EngineConfig
from ivr.engine.ssml import spoken_text
from ivr.engine.store import CallEvent, CallRecord
from ivr.sim.twiml_rules import validate_twiml
from ivr.stores.open import open_store
from ivr.stores.redis_store import RedisStore

from .conftest import OPEN_HOURS
from .flow_text import message, prompt
from .narrowing import found, stored
from .phone import MAIN, Phone
from .redis_server import RedisServer
from .servers import ROOT, free_port, start_flask

pytest_plugins = ["tests.redis_server"]

TOKEN = "I-Twilio-Idempotency-Token"
MEMBER_ID, MEMBER_DOB = "10203040", "03071956"


@pytest.fixture
def settings(backend: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Everything a worker process needs to build its own app or store on the shared calls."""
    return {"TESTING": True, "NOW": OPEN_HOURS, "DATABASE": str(tmp_path / "ivr.sqlite3"), **backend}


@pytest.fixture
def workers(settings: dict[str, Any]) -> Iterator[list[Flask]]:
    """Two apps on the same calls, as two workers (or two hosts) behind one Twilio number."""
    apps = [create_app(dict(settings)), create_app(dict(settings))]
    yield apps
    for application in apps:
        application.extensions["ivr"].store.close()


def _record(app: Flask, sid: str) -> CallRecord:
    record: CallRecord = app.extensions["ivr"].store.get_call(sid)
    assert record is not None, f"no record of {sid}"
    return record


# -- (a) a retried webhook applies once ---------------------------------------------------------


def _request(kind: str, phone: Phone) -> tuple[str, dict[str, str]]:
    """Bring the call to where `kind` happens; return the webhook Twilio will deliver twice."""
    fields = phone._fields()
    if kind == "first":
        return "/voice", fields
    phone.dial()
    if kind == "input-mid-call":
        phone.press("2")
    if kind == "status":
        return "/voice/status", {**fields, "CallStatus": "completed", "CallDuration": "30"}
    return phone.action, {**fields, "Digits": "1"}


def _deliver(apps: list[Flask], where: str, url: str, fields: dict[str, str]) -> list[tuple[int, bytes]]:
    headers = {TOKEN: "idem-" + fields["CallSid"]}

    def post(app: Flask) -> tuple[int, bytes]:
        response = app.test_client().post(url, data=fields, headers=headers)
        return response.status_code, response.data

    if where != "concurrent":
        return [post(apps[0]), post(apps[0] if where == "same-worker" else apps[1])]
    answers: list[tuple[int, bytes]] = []
    start = threading.Barrier(2)

    def race(app: Flask) -> None:
        start.wait()
        answers.append(post(app))

    threads = [threading.Thread(target=race, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


# kind -> (events after the first delivery, state after, outcome after)
RETRIED = {
    "first": (["start"], "main_menu", None),
    "input-step-0": (["start", "press_1"], "verify_id", None),
    "input-mid-call": (["start", "press_2", "press_1"], "billing_discrepancy", None),
    "status": (["start"], "main_menu", "hung up in main_menu"),
}


@pytest.mark.parametrize("where", ["same-worker", "other-worker", "concurrent"])
@pytest.mark.parametrize("kind", list(RETRIED))
def test_a_retried_webhook_answers_the_same_and_moves_once(
    workers: list[Flask], kind: str, where: str
) -> None:
    phone = Phone(workers[0])
    url, fields = _request(kind, phone)
    answers = _deliver(workers, where, url, fields)
    assert len(answers) == 2 and answers[0] == answers[1]
    status, body = answers[0]
    assert status == (204 if kind == "status" else 200)
    if kind != "status":
        validate_twiml(body)
    triggers, state, outcome = RETRIED[kind]
    record = _record(workers[1], phone.sid)
    assert [e.trigger for e in record.events] == triggers
    assert [e.step for e in record.events] == list(range(len(triggers)))
    assert (record.state, record.outcome) == (state, outcome)
    assert record.status == ("completed" if kind == "status" else "in-progress")


def test_a_retry_after_the_call_moved_on_does_not_move_it_back(workers: list[Flask]) -> None:
    phone = Phone(workers[0]).dial()
    url, fields = phone.action, {**phone._fields(), "Digits": "2"}
    phone.press("2").press("1")
    retried = workers[1].test_client().post(url, data=fields, headers={TOKEN: "late"})
    says = [spoken_text(s) for s in validate_twiml(retried.data).iter("Say")]
    assert says[0] == prompt("billing_discrepancy")  # where the call is, not re-confirmed
    record = _record(workers[0], phone.sid)
    assert record.state == "billing_discrepancy" and len(record.events) == 3


# -- (b) many processes on one call ------------------------------------------------------------


def _bump(settings: dict[str, Any], sid: str, times: int, start: Any, out: Any) -> None:
    """In its own process: its own store, `times` read-modify-writes of one call."""
    store = open_store(EngineConfig.from_mapping(settings))
    start.wait(60)
    for _ in range(times):
        with store.call(sid, now=time.time()) as slot:
            assert slot.session is not None
            slot.session.failures += 1  # the counter
            slot.session.step += 1
            slot.save(slot.session, now=time.time())
            slot.log(CallEvent(time.time(), slot.session.step, "bump", str(os.getpid()), "a", "a", "en"))
    store.close()
    out.put(os.getpid())


def _press_nines(settings: dict[str, Any], sid: str, action: str, times: int, start: Any, out: Any) -> None:
    """In its own process: its own app, `times` presses of 9 at the last action it was given."""
    client = create_app(dict(settings)).test_client()
    start.wait(60)
    applied = 0
    for _ in range(times):
        response = client.post(action, data={"CallSid": sid, "To": MAIN, "Digits": "9"})
        applied += response.headers.get("X-IVR-Trigger") == "press_9"
        gather = ElementTree.fromstring(response.data).find("Gather")
        assert gather is not None, response.data
        action = gather.attrib["action"]
    out.put(applied)


def _run_processes(target: Callable[..., None], args: tuple[Any, ...], count: int) -> list[Any]:
    # Fresh processes (no state forked from a threaded test process), forked from a server that
    # imported this module once: each still builds its own store or app, without re-importing.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    start, out = ctx.Barrier(count), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for _ in range(count)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in procs]
    except queue.Empty:
        pytest.fail(f"worker processes did not finish; exit codes {[p.exitcode for p in procs]}")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * count
    return results


PROCESSES, TIMES = 4, 25


def test_processes_updating_one_call_lose_nothing(workers: list[Flask], settings: dict[str, Any]) -> None:
    phone = Phone(workers[0]).dial()
    pids = _run_processes(_bump, (settings, phone.sid, TIMES), PROCESSES)
    total = PROCESSES * TIMES
    store = workers[1].extensions["ivr"].store
    with store.call(phone.sid, now=time.time()) as slot:
        assert slot.session is not None
        assert (slot.session.failures, slot.session.step) == (total, total)
    events = _record(workers[1], phone.sid).events
    assert [e.step for e in events] == list(range(total + 1))
    assert sorted(int(e.input) for e in events[1:]) == sorted(pid for pid in pids for _ in range(TIMES))


def test_processes_posting_to_one_call_keep_a_consistent_path(
    workers: list[Flask], settings: dict[str, Any]
) -> None:
    phone = Phone(workers[0]).dial()
    applied = sum(_run_processes(_press_nines, (settings, phone.sid, phone.action, TIMES), PROCESSES))
    assert applied >= TIMES  # each round, at least the first request at the current step moves
    record = _record(workers[1], phone.sid)
    assert [e.step for e in record.events] == list(range(applied + 1))  # increasing, no duplicates
    assert [e.trigger for e in record.events] == ["start"] + ["press_9"] * applied
    langs = [e.lang for e in record.events[1:]]
    assert langs == ["es" if n % 2 else "en" for n in range(1, applied + 1)]  # each toggle saw the last
    assert (record.state, record.lang) == ("main_menu", langs[-1])


# -- (c) a server killed mid-call, on Redis ------------------------------------------------------


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_flask(port, env, log)


def _post(port: int, path: str, fields: dict[str, str]) -> tuple[ElementTree.Element, dict[str, str]]:
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as r:
        return validate_twiml(r.read()), dict(r.headers)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


# keys before the kill, state then, key after the restart, phrase heard then
CALLS = [
    ("medicare", ("3",), "medicare_menu", "2", "low-income subsidy"),
    ("billing", ("2",), "billing_menu", "1", prompt("billing_discrepancy")),
    ("spanish", ("9",), "main_menu", "2", "diferencia en su factura"),
    ("international", ("5",), "international_menu", "1", "30-day travel supply"),
    ("identity", ("1", MEMBER_ID), "verify_dob", MEMBER_DOB, message("verified")),
]


def test_sigkill_mid_calls_on_redis_then_restart(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "IVR_REDIS_URL": redis_server.url,
        "IVR_REDIS_PREFIX": redis_prefix,
        "IVR_NOW": OPEN_HOURS,
        "IVR_DATABASE": str(tmp_path / "unused.sqlite3"),
    }
    env.pop("TWILIO_AUTH_TOKEN", None)
    env.pop("REDIS_URL", None)
    log = tmp_path / "server.log"
    actions: dict[str, str] = {}
    server = _serve(port, env, log)
    busy = {"CallSid": "CA" + "e" * 32, "To": MAIN, "From": "+15551239999"}
    acked: list[int] = []
    try:
        for name, keys, state, _, _ in CALLS:
            fields = {"CallSid": f"CA{name.encode().hex():0>32}", "To": MAIN, "From": "+15551230000"}
            root, _ = _post(port, "/voice", fields)
            for key in keys:
                root, headers = _post(port, found(root, "Gather").attrib["action"], {**fields, "Digits": key})
            assert headers["X-IVR-State"] == state
            actions[name] = found(root, "Gather").attrib["action"]
        root, _ = _post(port, "/voice", busy)

        def keep_pressing(action: str) -> None:  # until the server dies under it
            try:
                for _ in range(10_000):
                    root, headers = _post(port, action, {**busy, "Digits": "9"})
                    acked.append(int(headers.get("X-IVR-Trigger") == "press_9"))
                    action = found(root, "Gather").attrib["action"]
            except (OSError, http.client.HTTPException):  # killed mid-answer: IncompleteRead
                return

        presser = threading.Thread(target=keep_pressing, args=(found(root, "Gather").attrib["action"],))
        presser.start()
        deadline = time.monotonic() + 10
        while len(acked) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        _kill(server)
    presser.join(15)
    assert sum(acked) >= 20, "the busy call was not moving when the server was killed"

    store = RedisStore(redis_server.url, prefix=redis_prefix)
    record = store.get_call("CA" + "e" * 32)
    assert record is not None
    moves = len(record.events) - 1
    assert moves in (sum(acked), sum(acked) + 1)  # the request in flight committed whole or not at all
    assert [e.step for e in record.events] == list(range(moves + 1))
    assert record.lang == ("es" if moves % 2 else "en")

    server = _serve(port, env, log)
    try:
        for name, _, state, key, phrase in CALLS:
            assert stored(store, f"CA{name.encode().hex():0>32}").state == state
            fields = {
                "CallSid": f"CA{name.encode().hex():0>32}",
                "To": MAIN,
                "From": "+15551230000",
                "Digits": key,
            }
            root, _ = _post(port, actions[name], fields)
            assert phrase in " ".join(spoken_text(s) for s in root.iter("Say")), name
        root, headers = _post(port, f"/voice/input?step={moves}", {**busy, "Digits": "9"})
        assert headers["X-IVR-Trigger"] == "press_9"
        assert headers["X-IVR-Language"] == ("en" if moves % 2 else "es")
    finally:
        _kill(server)
        store.close()
