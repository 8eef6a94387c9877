"""The load generator: simulated callers driving a real server over loopback, every request timed.

Both load shapes place the same calls (CALLS: dial, a few keys, a silence, an outcome) with the
project's SimulatedCall over keep-alive connections (PooledHttpTransport), and time each webhook
request where it is sent:

- saturate(): K threads, each placing calls back to back with no pause: throughput.
- paced(): N calls in progress at once, each step about `interval` seconds after the last, as a
  caller listens before pressing; a scheduler hands due steps to a small pool of threads, so a
  thousand calls need no thousand threads. Latency under a realistic load.

The generator runs on the same cores as the server: its own CPU time is measured (getrusage)
next to the server's (/proc), so a reader can tell which side was busy.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import os
import queue
import random
import resource
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ivr.sim import HttpReply, SimulatedCall, Transport
from ivr.sim.transport import PooledHttpTransport

MAIN, SPECIALTY = "+18002372765", "+18006734828"
#: Every benchmarked app runs on this clock (IVR_NOW): a Monday, 10:00 Central, every line open,
#: so the paths below walk the same way whenever the benchmark runs.
OPEN_HOURS = "2026-11-23T10:00:00-06:00"


@dataclass(frozen=True)
class CallScript:
    """One realistic path: the number dialled, the caller's inputs, how our app ends the call."""

    name: str
    to: str
    inputs: tuple[tuple[str, str], ...]  # ("press", keys) | ("say", words) | ("silence", "")
    outcome: str  # Outcome.kind our app gives; the static floor never ends a call itself


CALLS: tuple[CallScript, ...] = (
    CallScript(
        "billing updates, goodbye",
        MAIN,
        (("press", "2"), ("press", "3"), ("silence", ""), ("silence", ""), ("silence", "")),
        "hangup",
    ),
    CallScript(
        "spanish billing, representative",
        MAIN,
        (("press", "9"), ("press", "2"), ("silence", ""), ("press", "0")),
        "enqueue",
    ),
    CallScript(
        "identity, track shipment, representative",
        MAIN,
        (
            ("press", "1"),
            ("press", "10203040#"),
            ("press", "03071956"),
            ("press", "2"),
            ("silence", ""),
            ("press", "0"),
        ),
        "enqueue",
    ),
    CallScript(
        "medicare coverage gap, team",
        MAIN,
        (("press", "3"), ("press", "1"), ("silence", ""), ("press", "0")),
        "enqueue",
    ),
    CallScript(
        "specialty prior authorization",
        SPECIALTY,
        (("press", "1"), ("silence", ""), ("press", "0")),
        "enqueue",
    ),
    CallScript(
        "speech billing, representative",
        MAIN,
        (("say", "billing"), ("silence", ""), ("say", "representative")),
        "enqueue",
    ),
)


class Samples:
    """Timed requests as flat numbers: no object per request, so the generator's garbage
    collector has nothing to walk and never pauses the threads while they time requests."""

    def __init__(self) -> None:
        self.data = array("d")  # (sent, ms, webhook id) for each request
        self.webhooks: list[str] = []
        self.errors: list[tuple[float, str]] = []  # (sent, what went wrong): rare
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, sent: float, webhook: str, ms: float, error: str | None) -> None:
        wid = self._ids.get(webhook)
        if wid is None:
            with self._lock:
                wid = self._ids.setdefault(webhook, len(self.webhooks))
                if wid == len(self.webhooks):
                    self.webhooks.append(webhook)
        self.data.extend((sent, ms, wid))  # one call under the GIL: the triple stays whole
        if error:
            self.errors.append((sent, error))

    def window(self, t0: float, t1: float) -> tuple[dict[str, array[float]], list[str]]:
        """Latencies by webhook, and errors, of the requests sent in [t0, t1)."""
        out: dict[str, array[float]] = {}
        data = self.data
        for i in range(0, len(data), 3):
            if t0 <= data[i] < t1:
                out.setdefault(self.webhooks[int(data[i + 2])], array("d")).append(data[i + 1])
        return out, [e for sent, e in self.errors if t0 <= sent < t1]


class TimedTransport:
    """Wraps a transport and records every request it sends in `sink`."""

    def __init__(self, inner: Transport, sink: Samples) -> None:
        self.inner = inner
        self.sink = sink
        self._paths: dict[str, str] = {}

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        webhook = self._paths.get(url)
        if webhook is None:
            webhook = self._paths.setdefault(url, urlsplit(url).path)
        started = time.perf_counter()
        try:
            reply = self.inner.request(method, url, fields, headers)
        except OSError as exc:
            self.sink.add(started, webhook, (time.perf_counter() - started) * 1000, repr(exc))
            raise
        ms = (time.perf_counter() - started) * 1000
        expected = 204 if webhook.endswith("/status") and reply.status == 204 else 200
        self.sink.add(
            started, webhook, ms, None if reply.status == expected else f"HTTP {reply.status} from {webhook}"
        )
        return reply


@dataclass
class Cpu:
    """CPU seconds used so far by this process, by the server's processes, and by the machine."""

    generator: float
    server: float
    machine: float

    @staticmethod
    def now(server_pids: Callable[[], Iterable[int]]) -> Cpu:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        server = sum(_proc_cpu(pid) for pid in server_pids())
        return Cpu(usage.ru_utime + usage.ru_stime, server, _machine_busy())


def _machine_busy() -> float:
    """Busy CPU seconds of all cores since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as handle:
        ticks = [int(v) for v in handle.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _other(before: Cpu, after: Cpu) -> float:
    ours = (after.generator - before.generator) + (after.server - before.server)
    return max(0.0, (after.machine - before.machine) - ours)


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # the process ended (a recycled worker): its time is lost
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LoadResult:
    """What one load run measured inside its window (warm-up and ramp-up left out)."""

    shape: str
    window: float
    latencies: dict[str, array[float]]  # ms, by webhook path
    request_errors: list[str]
    calls_done: int
    wrong_outcomes: list[str]
    cpu_generator: float
    cpu_server: float
    cpu_other: float  # every other process on the machine (other users' work)
    lag_ms: array[float] = field(default_factory=lambda: array("d"))  # paced: how late steps went out
    detail: str = ""

    @property
    def errors(self) -> list[str]:
        return self.request_errors + self.wrong_outcomes

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def steps_per_second(self) -> float:
        return self.requests / self.window

    def by_webhook(self) -> dict[str, list[float]]:
        out = {webhook: list(values) for webhook, values in self.latencies.items()}
        out["all"] = [ms for values in self.latencies.values() for ms in values]
        return out


def _fresh_heap() -> None:
    """Collect, then freeze what survives (earlier runs' results): later collections skip it."""
    gc.collect()
    gc.freeze()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# -- one call ------------------------------------------------------------------------------


def _caller_number() -> str:
    """A calling number of the call's own, as a crowd of callers has (the app limits identity
    failures per calling number)."""
    return f"+1555{random.randrange(10**7):07d}"


class _Caller:
    """A call in progress, advanced one caller action at a time."""

    def __init__(
        self, script: CallScript, transport: Transport, base_url: str, token: str | None, static: bool
    ) -> None:
        self.script = script
        self.static = static
        # validate=False: the generator parses the TwiML it needs but skips the rule checks
        # (tests do those); they would cost the generator more than the request.
        self.call = SimulatedCall(
            transport, script.to, base_url=base_url, auth_token=token, validate=False, caller=_caller_number()
        )
        self.next_input = 0

    def act(self) -> bool:
        """Dial, or give the next input; True when the call is over (status callback sent)."""
        call = self.call
        if not call.transcript.steps:
            call.dial()
        elif self.next_input < len(self.script.inputs) and call.waiting:
            kind, value = self.script.inputs[self.next_input]
            self.next_input += 1
            if kind == "press":
                call.press(value)
            elif kind == "say":
                call.say(value)
            else:
                call.silence()
        else:
            call.hangup()  # only the static floor gets here: it never ends a call itself
        return call.ended

    def wrong_outcome(self) -> str | None:
        outcome = self.call.outcome
        expected = "caller-hangup" if self.static else self.script.outcome
        if outcome is None or outcome.kind != expected:
            return f"{self.script.name}: ended {outcome}, expected {expected}"
        return None


def _run_window(
    work: Callable[[int], None],
    threads: int,
    measure_from: float,
    stop: float,
    server_pids: Callable[[], Iterable[int]],
) -> tuple[Cpu, float, Cpu, float]:
    """Run `work(i)` on `threads` threads; the CPU and time at the window's start and end."""
    pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu0, t0 = Cpu.now(server_pids), time.perf_counter()
    time.sleep(max(0.0, stop - time.perf_counter()))
    cpu1, t1 = Cpu.now(server_pids), time.perf_counter()
    for thread in pool:
        thread.join(60)
    return cpu0, t0, cpu1, t1


# -- saturation ------------------------------------------------------------------------------


def saturate(
    base_url: str,
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    token: str | None,
    static: bool,
    server_pids: Callable[[], Iterable[int]],
) -> LoadResult:
    """`concurrency` threads placing calls back to back; measured over `seconds` after `warmup`."""
    _fresh_heap()
    sink = Samples()
    finished: list[tuple[float, str | None]] = []
    http = PooledHttpTransport(timeout=30)
    transport = TimedTransport(http, sink)
    start = time.perf_counter()
    stop = start + warmup + seconds

    def work(index: int) -> None:
        scripts = itertools.cycle(CALLS[index % len(CALLS) :] + CALLS[: index % len(CALLS)])
        try:
            while time.perf_counter() < stop:
                caller = _Caller(next(scripts), transport, base_url, token, static)
                while not caller.act():
                    pass
                finished.append((time.perf_counter(), caller.wrong_outcome()))
        finally:
            http.close()

    cpu0, t0, cpu1, t1 = _run_window(work, concurrency, start + warmup, stop, server_pids)
    latencies, errors = sink.window(t0, t1)
    done = [(at, wrong) for at, wrong in finished if t0 <= at < t1]
    return LoadResult(
        "saturation",
        t1 - t0,
        latencies,
        errors,
        len(done),
        [w for _, w in done if w],
        cpu1.generator - cpu0.generator,
        cpu1.server - cpu0.server,
        _other(cpu0, cpu1),
        detail=f"{concurrency} concurrent calls, no pauses, {seconds:.0f} s after {warmup:.0f} s warm-up",
    )


def new_calls(
    base_url: str,
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    token: str | None,
    server_pids: Callable[[], Iterable[int]],
) -> LoadResult:
    """`concurrency` threads sending only new-call webhooks (`POST /voice`, a fresh CallSid each,
    signed, the fields Twilio sends when a call comes in): the first request of every call, the
    one that creates its session and record. Measured over `seconds` after `warmup`."""
    _fresh_heap()
    sink = Samples()
    http = PooledHttpTransport(timeout=30)
    transport = TimedTransport(http, sink)
    start = time.perf_counter()
    stop = start + warmup + seconds

    def work(index: int) -> None:
        try:
            while time.perf_counter() < stop:
                to = CALLS[index % len(CALLS)].to
                SimulatedCall(
                    transport,
                    to,
                    base_url=base_url,
                    auth_token=token,
                    validate=False,
                    caller=_caller_number(),
                ).dial()
        finally:
            http.close()

    cpu0, t0, cpu1, t1 = _run_window(work, concurrency, start + warmup, stop, server_pids)
    latencies, errors = sink.window(t0, t1)
    return LoadResult(
        "new calls",
        t1 - t0,
        latencies,
        errors,
        sum(len(v) for v in latencies.values()),
        [],
        cpu1.generator - cpu0.generator,
        cpu1.server - cpu0.server,
        _other(cpu0, cpu1),
        detail=f"{concurrency} threads of new-call webhooks, {seconds:.0f} s after {warmup:.0f} s warm-up",
    )


# -- paced -------------------------------------------------------------------------------------


def paced(
    base_url: str,
    *,
    calls: int,
    ramp: float,
    seconds: float,
    interval: float,
    threads: int,
    token: str | None,
    static: bool,
    server_pids: Callable[[], Iterable[int]],
    seed: int = 7,
) -> LoadResult:
    """`calls` calls in progress at once, started evenly over `ramp` seconds, for `seconds` more.

    Each call acts about every `interval` seconds (drawn from 0.8 to 1.2 of it, so the calls do
    not march in step); an ended call is replaced by a new one on the same slot one interval
    later, so the number in progress stays at `calls`. Latency counts from the request's send,
    and how late each step was sent against its schedule is kept apart (`lag_ms`).
    """
    _fresh_heap()
    rng = random.Random(seed)
    sink = Samples()
    finished: list[tuple[float, str | None]] = []
    lags = array("d")  # (when due, ms late) for each step
    http = PooledHttpTransport(timeout=30)
    transport = TimedTransport(http, sink)
    start = time.perf_counter()
    measure_from, stop = start + ramp, start + ramp + seconds
    due: list[tuple[float, int, int]] = []  # (when, tie-break, slot)
    callers: list[_Caller | None] = [None] * calls
    ready: queue.Queue[tuple[float, int] | None] = queue.Queue()
    lock = threading.Condition()
    counter = itertools.count()
    scripts = [CALLS[i % len(CALLS)] for i in range(calls)]
    for slot in range(calls):
        heapq.heappush(due, (start + ramp * slot / calls, next(counter), slot))

    def schedule(slot: int, when: float) -> None:
        with lock:
            heapq.heappush(due, (when, next(counter), slot))
            lock.notify()

    def dispatch() -> None:
        with lock:
            while True:
                now = time.perf_counter()
                if now >= stop:
                    break
                if due and due[0][0] <= now:
                    when, _, slot = heapq.heappop(due)
                    ready.put((when, slot))
                    continue
                lock.wait(min(due[0][0] if due else stop, stop) - now)
        for _ in range(threads):
            ready.put(None)

    def work() -> None:
        try:
            while (job := ready.get()) is not None:
                when, slot = job
                lags.extend((when, (time.perf_counter() - when) * 1000))
                caller = callers[slot]
                if caller is None:
                    caller = callers[slot] = _Caller(scripts[slot], transport, base_url, token, static)
                    scripts[slot] = CALLS[(CALLS.index(scripts[slot]) + 1) % len(CALLS)]
                if caller.act():
                    finished.append((time.perf_counter(), caller.wrong_outcome()))
                    callers[slot] = None
                with lock:
                    pause = interval * (0.8 + 0.4 * rng.random())
                schedule(slot, when + pause)
        finally:
            http.close()

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    dispatcher = threading.Thread(target=dispatch, daemon=True)
    dispatcher.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu0, t0 = Cpu.now(server_pids), time.perf_counter()
    time.sleep(max(0.0, stop - time.perf_counter()))
    cpu1, t1 = Cpu.now(server_pids), time.perf_counter()
    dispatcher.join(30)
    for thread in pool:
        thread.join(60)
    latencies, errors = sink.window(t0, t1)
    done = [(at, wrong) for at, wrong in finished if t0 <= at < t1]
    in_window_lag = array("d", (lags[i + 1] for i in range(0, len(lags), 2) if t0 <= lags[i] < t1))
    return LoadResult(
        "paced",
        t1 - t0,
        latencies,
        errors,
        len(done),
        [w for _, w in done if w],
        cpu1.generator - cpu0.generator,
        cpu1.server - cpu0.server,
        _other(cpu0, cpu1),
        in_window_lag,
        detail=(
            f"{calls} calls in progress, a step every {interval:.0f} s (0.8-1.2x), ramp-up "
            f"{ramp:.0f} s, measured {seconds:.0f} s after it; {threads} sender threads"
        ),
    )
