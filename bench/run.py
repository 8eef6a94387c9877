"""One benchmark run on this machine, one markdown report: throughput, latency and per-layer costs.

    .venv/bin/python bench/run.py --out bench/results.md          # about 9 minutes
    .venv/bin/python bench/run.py --quick --out /tmp/results.md   # about 3 minutes, to try things

In one run, with the same gunicorn settings (gunicorn.conf.py) and the same load generator
(bench/loadgen.py) for every server:

    (a) the floor: a static TwiML Flask app (bench/static_app.py)
    (m) the least work the issue asks of any webhook: form parsed, signature checked, one SQLite
        write committed, static TwiML (bench/minimal_app.py): what no compliant app can beat
    (b) our app on SQLite (the default)
    (c) our app on SQLite with Twilio signature validation on
    (d) our app on Redis (a scratch redis-server started for the run)

each under two load shapes: saturation (K calls back to back, rounds interleaved a-m-b-c-d so a
change in the machine's other work hits every server alike) and paced (1,000 calls in progress,
a step every 5 s; not (m)). Every server gets the same requests, signed as Twilio signs them;
only (c) and (m) check the signatures. First, with no server: (e) simulated steps per second
in-process and a full crawl of the main line, (f) the state machine alone and the engine without
HTTP, and a profile of the app's side of a request: sampled by py-spy when it is on PATH
(`pip install py-spy`), else cProfile. Everything listens on 127.0.0.1 and every loop is
bounded. Run it on a quiet machine: the report shows how busy the machine was with other work
while it measured.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import footprint  # noqa: E402 - after the path set-up above
import inprocess  # noqa: E402
import loadgen  # noqa: E402
import minimal_app  # noqa: E402
import scaleout  # noqa: E402
import serverchoice  # noqa: E402
import servers  # noqa: E402
import static_app  # noqa: E402

from app import create_app  # noqa: E402
from ivr.qa.scenarios import load_paths  # noqa: E402
from ivr.stores.memory_store import MEMORY, MemoryStore  # noqa: E402

TOKEN = "bench-made-up-auth-token"  # not a real Twilio token: every request is signed with it
#: What every run of our app gets: an open-hours clock, a member hash key of its own (an app that
#: checks signatures refuses to start without one) and no trainer page (it would want a password).
OUR_ENV = {
    "IVR_NOW": loadgen.OPEN_HOURS,
    "IVR_SECRET_KEY": "bench-made-up-member-key-" + "0" * 40,
    "IVR_TRAINER": "0",
}
OUR_CONFIG = {k.removeprefix("IVR_"): v for k, v in OUR_ENV.items()}
# The targets of the performance issue (#14), each a ratio measured in one run.
TARGET_CPU_VS_LEAST = 1.15  # (c) server CPU per step / (m)'s, over HTTP: at most
TARGET_NEW_CALLS = 0.85  # new-call webhooks/s, (c) / (m), one sync worker each: at least
TARGET_REDIS_ENGINE = 2.0  # engine per request, Redis / SQLite, in-process: at most
TARGET_REDIS_HTTP = 0.9  # saturation steps/s, (d) / (c): at least
TARGET_INPROCESS = 5000.0  # simulated steps/s in-process on one core: at least
TARGET_CRAWL_S = 0.3  # full crawl of the main line: at most
TARGET_FIRE_US = 50.0
TARGET_P99_MS = 50.0
PACKAGES = ("flask", "werkzeug", "gunicorn", "transitions", "twilio", "redis", "hypothesis")


@dataclass
class Backend:
    """One server of the comparison."""

    key: str
    label: str
    app_spec: str
    env: dict[str, str]
    static: bool = False  # answers the same Gather whatever is sent: the caller hangs up
    pace: bool = True  # also run the paced load
    pythonpath: Path | None = None
    extra_pids: tuple[int, ...] = ()
    server: servers.Server | None = None
    rounds: list[loadgen.LoadResult] = field(default_factory=list)
    paced: loadgen.LoadResult | None = None


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results.md", help="markdown report to write")
    parser.add_argument("--concurrency", type=int, default=16, help="saturation: calls at once (K)")
    parser.add_argument("--rounds", type=int, default=3, help="saturation rounds per server")
    parser.add_argument("--seconds", type=float, default=10, help="saturation: measured seconds per round")
    parser.add_argument("--warmup", type=float, default=2, help="saturation: seconds before measuring")
    parser.add_argument("--paced-calls", type=int, default=1000, help="paced: calls in progress")
    parser.add_argument("--ramp", type=float, default=20, help="paced: ramp-up seconds")
    parser.add_argument("--paced-seconds", type=float, default=60, help="paced: measured seconds")
    parser.add_argument("--interval", type=float, default=5, help="paced: seconds between a call's steps")
    parser.add_argument("--senders", type=int, default=64, help="paced: generator threads")
    parser.add_argument("--quick", action="store_true", help="1 round of 5 s, paced 20 s: a try-out")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, databases)")
    parser.add_argument("--scale-users", type=int, default=3000, help="scale-out: Locust callers at once")
    parser.add_argument("--scale-seconds", type=float, default=60, help="scale-out: measured seconds")
    parser.add_argument("--footprint-calls", type=int, default=10_000, help="calls for storage per call")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["servers", "scaleout", "footprint", "jobs"],
        help="parts to leave out",
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.rounds, options.seconds, options.paced_seconds, options.ramp = 1, 5, 20, 10
        options.scale_users, options.scale_seconds, options.footprint_calls = 300, 20, 1000
    return options


# -- the machine -------------------------------------------------------------------------------


def _first(path: str, key: str) -> str:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return "?"


def machine_rows() -> list[tuple[str, str]]:
    ram_kib = int(_first("/proc/meminfo", "MemTotal").split()[0])
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    redis_exe = shutil.which("redis-server")
    redis_version = "not installed"
    if redis_exe:
        redis_version = subprocess.run(
            [redis_exe, "--version"], capture_output=True, text=True
        ).stdout.split()[2]
    return [
        ("nproc (usable cores)", str(len(os.sched_getaffinity(0)))),
        ("CPU model (/proc/cpuinfo)", _first("/proc/cpuinfo", "model name")),
        ("RAM", f"{ram_kib / 1024 / 1024:.1f} GiB"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("packages", versions),
        ("redis-server", redis_version.replace("v=", "")),
        ("load average at start (1/5/15 min)", " / ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("code measured", _code_fingerprint()),
    ]


def _code_fingerprint() -> str:
    """A hash of the app's sources (no git here: several people edit the tree at once)."""
    files = sorted(
        [
            ROOT / "app.py",
            ROOT / "gunicorn.conf.py",
            *(ROOT / "ivr").rglob("*.py"),
            *(ROOT / "ivr" / "flows").glob("*.yaml"),
            *(ROOT / "webhooks").glob("*.py"),
        ]
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    newest = max(path.stat().st_mtime for path in files)
    return (
        f"sha256 {digest.hexdigest()[:12]} over app.py, gunicorn.conf.py, ivr/, webhooks/ "
        f"({len(files)} files, newest changed {datetime.fromtimestamp(newest, UTC):%Y-%m-%d %H:%M} UTC)"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# -- the runs ----------------------------------------------------------------------------------


def backends(workdir: Path, redis_url: str | None, redis_pid: int | None) -> list[Backend]:
    out = [
        Backend("a", "static TwiML floor", "static_app:create_app()", {}, static=True, pythonpath=BENCH),
        Backend(
            "m",
            "least work: form, signature, one SQLite write",
            "minimal_app:create_app()",
            {"MINIMAL_DATABASE": str(workdir / "m.sqlite3"), "TWILIO_AUTH_TOKEN": TOKEN},
            static=True,
            pace=False,
            pythonpath=BENCH,
        ),
        Backend(
            "b",
            "our app, SQLite",
            "app:create_app()",
            {"IVR_DATABASE": str(workdir / "b.sqlite3"), **OUR_ENV},
        ),
        Backend(
            "c",
            "our app, SQLite + signatures",
            "app:create_app()",
            {
                "IVR_DATABASE": str(workdir / "c.sqlite3"),
                "TWILIO_AUTH_TOKEN": TOKEN,
                **OUR_ENV,
            },
        ),
    ]
    if redis_url and redis_pid:
        out.append(
            Backend(
                "d",
                "our app, Redis",
                "app:create_app()",
                {
                    "IVR_REDIS_URL": redis_url,
                    "IVR_DATABASE": str(workdir / "d-unused.sqlite3"),
                    **OUR_ENV,
                },
                extra_pids=(redis_pid,),
            )
        )
    return out


def saturation(items: list[Backend], options: argparse.Namespace) -> None:
    for r in range(options.rounds):
        order = items[r % len(items) :] + items[: r % len(items)]  # a different server first each round
        for b in order:
            assert b.server is not None
            _say(f"saturation round {r + 1}/{options.rounds}: ({b.key}) {b.label}")
            result = loadgen.saturate(
                b.server.url,
                concurrency=options.concurrency,
                warmup=options.warmup,
                seconds=options.seconds,
                token=TOKEN,
                static=b.static,
                server_pids=b.server.pids,
            )
            b.rounds.append(result)
            _say(f"  {result.steps_per_second:.0f} steps/s, {len(result.errors)} errors")


def paced(items: list[Backend], options: argparse.Namespace) -> None:
    for b in items:
        if not b.pace:
            continue
        assert b.server is not None
        _say(
            f"paced: ({b.key}) {b.label}, {options.paced_calls} calls, {options.ramp:.0f} s ramp-up + "
            f"{options.paced_seconds:.0f} s"
        )
        b.paced = loadgen.paced(
            b.server.url,
            calls=options.paced_calls,
            ramp=options.ramp,
            seconds=options.paced_seconds,
            interval=options.interval,
            threads=options.senders,
            token=TOKEN,
            static=b.static,
            server_pids=b.server.pids,
        )
        p99 = loadgen.percentile(b.paced.by_webhook()["all"], 99)
        _say(f"  p99 {p99:.1f} ms, {len(b.paced.errors)} errors")


@dataclass
class Extras:
    """The parts of a run beyond the five servers: what the performance issue's rows need."""

    new_calls: dict[str, list[loadgen.LoadResult]] = field(default_factory=dict)  # "m", "c"
    servers: list[serverchoice.Cell] = field(default_factory=list)
    scale: list[scaleout.ScaleRun] = field(default_factory=list)
    footprint: list[footprint.Footprint] = field(default_factory=list)
    jobs: tuple[float, float, int, int] | None = None  # `ivr test` serial s, cores s, jobs, scenarios


def new_call_rounds(workdir: Path, options: argparse.Namespace) -> dict[str, list[loadgen.LoadResult]]:
    """(m) and (c), each under one sync gunicorn worker, answering only new-call webhooks."""
    one = {"WEB_CONCURRENCY": "1", "IVR_WORKER_CLASS": "sync"}
    specs = {
        "m": (
            "minimal_app:create_app()",
            {"MINIMAL_DATABASE": str(workdir / "new-m.sqlite3"), "TWILIO_AUTH_TOKEN": TOKEN},
            BENCH,
        ),
        "c": (
            "app:create_app()",
            {"IVR_DATABASE": str(workdir / "new-c.sqlite3"), "TWILIO_AUTH_TOKEN": TOKEN, **OUR_ENV},
            None,
        ),
    }
    out: dict[str, list[loadgen.LoadResult]] = {k: [] for k in specs}
    with ExitStack() as stack:
        running = {}
        for key, (spec, env, path) in specs.items():
            if "IVR_DATABASE" in env:
                inprocess.open_engine_store(Path(env["IVR_DATABASE"])).close()
            log = workdir / f"gunicorn-new-{key}.log"
            running[key] = stack.enter_context(servers.gunicorn(spec, {**env, **one}, log, pythonpath=path))
        for r in range(options.rounds):
            for key in list(specs) if r % 2 == 0 else list(reversed(specs)):
                _say(f"new calls round {r + 1}/{options.rounds}: ({key}), one sync worker")
                result = loadgen.new_calls(
                    running[key].url,
                    concurrency=4,
                    warmup=options.warmup,
                    seconds=options.seconds,
                    token=TOKEN,
                    server_pids=running[key].pids,
                )
                out[key].append(result)
                _say(f"  {result.steps_per_second:.0f} new calls/s, {len(result.errors)} errors")
    return out


def jobs_suite(workdir: Path, copies: int = 10) -> tuple[Path, int]:
    """A QA-sized suite: scenarios/ and the crawl's scenarios of every line, `copies` times over.

    Each copy of a file calls from a number of its own (a `from:` added where the file has
    none), as a suite written by many testers would: one shared number would have the app lock
    it out after five wrong member IDs, whatever the jobs. Returns the folder and its scenarios.
    """
    exe = Path(sys.executable).with_name("ivr")
    base = workdir / "jobs-base"
    shutil.copytree(ROOT / "scenarios", base / "ours")
    for line in ("main", "specialty", "tty"):
        subprocess.run(
            [str(exe), "crawl", "--line", line, "--write-scenarios", str(base / f"crawl-{line}")],
            cwd=ROOT,
            env=servers.clean_env({}),
            capture_output=True,
            check=True,
        )
    files = sorted(base.rglob("*.yaml"))
    suite = workdir / "jobs-suite"
    number = 0
    for copy in range(copies):
        for path in files:
            number += 1
            text = path.read_text(encoding="utf-8")
            if not any(line.startswith("from:") for line in text.splitlines()):
                text = f'from: "+1555{number:07d}"\n' + text
            target = suite / f"copy{copy:02d}" / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    scenarios = sum(len(s.scenarios) for s in load_paths([suite]))
    return suite, scenarios


def ivr_test_jobs(workdir: Path) -> tuple[float, float, int, int] | None:
    """Wall seconds of `ivr test` on a QA-sized suite serially and across every core (None
    without --jobs), and the suite's size."""
    exe = Path(sys.executable).with_name("ivr")
    jobs = len(os.sched_getaffinity(0))
    suite, scenarios = jobs_suite(workdir)
    env = servers.clean_env({})
    times = []
    for n in (1, jobs):
        started = time.perf_counter()
        done = subprocess.run(
            [str(exe), "test", str(suite), "--jobs", str(n)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode == 2 and "--jobs" in done.stderr:
            return None  # this checkout's `ivr test` has no --jobs
        if done.returncode != 0:
            raise AssertionError(f"ivr test --jobs {n} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        times.append(time.perf_counter() - started)
    return times[0], times[1], jobs, scenarios


def extras(workdir: Path, options: argparse.Namespace) -> Extras:
    out = Extras()
    out.new_calls = new_call_rounds(workdir, options)
    if "servers" not in options.skip:
        _say("server comparison: gunicorn worker classes and granian")
        names = [
            n
            for n in serverchoice.SERVERS
            if n != "granian" or shutil.which("granian", path=str(Path(sys.executable).parent))
        ]
        out.servers = serverchoice.measure(
            workdir / "servers",
            names,
            rounds=1 if options.quick else 2,
            seconds=options.seconds / 2,
            warmup=options.warmup,
            concurrency=options.concurrency,
        )
    if "footprint" not in options.skip:
        _say(f"storage per call: {options.footprint_calls:,} calls on SQLite and on Redis")
        (workdir / "footprint").mkdir(exist_ok=True)
        out.footprint = [
            footprint.sqlite(workdir / "footprint", options.footprint_calls),
            footprint.redis(workdir / "footprint", options.footprint_calls),
        ]
    if "jobs" not in options.skip:
        _say("ivr test scenarios/: one process, then every core")
        out.jobs = ivr_test_jobs(workdir)
    if "scaleout" not in options.skip:
        for n in (2, 1):
            _say(
                f"scale-out: {options.scale_users:,} Locust callers (distributed), "
                f"{n} instance(s) on one Redis"
            )
            out.scale.append(
                scaleout.run(
                    workdir / f"scale-{n}",
                    instances=n,
                    users=options.scale_users,
                    rate=max(10.0, options.scale_users / 60),
                    seconds=options.scale_seconds,
                )
            )
    return out


@dataclass
class InProcess:
    """The figures measured with no server: (e), (f), the WSGI apps alone, and a profile."""

    fires: list[inprocess.Figure]
    engine: list[inprocess.Figure]
    apps: list[inprocess.Figure]
    wsgi: list[inprocess.Figure]
    crawl: inprocess.Figure
    profile: str


@contextmanager
def _other_core_busy() -> Iterator[None]:
    """A process spinning on a core of its own for as long as the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        yield
    finally:
        spinner.kill()
        spinner.wait()


@contextmanager
def _one_core(pid: int) -> Iterator[None]:
    """This process and process `pid` (redis-server) on one core for as long as the block runs."""
    ours, theirs = os.sched_getaffinity(0), os.sched_getaffinity(pid)
    core = {min(ours)}
    os.sched_setaffinity(0, core)
    os.sched_setaffinity(pid, core)
    try:
        yield
    finally:
        os.sched_setaffinity(pid, theirs)
        os.sched_setaffinity(0, ours)


def _ping_us(redis_url: str, count: int = 3000) -> float:
    """Microseconds per PING round trip to Redis, the best of three runs."""
    import redis  # only needed for this part of the run

    client = redis.Redis.from_url(redis_url)
    client.ping()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(count):
            client.ping()
        best = min(best, (time.perf_counter() - started) / count)
    client.close()
    return best * 1e6


def _ping_figure(where: str, redis_url: str) -> inprocess.Figure:
    return inprocess.Figure(f"Redis PING round trip, {where}", _ping_us(redis_url), "µs", "best of 3")


def in_process(
    workdir: Path, redis_url: str | None, options: argparse.Namespace, redis_pid: int | None = None
) -> InProcess:
    calls = 60 if options.quick else 300
    _say("in-process: state machine")
    fires = inprocess.machine_fire()
    _say("in-process: engine without HTTP")
    stores = [
        (MemoryStore(), "no I/O (ivr.memory_store)"),
        (inprocess.open_engine_store(workdir / "engine.sqlite3"), "SQLite"),
    ]
    if redis_url:
        stores.append((inprocess.open_engine_store(redis_url=redis_url), "Redis"))
    engine = [inprocess.engine_cost(store, label, calls) for store, label in stores]
    if redis_url:
        # Again with the other core kept busy (a spinning process), as on a loaded host. On
        # this VM a round trip between two processes costs what waking the other's vCPU costs,
        # which depends on what else runs: one run measured Redis at 149 µs idle and 273 busy,
        # a quick one 293 idle, a loaded one 158. Both are reported, each against SQLite in the
        # same conditions.
        with _other_core_busy():
            engine += [
                inprocess.engine_cost(store, f"{label}, other core busy", calls)
                for store, label in (
                    (inprocess.open_engine_store(workdir / "engine-busy.sqlite3"), "SQLite"),
                    (inprocess.open_engine_store(redis_url=redis_url), "Redis"),
                )
            ]
        if redis_pid:
            # And with redis-server on this process's core: a round trip then wakes no other
            # vCPU. A diagnosis of the idle figure, not a way to deploy (the same PINGs, across
            # cores and on one, are in the report).
            pings = [_ping_figure("across cores", redis_url)]
            with _one_core(redis_pid):
                pings.append(_ping_figure("one core", redis_url))
                engine += [
                    inprocess.engine_cost(store, f"{label}, Redis on the engine's core", calls)
                    for store, label in (
                        (inprocess.open_engine_store(workdir / "engine-one.sqlite3"), "SQLite"),
                        (inprocess.open_engine_store(redis_url=redis_url), "Redis"),
                    )
                ]
            engine += pings
    _say("in-process: the WSGI apps alone, replaying recorded requests")
    recorded = inprocess.record_calls(workdir / "record.sqlite3")
    signed = create_app(
        {"DATABASE": str(workdir / "wsgi-c.sqlite3"), "TWILIO_AUTH_TOKEN": TOKEN, **OUR_CONFIG}
    )
    ours = [
        ("(b) SQLite", create_app({"DATABASE": str(workdir / "wsgi-b.sqlite3"), **OUR_CONFIG})),
        ("(c) SQLite + signatures", signed),
    ]
    if redis_url:
        redis_app = create_app({"REDIS_URL": redis_url, "REDIS_PREFIX": "wsgi-d:", **OUR_CONFIG})
        ours.append(("(d) Redis", redis_app))
    apps: list[tuple[str, Any]] = [  # in the order of backends(): the report's columns
        ("(a) static floor", static_app.create_app()),
        ("(m) least work", minimal_app.create_app(str(workdir / "wsgi-m.sqlite3"), TOKEN)),
        *ours,
    ]
    # Every app gets the same signed requests, as over HTTP.
    costs = [inprocess.wsgi_app_cost(app, label, recorded, calls, TOKEN) for label, app in apps]
    _say("in-process: simulated steps over WSGI")
    wsgi = [
        inprocess.wsgi_steps(MEMORY, calls, validate=True),
        inprocess.wsgi_steps(MEMORY, calls, validate=False),
        inprocess.wsgi_steps(workdir / "wsgi1.sqlite3", calls, validate=True),
    ]
    _say("in-process: crawl of the main line")
    crawl_figure, _ = inprocess.crawl_main()
    _say("in-process: profile of the app's side, (c)")
    profile = inprocess.profile_app(signed, recorded, TOKEN)
    for _, app in ours:
        app.extensions["ivr"].store.close()
    return InProcess(fires, engine, costs, wsgi, crawl_figure, profile)


# -- the report --------------------------------------------------------------------------------


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _merged(results: list[loadgen.LoadResult]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for result in results:
        for webhook, values in result.by_webhook().items():
            out.setdefault(webhook, []).extend(values)
    return out


def _rate(b: Backend) -> float:
    return statistics.median(r.steps_per_second for r in b.rounds)


def _cores(results: list[loadgen.LoadResult]) -> str:
    seconds = sum(r.window for r in results)
    server, gen, other = (sum(pick(r) for r in results) / seconds for pick in _CPU)
    return f"{server:.2f} / {gen:.2f} / {other:.2f}"


def _noise(items: list[Backend]) -> str:
    runs = [r for b in items for r in [*b.rounds, *filter(None, [b.paced])]]
    shares = [r.cpu_other / r.window for r in runs]
    average = sum(r.cpu_other for r in runs) / sum(r.window for r in runs)
    warning = (
        " (**a busy machine: figures are lower and noisier than on a quiet one**)" if average > 0.25 else ""
    )
    return f"{average:.2f} cores on average, {max(shares):.2f} in the busiest window{warning}"


def _us_per_step(results: list[loadgen.LoadResult], pick: Callable[[loadgen.LoadResult], float]) -> float:
    return sum(pick(r) for r in results) / max(1, sum(r.requests for r in results)) * 1e6


_CPU: tuple[Callable[[loadgen.LoadResult], float], ...] = (
    lambda r: r.cpu_server,
    lambda r: r.cpu_generator,
    lambda r: r.cpu_other,
)


def _figure(figures: list[inprocess.Figure], ends: str) -> inprocess.Figure | None:
    return next((f for f in figures if f.name.endswith(ends)), None)


def target_rows(by_key: dict[str, Backend], figures: InProcess, extra: Extras) -> list[str]:
    """One row per target of the performance issue, each a ratio within this run."""
    rows = []
    c_cpu, m_cpu = (_us_per_step(by_key[k].rounds, _CPU[0]) for k in ("c", "m"))
    rows.append(
        _row(
            f"our app (c) / least durable work (m), server CPU per step over HTTP ≤ {TARGET_CPU_VS_LEAST}×",
            f"{c_cpu / m_cpu:.2f}× ({c_cpu:.0f} vs {m_cpu:.0f} µs)",
            _verdict(c_cpu / m_cpu <= TARGET_CPU_VS_LEAST),
        )
    )
    if extra.new_calls:
        c_new, m_new = (statistics.median(r.steps_per_second for r in extra.new_calls[k]) for k in ("c", "m"))
        rows.append(
            _row(
                f"new-call webhooks/s, (c) / (m), one sync gunicorn worker each ≥ {TARGET_NEW_CALLS}",
                f"{c_new / m_new:.2f} ({c_new:.0f} vs {m_new:.0f} calls/s)",
                _verdict(c_new / m_new >= TARGET_NEW_CALLS),
            )
        )
    machines = (
        ("idle machine", ""),
        ("the other core busy, as on a loaded host", ", other core busy"),
        (
            "redis-server pinned to the engine's core (a diagnosis: no cross-core wake-up)",
            ", Redis on the engine's core",
        ),
    )
    for when, ends in machines:
        redis_engine = _figure(figures.engine, f"Redis{ends}")
        sqlite_engine = _figure(figures.engine, f"SQLite{ends}")
        if redis_engine and sqlite_engine:
            ratio = redis_engine.value / sqlite_engine.value
            rows.append(
                _row(
                    f"engine per request in-process, Redis / SQLite ≤ {TARGET_REDIS_ENGINE:.0f}×, {when}",
                    f"{ratio:.1f}× ({redis_engine.value:.0f} vs {sqlite_engine.value:.0f} µs)",
                    _verdict(ratio <= TARGET_REDIS_ENGINE),
                )
            )
    if "d" in by_key:
        d_rate, c_rate = _rate(by_key["d"]), _rate(by_key["c"])
        rows.append(
            _row(
                f"(d) Redis / (c) SQLite over HTTP, saturation steps/s ≥ {TARGET_REDIS_HTTP}",
                f"{d_rate / c_rate:.2f} ({d_rate:.0f} vs {c_rate:.0f})",
                _verdict(d_rate / c_rate >= TARGET_REDIS_HTTP),
            )
        )
    lean = _figure(figures.wsgi, "(validate, memory)") or figures.wsgi[0]
    rows.append(
        _row(
            "in-process simulated steps/s, one core, TwiML rules checked, calls in memory as `ivr test`"
            f" keeps them ≥ {TARGET_INPROCESS:,.0f}",
            f"{lean.value:,.0f}",
            _verdict(lean.value >= TARGET_INPROCESS),
        )
    )
    if extra.jobs is not None:
        serial, parallel, jobs, count = extra.jobs
        rows.append(
            _row(
                "`ivr test` uses every core (`--jobs`)",
                f"{count:,} scenarios in {parallel:.1f} s with {jobs} jobs vs {serial:.1f} s with 1: "
                f"{serial / parallel:.2f}×",
                _verdict(jobs > 1 and serial / parallel > 1.2),
            )
        )
    rows.append(
        _row(
            f"full crawl of the main line ≤ {TARGET_CRAWL_S} s",
            f"{figures.crawl.value:.2f} s",
            _verdict(figures.crawl.value <= TARGET_CRAWL_S),
        )
    )
    for run in extra.scale:
        rows.append(
            _row(
                f"{run.users:,} paced callers, {run.instances} instance(s) on one Redis "
                "(distributed Locust): "
                f"p99 < {TARGET_P99_MS:.0f} ms, no errors, every scenario passed",
                f"p99 {run.p99_ms:.0f} ms ({run.worst_p99[0]}), {run.failures} errors, "
                f"{run.scenario_failures} scenarios failed of {run.scenarios:,}",
                _verdict(run.ok and run.p99_ms < TARGET_P99_MS),
            )
        )
    return rows


def _described(doc: str | None) -> str:
    """A bench module's description: its docstring's paragraph after the example commands."""
    paragraphs = (doc or "").split("\n\n")
    return " ".join(paragraphs[2].split()) if len(paragraphs) > 2 else ""


def extra_sections(extra: Extras) -> list[str]:
    out: list[str] = []
    if extra.new_calls:
        out += [
            "## New calls: the first webhook of every call, one sync worker",
            "",
            "Each request a new CallSid (signed, Twilio's fields), 4 threads, one sync gunicorn worker per "
            "server (`WEB_CONCURRENCY=1 IVR_WORKER_CLASS=sync`): the request that creates a call's session "
            "and record, against (m)'s one committed write.",
            "",
            _row("server", "new calls/s (rounds)", "median ms", "p99 ms", "server µs CPU/request", "errors"),
            _row("---", "---:", "---:", "---:", "---:", "---:"),
        ]
        for key, results in extra.new_calls.items():
            values = _merged(results)["all"]
            out.append(
                _row(
                    f"({key})",
                    ", ".join(f"{r.steps_per_second:.0f}" for r in results),
                    _ms(loadgen.percentile(values, 50)),
                    _ms(loadgen.percentile(values, 99)),
                    f"{_us_per_step(results, _CPU[0]):.0f}",
                    sum(len(r.errors) for r in results),
                )
            )
        out.append("")
    if extra.servers:
        out += [
            "## The production server: gunicorn's worker classes and granian",
            "",
            _described(serverchoice.__doc__),
            "",
            *serverchoice.table(extra.servers),
            "",
        ]
    if extra.scale:
        out += [
            "## Scale-out: instances sharing one redis-server, distributed Locust",
            "",
            _described(scaleout.__doc__),
            "",
            *scaleout.table(extra.scale),
            "",
        ]
    if extra.footprint:
        out += [
            "## Memory and storage per call",
            "",
            _described(footprint.__doc__),
            "",
            *footprint.table(extra.footprint),
            "",
        ]
    return out


def report(
    items: list[Backend],
    figures: InProcess,
    options: argparse.Namespace,
    settings: dict[str, Any],
    machine: list[tuple[str, str]],
    started: datetime,
    seconds: float,
    notes: list[str],
    extra: Extras,
) -> str:
    by_key = {b.key: b for b in items}
    floor, signed, least = _rate(by_key["a"]), _rate(by_key["c"]), _rate(by_key["m"])
    worst_fire = max(f.value for f in figures.fires)
    p99s = [
        (loadgen.percentile(v, 99), b.key, w)
        for b in items
        if not b.static and b.paced
        for w, v in b.paced.by_webhook().items()
        if w != "all"
    ]
    worst_p99 = max(p99s)
    quick = " QUICK: a shortened try-out run, not the reference figures." if options.quick else ""
    command = " ".join(["bench/run.py", *sys.argv[1:]])
    out = [
        "# Load and benchmark results",
        "",
        f"Run on {started:%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min: `.venv/bin/python {command}`.{quick}",
        "",
        "**The load generator shares the machine's cores with the servers.** Every figure over HTTP "
        "includes the generator's own CPU (measured, per step) and whatever else ran on the machine "
        "at the time (`other`: busy cores from /proc/stat not used by the generator or the servers). "
        "Latencies are as the simulated caller sees them: from sending the request to the last byte "
        "of the answer, over loopback, on keep-alive connections. The targets are ratios measured in "
        "this one run; absolute figures are context.",
        "",
        "## Targets",
        "",
        _row("target", "measured", "result"),
        _row("---", "---", "---"),
        *target_rows(by_key, figures, extra),
        _row(
            f"state machine ≤ {TARGET_FIRE_US:.0f} µs per request (one trigger fired)",
            f"worst case {worst_fire:.1f} µs",
            _verdict(worst_fire <= TARGET_FIRE_US),
        ),
        _row(
            f"p99 per webhook step < {TARGET_P99_MS:.0f} ms, {options.paced_calls:,} paced calls, our app "
            "(b, c, d)",
            f"worst {worst_p99[0]:.1f} ms: ({worst_p99[1]}) `{worst_p99[2]}`",
            _verdict(worst_p99[0] < TARGET_P99_MS),
        ),
        "",
        f"Context: the static floor (a) reached {floor:.0f} steps/s, (m) {least:.0f} "
        f"({least / floor:.2f}× the "
        f"floor) and our app (c) {signed:.0f} ({signed / floor:.2f}× the floor): on this machine the floor's "
        "requests are mostly gunicorn and the load generator, which is why the ratios above set our "
        "app against (m), the least durable work, instead.",
        "",
        f"Other work on the machine during the measured windows: {_noise(items)}. Server CPU per step "
        "(saturation): "
        + ", ".join(f"({k}) {_us_per_step(by_key[k].rounds, _CPU[0]):.0f} µs" for k in ("a", "m", "c"))
        + ".",
        "",
        "## Machine",
        "",
        _row("", ""),
        _row("---", "---"),
        *[_row(k, v) for k, v in machine],
        "",
        "## Server settings (the same for every server)",
        "",
        "`gunicorn -c gunicorn.conf.py --no-control-socket <app>`, bound to 127.0.0.1 on a free port; "
        "environment cleared of IVR_*, TWILIO_AUTH_TOKEN, REDIS_URL and WEB_CONCURRENCY. From "
        f"gunicorn.conf.py: {', '.join(f'{k}={v}' for k, v in settings.items())}. SQLite: a fresh "
        "file per server (WAL, synchronous=NORMAL). Redis: a scratch redis-server (no RDB, no AOF) on "
        "a free loopback port.",
        "",
        "## Load generator",
        "",
        "bench/loadgen.py, one Python process: ivr.sim.SimulatedCall (TwiML parsed, rule checks off) "
        "over ivr.sim.transport.PooledHttpTransport (http.client, one keep-alive connection per "
        "thread). Every call walks a realistic path: dial, a few keys or words, a silence, an outcome "
        "(a goodbye, or a transfer: the queue's hold page), then the status callback. Paths: "
        f"{'; '.join(c.name for c in loadgen.CALLS)}. The static floor (a) and (m) get the same inputs "
        "and the caller hangs up at the end (their answer is always the same Gather). A step is one "
        "webhook request. Every server gets the same requests, signed as Twilio signs them (X-Twilio-"
        "Signature, about 50 µs of generator CPU each); only (c) and (m) check them.",
        "",
    ]
    out += _saturation_section(items, floor, options)
    out += _paced_section(items, options)
    out += _in_process_section(figures, items)
    out += extra_sections(extra)
    out += ["## Where the time goes", "", figures.profile, ""]
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


def _saturation_section(items: list[Backend], floor: float, options: argparse.Namespace) -> list[str]:
    out = [
        f"## Saturation: {options.concurrency} concurrent calls, no pauses",
        "",
        f"{options.rounds} round(s) of {options.seconds:.0f} s (after {options.warmup:.0f} s warm-up), the "
        "servers interleaved within each round; steps/s is the median of the rounds (each round in "
        "brackets). CPU: cores busy on average during the measured windows, and CPU time per step.",
        "",
        _row(
            "server",
            "steps/s",
            "vs floor",
            "calls/s",
            "median ms",
            "p99 ms",
            "errors",
            "server µs CPU/step",
            "generator µs CPU/step",
            "cores: server / generator / other",
        ),
        _row("---", *["---:"] * 8, "---"),
    ]
    for b in items:
        values = _merged(b.rounds)["all"]
        calls = sum(r.calls_done for r in b.rounds) / sum(r.window for r in b.rounds)
        rates = ", ".join(f"{r.steps_per_second:.0f}" for r in b.rounds)
        out.append(
            _row(
                f"({b.key}) {b.label}",
                f"{_rate(b):.0f} [{rates}]",
                f"{_rate(b) / floor:.2f}×",
                f"{calls:.0f}",
                _ms(loadgen.percentile(values, 50)),
                _ms(loadgen.percentile(values, 99)),
                sum(len(r.errors) for r in b.rounds),
                f"{_us_per_step(b.rounds, _CPU[0]):.0f}",
                f"{_us_per_step(b.rounds, _CPU[1]):.0f}",
                _cores(b.rounds),
            )
        )
    out += ["", "Per webhook step (all rounds):", ""]
    out += [
        _row("server", "webhook", "requests", "median ms", "p99 ms"),
        _row("---", "---", "---:", "---:", "---:"),
    ]
    for b in items:
        for webhook, values in sorted(_merged(b.rounds).items()):
            if webhook != "all":
                median, p99 = loadgen.percentile(values, 50), loadgen.percentile(values, 99)
                out.append(_row(f"({b.key})", f"`{webhook}`", len(values), _ms(median), _ms(p99)))
    return [*out, ""]


def _paced_section(items: list[Backend], options: argparse.Namespace) -> list[str]:
    runs = [(b, b.paced) for b in items if b.paced is not None]
    out = [
        f"## Paced: {options.paced_calls:,} concurrent calls",
        "",
        f"{runs[0][1].detail}. The p99 target is judged for our app (b, c, d); the floor (a) is shown "
        "for comparison. Lag: how late the generator sent steps against their schedule (when it is "
        "large, the generator did not get the CPU it needed).",
        "",
        _row("server", "webhook", "requests", "median ms", "p99 ms", "max ms", "p99 < 50 ms"),
        _row("---", "---", "---:", "---:", "---:", "---:", "---"),
    ]
    for b, r in runs:
        for webhook, values in sorted(r.by_webhook().items(), key=lambda kv: (kv[0] == "all", kv[0])):
            p99 = loadgen.percentile(values, 99)
            out.append(
                _row(
                    f"({b.key}) {b.label}",
                    "**all steps**" if webhook == "all" else f"`{webhook}`",
                    len(values),
                    _ms(loadgen.percentile(values, 50)),
                    _ms(p99),
                    _ms(max(values)),
                    "—" if b.static else _verdict(p99 < TARGET_P99_MS),
                )
            )
    out += [
        "",
        _row(
            "server",
            "steps/s",
            "calls ended",
            "errors",
            "lag p99 / max ms",
            "cores: server / generator / other",
        ),
        _row("---", *["---:"] * 4, "---"),
    ]
    for b, r in runs:
        lag = f"{_ms(loadgen.percentile(r.lag_ms, 99))} / {_ms(max(r.lag_ms, default=0))}"
        out.append(
            _row(
                f"({b.key}) {b.label}",
                f"{r.steps_per_second:.0f}",
                r.calls_done,
                len(r.errors),
                lag,
                _cores([r]),
            )
        )
    errors = [
        (b.key, e) for b in items for r in [*b.rounds, *([b.paced] if b.paced else [])] for e in r.errors
    ]
    if errors:
        out += ["", f"First errors ({len(errors)} in all):", "", *[f"- ({k}) {e}" for k, e in errors[:10]]]
    return [*out, ""]


def _in_process_section(figures: InProcess, items: list[Backend]) -> list[str]:
    out = [
        "## In-process (no server, no sockets)",
        "",
        _row("figure", "value", "target", "how"),
        _row("---", "---:", "---", "---"),
    ]
    for f in figures.fires:
        target = f"≤ {TARGET_FIRE_US:.0f} µs: {_verdict(f.value <= TARGET_FIRE_US)}"
        out.append(_row(f"(f) {f.name}", f"{f.value:.1f} {f.unit}", target, f.how))
    for f in figures.engine:
        out.append(_row(f"(f) {f.name}", f"{f.value:.0f} {f.unit}", "—", f.how))
    for f in figures.apps:
        out.append(_row(f.name, f"{f.value:.0f} {f.unit}", "—", f.how))
    for f in figures.wsgi:
        out.append(_row(f"(e) {f.name}", f"{f.value:.0f} {f.unit}", "—", f.how))
    out.append(
        _row(
            f"(e) {figures.crawl.name}",
            f"{figures.crawl.value:.1f} {figures.crawl.unit}",
            "—",
            figures.crawl.how,
        )
    )
    out += [
        "",
        "Cost of one webhook step, layer by layer (µs of CPU; over HTTP: saturation, per step):",
        "",
        _row("", *[f"({b.key})" for b in items]),
        _row("---", *["---:"] * len(items)),
    ]
    out.append(_row("WSGI app alone, in-process", *[f"{f.value:.0f}" for f in figures.apps]))
    out.append(
        _row(
            "server processes over HTTP (gunicorn, sockets, app)",
            *[f"{_us_per_step(b.rounds, _CPU[0]):.0f}" for b in items],
        )
    )
    out.append(_row("the load generator", *[f"{_us_per_step(b.rounds, _CPU[1]):.0f}" for b in items]))
    return [*out, ""]


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    options = _options(argv)
    started, clock = datetime.now(UTC), time.perf_counter()
    workdir = inprocess.scratch_dir()
    notes: list[str] = []
    machine = machine_rows()
    settings = servers.gunicorn_settings({})
    _say(f"scratch files in {workdir}")
    with ExitStack() as stack:
        redis_url = redis_pid = None
        try:
            redis_url, redis_pid = stack.enter_context(servers.redis_server(workdir))
        except RuntimeError as exc:
            notes.append(f"(d) Redis skipped: {exc}")
        figures = in_process(workdir, redis_url, options, redis_pid)
        items = backends(workdir, redis_url, redis_pid)
        for b in items:
            _say(f"starting ({b.key}) {b.label}")
            if "IVR_DATABASE" in b.env and "IVR_REDIS_URL" not in b.env:
                # The file and its WAL mode first: five workers switching a fresh file to WAL at
                # once can fail with "database is locked" and stop gunicorn.
                inprocess.open_engine_store(Path(b.env["IVR_DATABASE"])).close()
            log = workdir / f"gunicorn-{b.key}.log"
            b.server = stack.enter_context(
                servers.gunicorn(b.app_spec, b.env, log, pythonpath=b.pythonpath, extra_pids=b.extra_pids)
            )
        saturation(items, options)
        paced(items, options)
        _say("stopping the servers")
    extra = extras(workdir, options)
    text = report(
        items, figures, options, settings, machine, started, time.perf_counter() - clock, notes, extra
    )
    options.out.write_text(text + "\n", encoding="utf-8")
    _say(f"wrote {options.out}")
    if not options.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
