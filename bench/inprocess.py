"""In-process figures: no server, no sockets. Simulated steps over WSGI, a crawl, the engine, the machine.

Each figure peels off one layer: the webhook app through werkzeug (WsgiTransport), the engine
called directly (with SQLite, Redis, or ivr's in-memory store), and the shared
`transitions` machine firing one trigger on a light Call model.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import timeit
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import CALLS, MAIN, OPEN_HOURS, CallScript
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from app import create_app
from ivr.commands.target import freeze_start_up, open_target
from ivr.engine.call import Call, CallContext, CallSession
from ivr.engine.config import EngineConfig
from ivr.engine.engine import CallParams, Engine
from ivr.engine.hours import clock_from
from ivr.engine.store import SessionStore
from ivr.qa.crawl import crawl
from ivr.sim import HttpReply, SimulatedCall, Transport, WsgiTransport
from ivr.stores.memory_store import MEMORY, MemoryStore
from ivr.stores.open import open_store

# -- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured number, with how it was measured."""

    name: str
    value: float
    unit: str
    how: str


def _place(transport: Transport, script: CallScript, validate: bool) -> int:
    call = SimulatedCall(transport, script.to, validate=validate).dial()
    for kind, value in script.inputs:
        if not call.waiting:
            break
        if kind == "press":
            call.press(value)
        elif kind == "say":
            call.say(value)
        else:
            call.silence()
    if call.outcome is None or call.outcome.kind != script.outcome:
        raise AssertionError(f"{script.name}: ended {call.outcome}, expected {script.outcome}")
    return len(call.transcript.steps)


def _qa_app(database: Path | str) -> Any:
    """Our app as `ivr test` and `ivr crawl` build it in-process (ivr.commands.target.open_target:
    trainer off, start-up frozen out of garbage collection), at a fixed open time."""
    target = open_target(None, database=str(database), extra_config={"NOW": OPEN_HOURS})
    freeze_start_up(again=True)  # as the command does with its one app
    return target.app


def wsgi_steps(database: Path | str, calls: int, validate: bool, repeat: int = 3) -> Figure:
    """Simulated calls through the app in-process (WsgiTransport): webhook requests per second.

    `database` ":memory:" is what `ivr test`, `ivr crawl` and the pytest plugin use in-process
    (MemoryStore); an SQLite file is the same run with a commit per step, for comparison.
    """
    app = _qa_app(database)
    transport = WsgiTransport(app)
    for script in CALLS:  # first requests: lazy imports, every TwiML variant rendered once
        _place(transport, script, validate)
    seconds, steps = float("inf"), 0
    for _ in range(repeat):  # best of `repeat`, as the other in-process figures
        started, steps = time.perf_counter(), 0
        for i in range(calls):
            steps += _place(transport, CALLS[i % len(CALLS)], validate)
        seconds = min(seconds, time.perf_counter() - started)
    app.extensions["ivr"].store.close()
    checked = "TwiML rules checked on every answer" if validate else "TwiML rule checks off"
    memory = str(database) == MEMORY
    store = "calls in memory, as `ivr test` keeps them" if memory else "SQLite file, a commit per step"
    kind = f"{'validate' if validate else 'lean'}, {'memory' if memory else 'SQLite'}"
    return Figure(
        f"in-process simulated steps/s ({kind})",
        steps / seconds,
        "steps/s",
        f"{calls} calls, {steps} webhook requests, {store}, {checked}, best of {repeat}",
    )


def crawl_main(database: Path | str = MEMORY, repeat: int = 3) -> tuple[Figure, str]:
    """`ivr crawl --line main` in-process with the default bounds: seconds for the whole crawl,
    the best of `repeat` crawls, each on an app of its own.

    By default on the store `ivr crawl` uses in-process: calls kept in memory.
    """
    best = None
    for _ in range(repeat):
        app = _qa_app(database)
        engine: Engine = app.extensions["ivr"]
        flow = engine.flows.get("main").machine.flow
        report = crawl(WsgiTransport(app), MAIN, flow=flow, line="main")
        engine.store.close()
        if best is None or report.seconds < best.seconds:
            best = report
    assert best is not None
    detail = (
        f"{best.calls} calls, {len(best.paths)} states, depth {best.options.depth}, "
        f"{len(best.problems)} problems, best of {repeat} (each on a new app)"
    )
    return Figure("full crawl of the main line", best.seconds, "s", detail), best.render()


def _engine_requests(engine: Engine, script: CallScript) -> int:
    """The webhooks of one call, straight into the engine; returns how many requests that was."""
    sid = "CA" + secrets.token_hex(16)
    reply = engine.start_call(CallParams(sid, to=script.to, caller="+15005550006"))
    count = 1
    for kind, value in script.inputs:
        params = CallParams(
            sid,
            to=script.to,
            digits=value.removesuffix("#") if kind == "press" else "",
            speech=value if kind == "say" else "",
        )
        reply = engine.handle_input(params, None)
        count += 1
    if reply.state in ("representative", "medicare_team", "specialty_team"):
        engine.hold(reply.lang)
        count += 1
    engine.call_status(CallParams(sid, call_status="completed", duration=30))
    return count + 1


def engine_cost(store: SessionStore, label: str, calls: int, repeat: int = 3) -> Figure:
    """Microseconds per webhook request for the engine alone: no Flask, no HTTP."""
    engine = Engine(EngineConfig(clock=clock_from(OPEN_HOURS)), store)
    for script in CALLS:  # every TwiML variant of these paths rendered once (then cached)
        _engine_requests(engine, script)
    best, requests = float("inf"), 0
    for _ in range(repeat):
        started, requests = time.perf_counter(), 0
        for i in range(calls):
            requests += _engine_requests(engine, CALLS[i % len(CALLS)])
        best = min(best, (time.perf_counter() - started) / requests)
    store.close()
    how = f"{calls} calls, {requests} requests (start, inputs, hold, status), best of {repeat}"
    return Figure(f"engine per request, {label}", best * 1e6, "µs", how)


def open_engine_store(database: Path | None = None, redis_url: str | None = None) -> SessionStore:
    config = EngineConfig(
        database=str(database) if database else None,
        redis_url=redis_url,
        redis_prefix=f"bench{secrets.token_hex(4)}:",
    )
    return open_store(config)


def machine_fire(number: int = 20_000, repeat: int = 5) -> list[Figure]:
    """FlowMachine.fire on a light Call model: microseconds per trigger (timeit, best of `repeat`)."""
    engine = Engine(EngineConfig(clock=clock_from(OPEN_HOURS)), MemoryStore())
    line = engine.flows.get("main")
    fm = line.machine
    session = CallSession("CA" + "0" * 32, "main", "main_menu")
    ctx = CallContext(fm.flow, engine.config.clock(), engine.store.members, engine.config.max_failures)
    call = Call(session, ctx)
    cases: list[tuple[str, str, str, str]] = [
        ("press_2: main_menu -> billing_menu, no callbacks", "main_menu", "press_2", "billing_menu"),
        ("press_1: a false condition, then the next transition", "main_menu", "press_1", "verify_id"),
        ("press_9: a self-loop with an after callback", "main_menu", "press_9", "main_menu"),
        ("invalid: can_retry condition and count_failure", "main_menu", "invalid", "main_menu"),
    ]
    out = []
    for name, source, trigger, dest in cases:
        session.state, session.failures = source, 0
        fm.fire(call, trigger)
        if session.state != dest:
            raise AssertionError(f"{name}: ended in {session.state}")

        def once(source: str = source, trigger: str = trigger) -> None:
            session.state = source
            session.failures = 0
            fm.fire(call, trigger)

        best = min(timeit.repeat(once, number=number, repeat=repeat)) / number
        out.append(
            Figure(f"state machine: {name}", best * 1e6, "µs", f"timeit, {number:,} fires, best of {repeat}")
        )
    return out


# -- the WSGI app alone: recorded requests replayed with no client in the loop -------------------


@dataclass(frozen=True)
class _Sent:
    method: str
    url: str
    fields: dict[str, str]
    headers: dict[str, str]


class _Recorder:
    """A transport that keeps every request it passes on."""

    def __init__(self, inner: WsgiTransport) -> None:
        self.inner = inner
        self.sent: list[_Sent] = []

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        self.sent.append(_Sent(method, url, dict(fields), dict(headers)))
        return self.inner.request(method, url, fields, headers)


def record_calls(database: Path) -> list[list[_Sent]]:
    """The webhook requests of each path in CALLS, as a simulated caller sends them to our app."""
    app = create_app({"DATABASE": str(database), "NOW": OPEN_HOURS})
    out = []
    for script in CALLS:
        recorder = _Recorder(WsgiTransport(app))
        _place(recorder, script, validate=True)
        out.append(recorder.sent)
    app.extensions["ivr"].store.close()
    return out


def _environs(recorded: list[list[_Sent]], calls: int, token: str | None) -> list[dict[str, Any]]:
    """Ready-made WSGI environs: each call under a new CallSid, signed again when `token` is set."""
    validator = RequestValidator(token) if token else None
    environs = []
    for i in range(calls):
        sid = "CA" + secrets.token_hex(16)
        for sent in recorded[i % len(recorded)]:
            fields = {**sent.fields, "CallSid": sid}
            headers = {k: v for k, v in sent.headers.items() if k != "X-Twilio-Signature"}
            if validator is not None:
                headers["X-Twilio-Signature"] = validator.compute_signature(sent.url, fields)
            target = sent.url.removeprefix("http://localhost")
            builder = EnvironBuilder(
                path=target,
                base_url="http://localhost",
                method=sent.method,
                data=fields,
                headers=Headers(headers),
            )
            environs.append(builder.get_environ())
    return environs


def wsgi_app_cost(
    app: Any, label: str, recorded: list[list[_Sent]], calls: int, token: str | None, repeat: int = 3
) -> Figure:
    """Microseconds per request for the WSGI app alone: environs built beforehand, no client."""
    statuses: Counter[str] = Counter()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses[status[:3]] += 1
        return lambda data: None

    for environ in _environs(recorded, len(recorded), token):  # warm-up: every variant rendered
        b"".join(app(environ, start_response))
    best = float("inf")
    count = 0
    for _ in range(repeat):
        environs = _environs(recorded, calls, token)
        count = len(environs)
        started = time.perf_counter()
        for environ in environs:
            b"".join(app(environ, start_response))
        best = min(best, (time.perf_counter() - started) / count)
    bad = {code: n for code, n in statuses.items() if code not in ("200", "204")}
    if bad:
        raise AssertionError(f"{label}: answers other than 200/204: {bad}")
    how = f"{calls} calls replayed, {count} requests, no client in the loop, best of {repeat}"
    return Figure(f"WSGI app alone per request, {label}", best * 1e6, "µs", how)


# -- where the time goes ---------------------------------------------------------------------


def profile_app(
    app: Any, recorded: list[list[_Sent]], token: str | None, calls: int = 1500, top: int = 25
) -> str:
    """Sample the app's side with py-spy (when on PATH) while it replays requests; else cProfile."""
    environs = _environs(recorded, calls, token)  # built before sampling starts

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return lambda data: None

    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return _cprofile(app, environs, start_response, top)
    out = Path(tempfile.mkdtemp(prefix="ivr-spy-")) / "profile.txt"
    rate = 997
    # --function: one row per function, whatever line was running; stopped by SIGINT when done.
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            str(rate),
            "--function",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # py-spy attaches
    started = time.perf_counter()
    for environ in environs:
        b"".join(app(environ, start_response))
    seconds = time.perf_counter() - started
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if not out.exists():
        why = err.decode(errors="replace").strip()[-300:]
        return f"py-spy could not sample this process ({why}); cProfile instead.\n\n" + _cprofile(
            app, environs[:400], start_response, top
        )
    return _py_spy_table(out, len(environs), seconds, rate, top)


def _py_spy_table(path: Path, requests: int, seconds: float, rate: int, top: int) -> str:
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        start = next((i for i, f in enumerate(frames) if f.startswith("Flask.__call__ ")), None)
        if start is None:
            continue  # py-spy attaching, the loop between requests: not the app
        n = int(count)
        total += n
        own[frames[-1]] += n
        layers[_layer(frames[-1])] += n
        for frame in set(frames[start:]):
            inside[frame] += n
    if not total:
        return "py-spy recorded no samples inside the app"
    lines = [
        f"py-spy ({rate} samples/s, {total} samples in the app) while the app, in this process on one "
        f"thread, answered {requests} recorded requests (SQLite, signatures on, as server (c)) in "
        f"{seconds:.1f} s: {seconds / requests * 1e6:.0f} µs per request with the sampler attached.",
        "",
        "Own time by layer (where the sampled thread was running):",
        "",
        "| layer | share |",
        "|---|---:|",
    ]
    for layer, n in layers.most_common():
        lines.append(f"| {layer} | {n / total:.0%} |")
    lines += [
        "",
        "Functions by time inside them (cumulative) and in their own code (own):",
        "",
        "| cumulative | own | function |",
        "|---:|---:|---|",
    ]
    for frame, n in inside.most_common(top):
        lines.append(f"| {n / total:.0%} | {own.get(frame, 0) / total:.0%} | `{_frame(frame)}` |")
    return "\n".join(lines)


def _frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({_short(where.rstrip(')'))})"


_LAYERS = (
    ("gunicorn/", "gunicorn"),
    ("flask/", "Flask"),
    ("werkzeug/", "werkzeug (request, form parsing)"),
    ("twilio/", "twilio (signature, TwiML)"),
    ("transitions/", "transitions (state machine)"),
    ("ivr/stores/sqlite_store", "ivr SQLite store (incl. sqlite3)"),
    ("ivr/stores/redis_store", "ivr Redis store"),
    ("redis/", "redis-py"),
    ("ivr/", "ivr engine"),
    ("webhooks/", "webhooks"),
    ("json/", "json"),
    ("dataclasses", "dataclasses (asdict)"),
    ("urllib/", "urllib (parse_qsl)"),
)


def _layer(frame: str) -> str:
    for marker, name in _LAYERS:
        if marker in frame:
            return name
    return "other (stdlib)"


def _cprofile(app: Any, environs: list[dict[str, Any]], start_response: Any, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for environ in environs:
        b"".join(app(environ, start_response))
    profiler.disable()
    requests = len(environs)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (path, line, func), (_, calls_n, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumtime, tottime, calls_n, f"{_short(path)}:{line}({func})"))
    lines = [
        f"cProfile (py-spy not installed), {requests} requests, {total / requests * 1e6:.0f} µs per "
        "request under the profiler, which inflates small calls",
        "",
        "| cumulative µs/request | own µs/request | calls/request | function |",
        "|---:|---:|---:|---|",
    ]
    for cum, own, n, name in sorted(rows, reverse=True)[:top]:
        lines.append(
            f"| {cum / requests * 1e6:.1f} | {own / requests * 1e6:.1f} | {n / requests:.1f} | `{name}` |"
        )
    return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ivr-bench-"))
