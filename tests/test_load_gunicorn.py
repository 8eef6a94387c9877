"""Sixty calls at once over HTTP against gunicorn with three workers: no call hears another's.

Each call takes its own path (line, language, identity, per-call digits and repeats) and is
compared with the same path placed alone, in-process, against a fresh app: the transcript it
heard over HTTP must be exactly that one (its own reference number aside), and its record in
the store must hold exactly its own events. Half the calls go out on a new connection per request
(HttpTransport), so the steps of one call land on different workers; the other half on
keep-alive connections (PooledHttpTransport). Once on SQLite, once on Redis.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from ivr.engine.config import EngineConfig
from ivr.engine.engine import mask_number
from ivr.engine.ssml import say_as
from ivr.engine.store import CallRecord
from ivr.sim import HttpTransport, SimulatedCall, Transcript, WsgiTransport
from ivr.sim.transport import PooledHttpTransport
from ivr.stores.open import open_store

from .flow_text import confirm, first, greeting, message, prompt
from .phone import MAIN, SPECIALTY, TTY
from .servers import free_port

pytest_plugins = ["tests.redis_server"]

ROOT = Path(__file__).resolve().parent.parent
CALLS, WORKERS = 60, 3
TOKEN = "load-test-token"
OPEN, CLOSED = "2026-11-23T10:00:00-06:00", "2026-11-23T21:30:00-06:00"  # Monday, Central time


@dataclass(frozen=True)
class Path_:
    """A path through the menus: inputs are keys, "silence" or "say:<words>"."""

    name: str
    to: str
    inputs: tuple[str, ...]
    outcome: str
    languages: frozenset[str]  # every Say of the call is in one of these (the offers of 9 aside)
    hears: tuple[str, ...] = ()  # phrases this path must hear (and most others never do)
    now: str | None = None
    repeat_at_start: bool = True  # "*" repeats the first menu: a per-call number of times


OFFERS = frozenset({"Para español, oprima 9.", "For English, press 9."})  # in their own voices
SILENT_END = ("silence", "silence", "silence")  # at an information leaf: "finished"
ENGLISH, GOODBYE, GOODBYE_ES = message("language_set"), prompt("goodbye"), prompt("goodbye", "es")

PATHS = (
    # No key ends a call: 9 switches the language where the caller is, and silence after an
    # information leaf (the third try) ends the call with the reference number and a goodbye.
    Path_(
        "billing updates, Spanish, goodbye",
        MAIN,
        ("2", "3", "silence", "9", *SILENT_END),
        "hangup",
        frozenset({"en-US", "es-US"}),
        ("member portal at caremark dot com", "caremark punto com", GOODBYE_ES),
    ),
    Path_(
        "spanish billing, representative",
        MAIN,
        ("9", "2", "1", "0"),
        "enqueue",
        frozenset({"en-US", "es-US"}),
        (prompt("billing_menu", "es"),),
    ),
    Path_(
        "Alex verified, shipment, representative",
        MAIN,
        ("1", "10203040#", "03071956", "2", "0"),
        "enqueue",
        frozenset({"en-US"}),
        ("two prescriptions shipped on Monday",),
    ),
    Path_(
        "Maria verified in Spanish, shipment, English, goodbye",
        MAIN,
        ("9", "1", "55501234#", "11231948", "2", "9", *SILENT_END),
        "hangup",
        frozenset({"en-US", "es-US"}),
        ("una receta está esperando una autorización previa", ENGLISH, GOODBYE),
    ),
    Path_(
        "Sam verified, refill with own number, Spanish, goodbye",
        MAIN,
        ("1", "123456789012#", "07041976", "1", "RX", "9", *SILENT_END),
        "hangup",
        frozenset({"en-US", "es-US"}),
        ("has been received", GOODBYE_ES),
    ),
    Path_(
        "specialty prior authorization, team",
        SPECIALTY,
        ("1", "silence", "0"),
        "enqueue",
        frozenset({"en-US"}),
        ("prior authorization",),
    ),
    Path_(
        "specialty in Spanish, English, goodbye",
        SPECIALTY,
        ("9", "2", "9", *SILENT_END),
        "hangup",
        frozenset({"en-US", "es-US"}),
        (confirm("adherence", "es", "specialty"), ENGLISH, prompt("goodbye", "en", "specialty")),
    ),
    Path_(
        "tty open, billing, representative",
        TTY,
        ("2", "0"),
        "enqueue",
        frozenset({"en-US"}),
        (greeting("en", "tty"),),
        now=OPEN,
    ),
    Path_(
        "tty after hours",
        TTY,
        (),
        "hangup",
        frozenset({"en-US", "es-US"}),
        ("The TTY line is closed now", first(prompt("closed", "es", "tty"))),
        now=CLOSED,
        repeat_at_start=False,
    ),
    Path_(
        "speech billing, representative",
        MAIN,
        ("say:billing", "say:representative"),
        "enqueue",
        frozenset({"en-US"}),
        (confirm("billing_menu"),),
    ),
    Path_(
        "three failures, representative",
        MAIN,
        ("7", "silence", "7"),
        "enqueue",
        frozenset({"en-US"}),
        (message("failover"),),
        repeat_at_start=False,
    ),
)


@dataclass(frozen=True)
class Plan:
    """One call of the run: a path made its own by its caller, repeats and prescription number."""

    index: int
    path: Path_
    caller: str
    inputs: tuple[str, ...]

    @classmethod
    def make(cls, index: int) -> Plan:
        path = PATHS[index % len(PATHS)]
        repeats = ("*",) * ((index // len(PATHS)) % 3) if path.repeat_at_start else ()
        rx = f"90{index:06d}#"  # last four digits spoken back: this call's own
        inputs = repeats + tuple(rx if i == "RX" else i for i in path.inputs)
        return cls(index, path, f"+1555010{index:04d}", inputs)


def place(
    plan: Plan,
    transport: Any,
    base_url: str,
    token: str | None,
    pause: random.Random | None,
    start: threading.Barrier | None = None,
) -> SimulatedCall:
    call = SimulatedCall(
        transport,
        plan.path.to,
        caller=plan.caller,
        base_url=base_url,
        auth_token=token,
        simulated_now=plan.path.now,
    )
    if start is not None:
        start.wait(timeout=30)
    call.dial()
    for given in plan.inputs:
        if pause is not None:
            time.sleep(pause.uniform(0, 0.03))  # interleave the calls' steps
        if given == "silence":
            call.silence()
        elif given.startswith("say:"):
            call.say(given[4:])
        else:
            call.press(given)
    return call


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Served:
    """A gunicorn this test started: its URL, the app settings it got, and its logs."""

    url: str
    settings: dict[str, Any]
    log: Path
    access_log: Path

    def answers(self, at_least: int = 0, wait: float = 5.0) -> list[tuple[str, str, str]]:
        """(worker pid, status, request line) of every request served so far.

        A worker writes its access line after the response has gone out, so the last
        client can finish a moment before its line is in the file: wait (up to `wait`
        seconds) until at least `at_least` complete webhook lines are there (the start-up
        GET /healthz lines do not count, or they would stand in for the last webhooks').
        """
        deadline = time.monotonic() + wait
        while True:
            text = self.access_log.read_text(encoding="utf-8")
            lines = [line for line in text.split("\n")[: text.count("\n")] if line]
            webhooks = sum(" POST /voice" in line for line in lines)
            if webhooks >= at_least or time.monotonic() > deadline:
                return [tuple(line.split(" ", 2)) for line in lines]  # type: ignore[misc]
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own process group: the workers too
            proc.wait(10)


def _serve(settings: dict[str, Any], workdir: Path) -> Iterator[Served]:
    # The workers open a brand-new SQLite file at once: the store's set-up must cope with that.
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IVR_") and k not in ("TWILIO_AUTH_TOKEN", "REDIS_URL")
    }
    env.update({f"IVR_{k}": str(v) for k, v in settings.items()})
    env.update(IVR_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(WORKERS), TWILIO_AUTH_TOKEN=TOKEN)
    env["IVR_SECRET_KEY_FILE"] = str(workdir / "member.key")  # a real number's app needs a key
    env["IVR_TRAINER"] = "0"  # and a password for its trainer page, which this run does not use
    log, access_log = workdir / "gunicorn.log", workdir / "access.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--no-control-socket",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(p)s %(s)s %(r)s",
        "app:create_app()",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"gunicorn exited at start-up:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not answer:\n{log.read_text()[-3000:]}"
            time.sleep(0.1)
        yield Served(url, settings, log, access_log)
    finally:
        _stop(proc)


@pytest.fixture(params=["sqlite", "redis"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """Our app under gunicorn, three workers, signatures checked: on SQLite, then on Redis."""
    if request.param == "sqlite":
        yield from _serve({"DATABASE": tmp_path / "ivr.sqlite3"}, tmp_path)
        return
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH (apt-get install -y redis-server): Redis run skipped")
    if importlib.util.find_spec("ivr.stores.redis_store") is None:
        pytest.skip("ivr/redis_store.py is not there yet: Redis run skipped")
    server = request.getfixturevalue("redis_server")
    prefix = request.getfixturevalue("redis_prefix")  # its keys are deleted afterwards
    yield from _serve({"REDIS_URL": server.url, "REDIS_PREFIX": prefix}, tmp_path)


def _digits(value: str) -> str:
    """A number as a caller hears it from <say-as interpret-as=\"digits\">."""
    return say_as("digits", value, "en")


# -- what each call should have heard ----------------------------------------------------------


def _spoken(transcript: Transcript, reference: str) -> list[list[tuple[str, str, str | None]]]:
    """Per step: what was heard, with this call's reference number blanked out."""
    own = _digits(reference)
    return [
        [(h.kind, h.text.replace(own, "<reference>"), h.language) for h in step.heard]
        for step in transcript.steps
    ]


def _path_of(transcript: Transcript) -> list[tuple[str, str | None, str | None, int]]:
    return [(s.kind, s.state, s.trigger, s.status) for s in transcript.steps]


def _events(record: CallRecord) -> list[tuple[Any, ...]]:
    return [(e.step, e.trigger, e.input, e.source, e.dest, e.lang) for e in record.events]


@dataclass
class Expected:
    transcript: Transcript
    record: CallRecord


def expected_calls(plans: list[Plan], tmp_path: Path) -> list[Expected]:
    """Each plan placed alone, in-process, against a fresh app: the oracle."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "oracle.sqlite3"),
            "REDIS_URL": None,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "SECRET_KEY_FILE": str(tmp_path / "oracle.key"),
            "TRAINER": "0",
        }
    )
    transport = WsgiTransport(app)
    store = app.extensions["ivr"].store
    out = []
    for plan in plans:
        call = place(plan, transport, "http://localhost", TOKEN, None)
        record = store.get_call(call.call_sid)
        assert record is not None
        out.append(Expected(call.transcript, record))
    store.close()
    return out


# -- the test ----------------------------------------------------------------------------------


def test_sixty_concurrent_calls_each_hear_only_their_own(served: Served, tmp_path: Path) -> None:
    plans = [Plan.make(i) for i in range(CALLS)]
    expected = expected_calls(plans, tmp_path)
    start = threading.Barrier(CALLS)
    pooled = PooledHttpTransport(timeout=20)  # keep-alive, one connection per thread

    def run(plan: Plan) -> SimulatedCall:
        # Even calls: a new connection per request, so their steps hop between workers.
        transport = HttpTransport(timeout=20) if plan.index % 2 == 0 else pooled
        try:
            return place(plan, transport, served.url, TOKEN, random.Random(plan.index), start)
        finally:
            pooled.close()

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        calls = list(pool.map(run, plans, timeout=60))

    log = served.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-4000:]
    steps = sum(len(call.transcript.steps) for call in calls)
    answered = served.answers(at_least=steps)
    webhooks = [(pid, status) for pid, status, line in answered if line.startswith("POST /voice")]
    assert len(webhooks) == steps
    assert {status for _, status in webhooks} <= {"200", "204"}
    assert len({pid for pid, _ in webhooks}) > 1, "every request went to one worker: nothing was shared"
    store = open_store(EngineConfig.from_mapping(served.settings))
    try:
        records = [store.get_call(call.call_sid) for call in calls]
    finally:
        store.close()

    transcripts = [" ".join(h.text for h in call.heard_all) for call in calls]
    references = set()
    for plan, call, record, want, text in zip(plans, calls, records, expected, transcripts, strict=True):
        where = f"call {plan.index} ({plan.path.name}, {call.call_sid})"
        errors = [
            f"step {s.index} {s.url}: {s.error or s.status}"
            for s in call.transcript.steps
            if s.error or s.status != (204 if s.kind == "status" else 200)
        ]
        assert not errors, f"{where}: {errors}"
        assert call.outcome is not None and call.outcome.kind == plan.path.outcome, (where, call.outcome)
        assert call.outcome == want.transcript.outcome, where
        # It heard exactly what this path alone hears, step by step, and in its languages.
        assert record is not None, f"{where}: no record in the store"
        alone = _spoken(want.transcript, want.record.reference)
        assert _spoken(call.transcript, record.reference) == alone, where
        assert _path_of(call.transcript) == _path_of(want.transcript), where
        # Menus offer the other language in its own voice; apart from those offers, a call hears
        # only its path's languages.
        languages = {h.language for h in call.heard_all if h.kind == "say" and h.text not in OFFERS}
        assert languages <= plan.path.languages, (where, languages)
        for phrase in plan.path.hears:
            assert phrase in text, (where, phrase)
        if "RX" in plan.path.inputs:
            assert f"ending in {_digits(f'{plan.index:04d}')}" in text, where
        # Its reference number is its own: spoken in its transcript and in no other.
        assert record.reference not in references, where
        references.add(record.reference)
        spoken = _digits(record.reference)
        assert spoken in text, where
        assert [i for i, other in enumerate(transcripts) if spoken in other] == [plan.index], where
        # Its record holds exactly its own events, and its own masked caller.
        assert _events(record) == _events(want.record), where
        assert (record.line, record.state, record.outcome) == (
            want.record.line,
            want.record.state,
            want.record.outcome,
        ), where
        assert record.caller == mask_number(plan.caller), where
        assert record.status == "completed" and record.ended_at is not None, where
