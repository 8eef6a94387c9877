"""Scale-out shown, not claimed: app instances sharing one redis-server, driven by distributed Locust.

    .venv/bin/python bench/scaleout.py                       # 3,000 callers, two instances, then one
    .venv/bin/python bench/scaleout.py --users 300 --seconds 30 --instances 2   # a try-out

Each instance is a gunicorn master of its own (gunicorn.conf.py) on its own loopback port,
standing for a host; every instance gets the same IVR_REDIS_URL and member hash key. Locust runs
in distributed mode, a master and two workers (load/locustfile.py), with `IVR_HOSTS` naming every
instance: each webhook request goes to the next instance in turn, as a load balancer in front of
them would send it, so one call's steps hop between hosts and only the shared store keeps the
call together. Every caller walks the repository's scenario files (scenarios/), whose
expectations check what the caller heard: a call that heard another call's words fails its
scenario ("transcripts uncrossed"). Callers are paced like real ones: a step about every
IVR_STEP_SECONDS (5 s), ramped up at --rate new callers a second; the statistics are reset once
every caller is running, so the figures cover the steady state only.

The instances stand behind a load balancer that keeps its connections (keep-alive 75 s, above
an AWS ALB's 60 s idle timeout, as gunicorn.conf.py advises), so callers reuse connections; the
Locust workers resolve with gevent's blocking resolver, the hosts being IP addresses. Beside
Locust's figures (response times as its workers saw them, their own CPU waits included), the
table gives the instances' own request times over the same steady window, from their access logs.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import secrets
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import servers  # noqa: E402 - after the path set-up above
from loadgen import OPEN_HOURS  # noqa: E402

LOCUSTFILE = ROOT / "load" / "locustfile.py"
TOKEN = "bench-made-up-auth-token"  # not a real Twilio token
LOCUST_WORKERS = 2
#: The instances' keep-alive idle timeout, as behind a load balancer that keeps its connections
#: (an AWS ALB's idle timeout is 60 s; gunicorn.conf.py says to set it above the front end's).
KEEPALIVE = 75
ACCESS_FORMAT = '%(t)s "%(r)s" %(s)s %(D)s'
_ACCESS = re.compile(r'^\[(?P<t>[^\]]+)\] "(?P<r>[^"]*)" (?P<s>\d+) (?P<d>\d+)$')


@dataclass
class ScaleRun:
    """One distributed Locust run against `instances` app instances."""

    instances: int
    users: int
    seconds: float
    requests: int
    failures: int
    scenarios: int
    scenario_failures: int
    rps: float
    p50_ms: float
    p99_ms: float
    worst_p99: tuple[str, float]
    per_instance: list[int]
    errors: list[str]
    server_p50_ms: float = float("nan")  # the instances' own request times (access log)
    server_p99_ms: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.scenario_failures == 0 and self.scenarios > 0


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _ms(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def _server_ms(logs: list[Path], seconds: float) -> tuple[float, float]:
    """p50 and p99 of the webhook requests' durations as the instances timed them (gunicorn's
    request time: from a parsed request to the last byte written), over the last `seconds` of
    the run: the steady window Locust's figures cover."""
    timed: list[tuple[float, float]] = []
    for log in logs:
        if not log.exists():
            continue
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _ACCESS.match(line)
            if match and "/voice" in match["r"]:
                at = datetime.strptime(match["t"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
                timed.append((at, int(match["d"]) / 1000))
    if not timed:
        return float("nan"), float("nan")
    end = max(at for at, _ in timed)
    window = sorted(ms for at, ms in timed if at > end - seconds)
    return window[len(window) // 2], window[min(len(window) - 1, int(len(window) * 0.99))]


def _served_requests(log: Path) -> int:
    """Webhook requests an instance logged (its access log: one line per request)."""
    if not log.exists():
        return 0
    return sum(
        1 for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if "/voice" in line
    )


def run(
    workdir: Path,
    *,
    instances: int,
    users: int,
    rate: float,
    seconds: float,
    step_seconds: float = 5.0,
    workers_per_instance: int = 2,
) -> ScaleRun:
    """Start redis-server, `instances` gunicorn masters and a distributed Locust; return its figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    ramp = users / rate
    prefix = workdir / f"locust-{instances}"
    with ExitStack() as stack:
        redis_url, _ = stack.enter_context(servers.redis_server(workdir))
        env = {
            "IVR_REDIS_URL": redis_url,
            "IVR_SECRET_KEY": secrets.token_hex(32),  # the same on every host, as the README says
            "IVR_NOW": OPEN_HOURS,
            "IVR_TRAINER": "0",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "WEB_CONCURRENCY": str(workers_per_instance),
            # Behind a load balancer, as these instances stand: keep-alive above its idle
            # timeout (gunicorn.conf.py, docs/production.md), and sockets for every caller.
            "IVR_KEEPALIVE": str(KEEPALIVE),
            "IVR_WORKER_CONNECTIONS": "4000",
            # Each access line with its time and the request's duration (µs), for the
            # server-side percentiles of the steady window.
            "GUNICORN_CMD_ARGS": f"--access-logformat={ACCESS_FORMAT!r}",
        }
        urls, logs = [], []
        for index in range(instances):
            access = workdir / f"access-{instances}-{index}.log"
            log = workdir / f"gunicorn-{instances}-{index}.log"
            served = stack.enter_context(
                servers.gunicorn("app:create_app()", {**env, "IVR_ACCESS_LOG": str(access)}, log)
            )
            urls.append(served.url)
            logs.append(access)
        locust_env = {
            **os.environ,
            "IVR_SCENARIOS": str(ROOT / "scenarios"),
            "IVR_STEP_SECONDS": str(step_seconds),
            "IVR_HOSTS": " ".join(urls),
            "IVR_KEEPALIVE": str(KEEPALIVE),  # users reuse a connection idle up to a second less
            # The hosts are IP addresses: gevent's default resolver handed every new connection
            # to a thread for getaddrinfo, a quarter of a Locust worker's CPU.
            "GEVENT_RESOLVER": "block",
            "TWILIO_AUTH_TOKEN": TOKEN,
        }
        port = servers.free_port()
        common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
        log_file = (workdir / f"locust-{instances}.log").open("wb")
        stack.callback(log_file.close)
        master = subprocess.Popen(
            [
                *common,
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(LOCUST_WORKERS),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(rate),
                "-t",
                f"{ramp + seconds:.0f}s",
                "--reset-stats",
                "--host",
                urls[0],
                "--csv",
                str(prefix),
                "--only-summary",
                "--stop-timeout",
                "10",
            ],
            env=locust_env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        workers = [
            subprocess.Popen(
                [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                env=locust_env,
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            for _ in range(LOCUST_WORKERS)
        ]
        try:
            master.wait(timeout=ramp + seconds + 120)
        finally:
            for proc in [master, *workers]:
                if proc.poll() is None:
                    proc.terminate()
            for proc in workers:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        time.sleep(0.5)  # the instances' last access lines
        per_instance = [_served_requests(log) for log in logs]
        server_p50, server_p99 = _server_ms(logs, seconds)
        errors = [
            line
            for log in workdir.glob(f"gunicorn-{instances}-*.log")
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
            if "Traceback" in line or " ERROR " in line
        ]
    stats = _rows(prefix.with_name(prefix.name + "_stats.csv"))
    webhooks = [r for r in stats if r["Type"] in ("POST", "GET")]
    scenarios = [r for r in stats if r["Type"] == "SCENARIO"]
    worst = max(webhooks, key=lambda r: _ms(r["99%"]))
    return ScaleRun(
        instances=instances,
        users=users,
        seconds=seconds,
        requests=sum(int(r["Request Count"]) for r in webhooks),
        failures=sum(int(r["Failure Count"]) for r in webhooks),
        scenarios=sum(int(r["Request Count"]) for r in scenarios),
        scenario_failures=sum(int(r["Failure Count"]) for r in scenarios),
        rps=sum(_ms(r["Requests/s"]) for r in webhooks),
        p50_ms=max(_ms(r["50%"]) for r in webhooks),
        p99_ms=max(_ms(r["99%"]) for r in webhooks),
        worst_p99=(f"{worst['Type']} {worst['Name']}", _ms(worst["99%"])),
        per_instance=per_instance,
        errors=errors[:5],
        server_p50_ms=server_p50,
        server_p99_ms=server_p99,
    )


def table(runs: list[ScaleRun]) -> list[str]:
    """Markdown rows for the report."""
    out = [
        "| instances | callers | steady s | webhook req/s | requests | p50 ms | p99 ms (worst webhook) | "
        "server-side p50 / p99 ms | errors | scenarios passed | requests per instance (whole run) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | --- |",
    ]
    for r in runs:
        out.append(
            f"| {r.instances} | {r.users:,} | {r.seconds:.0f} | {r.rps:.0f} | {r.requests:,} | "
            f"{r.p50_ms:.0f} | "
            f"{r.p99_ms:.0f} ({r.worst_p99[0]}) | "
            f"{r.server_p50_ms:.1f} / {r.server_p99_ms:.1f} | {r.failures} | "
            f"{r.scenarios - r.scenario_failures:,} of {r.scenarios:,} | "
            f"{' / '.join(f'{n:,}' for n in r.per_instance)} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3000, help="callers at once")
    parser.add_argument("--rate", type=float, default=50, help="new callers per second while ramping up")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds once every caller runs")
    parser.add_argument("--instances", type=int, nargs="+", default=[2, 1], help="runs, by instance count")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temp one)")
    options = parser.parse_args(argv)
    import tempfile

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="ivr-scaleout-"))
    runs = [
        run(
            workdir / f"run-{n}",
            instances=n,
            users=options.users,
            rate=options.rate,
            seconds=options.seconds,
            workers_per_instance=options.workers,
        )
        for n in options.instances
    ]
    print("\n".join(table(runs)))
    for r in runs:
        for line in r.errors:
            print(f"instance log ({r.instances}): {line}", file=sys.stderr)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
