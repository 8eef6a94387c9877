"""Memory and storage per call: KB a finished call leaves in SQLite and in Redis, and process memory.

    .venv/bin/python bench/footprint.py                 # 10,000 calls on each store
    .venv/bin/python bench/footprint.py --calls 1000    # a try-out

The benchmark's realistic paths (bench/loadgen.py CALLS) go straight into the engine, in-process,
one after another, each ending with Twilio's final status callback, as over HTTP. SQLite: the
database file's size after a WAL checkpoint (the WAL file emptied), less the size of the same
store with no calls. Redis: `used_memory` of a scratch redis-server (no persistence) before and
after, and the keys left. Process: the resident set's growth while the calls ran (the engine
keeps nothing per call in memory, so this should stay flat after warm-up).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import inprocess  # noqa: E402 - after the path set-up above
import servers  # noqa: E402
from loadgen import CALLS, OPEN_HOURS  # noqa: E402

from ivr.engine.config import EngineConfig  # noqa: E402
from ivr.engine.engine import Engine  # noqa: E402
from ivr.engine.hours import clock_from  # noqa: E402
from ivr.engine.store import SessionStore  # noqa: E402


@dataclass
class Footprint:
    store: str
    calls: int
    kb_per_call: float
    rss_kb_per_call: float
    detail: str


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _place(store: SessionStore, calls: int) -> float:
    """Place `calls` calls; returns the resident set's growth in KB per call after warm-up."""
    engine = Engine(EngineConfig(clock=clock_from(OPEN_HOURS)), store)
    for script in CALLS:  # warm-up: every TwiML variant rendered once
        inprocess._engine_requests(engine, script)
    before = _rss_kb()
    for i in range(calls):
        inprocess._engine_requests(engine, CALLS[i % len(CALLS)])
    return (_rss_kb() - before) / calls


def sqlite(workdir: Path, calls: int) -> Footprint:
    database = workdir / "footprint.sqlite3"
    store = inprocess.open_engine_store(database)
    store.check()  # the schema and the member directory: the empty store's size

    def size() -> int:
        with sqlite3.connect(database) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return database.stat().st_size

    empty = size()
    rss = _place(store, calls)
    store.close()
    full = size()
    with sqlite3.connect(database) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
        rows = ", ".join(f"{t}: {db.execute(f'SELECT count(*) FROM {t}').fetchone()[0]:,}" for (t,) in tables)
    return Footprint(
        "SQLite",
        calls,
        (full - empty) / calls / 1024,
        rss,
        f"file {full / 1e6:.1f} MB after checkpoint; {rows}",
    )


def redis(workdir: Path, calls: int) -> Footprint:
    import redis as redis_py

    with servers.redis_server(workdir) as (url, _):
        client = redis_py.Redis.from_url(url)
        store = inprocess.open_engine_store(redis_url=url)
        store.check()
        before = int(client.info("memory")["used_memory"])
        rss = _place(store, calls)
        after = int(client.info("memory")["used_memory"])
        keys = int(client.dbsize())
        store.close()
        client.close()
    return Footprint(
        "Redis",
        calls,
        (after - before) / calls / 1024,
        rss,
        f"used_memory +{(after - before) / 1e6:.1f} MB; {keys:,} keys",
    )


def table(rows: list[Footprint]) -> list[str]:
    out = [
        "| store | calls | KB stored per call | process KB per call | detail |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r.store} | {r.calls:,} | {r.kb_per_call:.2f} | {r.rss_kb_per_call:.3f} | {r.detail} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ivr-footprint-"))
    print("\n".join(table([sqlite(workdir, options.calls), redis(workdir, options.calls)])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
