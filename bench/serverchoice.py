"""The production server, measured: gunicorn's worker classes and granian, for the same three apps.

    .venv/bin/python bench/serverchoice.py                      # about 3 minutes
    .venv/bin/python bench/serverchoice.py --seconds 4 --servers gunicorn-gevent granian

For each server, the static floor (a), the least durable work (m) and our app with signatures
(c) get the benchmark's saturation load (bench/loadgen.py: 16 calls back to back, every request
signed), in interleaved rounds so a change in the machine's other work hits every server alike.
gunicorn runs with the repository's gunicorn.conf.py, only the worker class changed
(IVR_WORKER_CLASS); granian (Rust, an event loop per worker, WSGI on blocking threads) runs
with one worker per core. The figures are steps per second, server CPU per step and p99, and
the ratios our app / (m) on each server: what the server costs around the same app.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import loadgen  # noqa: E402 - after the path set-up above
import servers  # noqa: E402

TOKEN = "bench-made-up-auth-token"  # not a real Twilio token
CORES = len(os.sched_getaffinity(0))

#: server name -> how it is started: ("gunicorn", worker class) or ("granian", blocking threads)
SERVERS: dict[str, tuple[str, str]] = {
    "gunicorn-gthread": ("gunicorn", "gthread"),
    "gunicorn-sync": ("gunicorn", "sync"),
    "gunicorn-gevent": ("gunicorn", "gevent"),
    "granian": ("granian", "4"),
}
APPS: dict[str, tuple[str, str, bool]] = {  # key -> (label, app spec, static answer)
    "a": ("static TwiML floor", "static_app:create_app()", True),
    "m": ("least work: form, signature, one SQLite write", "minimal_app:create_app()", True),
    "c": ("our app, SQLite + signatures", "app:create_app()", False),
}


@dataclass
class Cell:
    server: str
    app: str
    rounds: list[loadgen.LoadResult] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(r.steps_per_second for r in self.rounds)

    @property
    def server_us(self) -> float:
        return sum(r.cpu_server for r in self.rounds) / max(1, sum(r.requests for r in self.rounds)) * 1e6

    @property
    def p99(self) -> float:
        return loadgen.percentile([ms for r in self.rounds for ms in r.by_webhook()["all"]], 99)

    @property
    def errors(self) -> int:
        return sum(len(r.errors) for r in self.rounds)


def _env(app: str, workdir: Path, server: str) -> dict[str, str]:
    if app == "a":
        return {}
    if app == "m":
        return {"MINIMAL_DATABASE": str(workdir / f"{server}-m.sqlite3"), "TWILIO_AUTH_TOKEN": TOKEN}
    return {
        "IVR_DATABASE": str(workdir / f"{server}-c.sqlite3"),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_SECRET_KEY": "bench-made-up-member-key-" + "0" * 40,
        "IVR_TRAINER": "0",
        "IVR_NOW": loadgen.OPEN_HOURS,
    }


@contextmanager
def _serve(server: str, app: str, workdir: Path) -> Iterator[servers.Server]:
    kind, option = SERVERS[server]
    label, spec, _ = APPS[app]
    env = _env(app, workdir, server)
    pythonpath = BENCH if app in ("a", "m") else None
    log = workdir / f"{server}-{app}.log"
    if app == "c":
        # The file and its WAL mode first: workers switching a fresh file to WAL at once can fail.
        import inprocess

        inprocess.open_engine_store(Path(env["IVR_DATABASE"])).close()
    if kind == "granian":
        with servers.granian(
            spec, env, log, workers=CORES, threads=int(option), pythonpath=pythonpath
        ) as served:
            yield served
    else:
        with servers.gunicorn(
            spec, {**env, "IVR_WORKER_CLASS": option}, log, pythonpath=pythonpath
        ) as served:
            yield served


def measure(
    workdir: Path, names: list[str], *, rounds: int, seconds: float, warmup: float, concurrency: int
) -> list[Cell]:
    cells = [Cell(s, a) for s in names for a in APPS]
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        running = {(c.server, c.app): stack.enter_context(_serve(c.server, c.app, workdir)) for c in cells}
        for _ in range(rounds):
            for cell in cells:
                served = running[(cell.server, cell.app)]
                cell.rounds.append(
                    loadgen.saturate(
                        served.url,
                        concurrency=concurrency,
                        warmup=warmup,
                        seconds=seconds,
                        token=TOKEN,
                        static=APPS[cell.app][2],
                        server_pids=served.pids,
                    )
                )
    return cells


def table(cells: list[Cell]) -> list[str]:
    by = {(c.server, c.app): c for c in cells}
    names = list(dict.fromkeys(c.server for c in cells))
    out = [
        "| server | (a) steps/s | (m) steps/s | (c) steps/s | (c) / (m) throughput | server µs CPU/step "
        "(a) / (m) / (c) | (c) / (m) server CPU | p99 ms (c) | errors |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for name in names:
        a, m, c = (by[(name, k)] for k in ("a", "m", "c"))
        out.append(
            f"| {name} | {a.rate:.0f} | {m.rate:.0f} | {c.rate:.0f} | {c.rate / m.rate:.2f} | "
            f"{a.server_us:.0f} / {m.server_us:.0f} / {c.server_us:.0f} | {c.server_us / m.server_us:.2f}× | "
            f"{c.p99:.1f} | {a.errors + m.errors + c.errors} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", choices=sorted(SERVERS), default=list(SERVERS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ivr-serverchoice-"))
    cells = measure(
        workdir,
        options.servers,
        rounds=options.rounds,
        seconds=options.seconds,
        warmup=options.warmup,
        concurrency=options.concurrency,
    )
    print("\n".join(table(cells)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
