"""Servers for a benchmark run: gunicorn with the project's gunicorn.conf.py, and a scratch Redis.

Every server listens on 127.0.0.1 on a free port, in its own process group, and is stopped with
SIGTERM, then SIGKILL to that group if it has not exited after a grace period.
"""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
#: Settings inherited from the shell that would change what is measured.
_CLEARED = ("TWILIO_AUTH_TOKEN", "REDIS_URL", "WEB_CONCURRENCY")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment without IVR_* and the settings above, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_") and k not in _CLEARED}
    env.update(extra)
    return env


def gunicorn_settings(extra: Mapping[str, str]) -> dict[str, Any]:
    """What gunicorn.conf.py gives with this environment (it reads os.environ when run)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(clean_env(extra))
        conf = runpy.run_path(str(GUNICORN_CONF))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    keys = ("workers", "worker_class", "threads", "keepalive", "timeout", "max_requests", "accesslog")
    return {k: conf[k] for k in keys}


@dataclass
class Server:
    """A running gunicorn: where it listens and how to find its processes."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    extra_pids: tuple[int, ...] = ()
    #: Count every descendant, not only the master's children (granian's workers are grandchildren).
    tree: bool = False

    def pids(self) -> list[int]:
        """The master, its workers (found through /proc), and any helper (redis-server)."""
        master = self.proc.pid
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat", encoding="ascii") as handle:
                        parents[int(entry.name)] = int(handle.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        ours = {master}
        grown = True
        while grown:
            grown = False
            for pid, ppid in parents.items():
                if ppid in ours and pid not in ours and (self.tree or ppid == master):
                    ours.add(pid)
                    grown = True
        return [master, *self.extra_pids, *sorted(ours - {master})]


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own group: start_new_session below
            proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited at start-up (code {proc.returncode}); see {log}")
        try:
            request = urllib.request.Request(url + "/voice/fallback", data=b"", method="POST")
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310 - our loopback server
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer (403 when signatures are checked) means it serves
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s; see {log}")


@contextmanager
def gunicorn(
    app_spec: str,
    env: Mapping[str, str],
    log: Path,
    *,
    pythonpath: Path | None = None,
    extra_pids: tuple[int, ...] = (),
) -> Iterator[Server]:
    """Serve `app_spec` with gunicorn.conf.py on a free loopback port until the block ends."""
    port = free_port()
    exe = Path(sys.executable).with_name("gunicorn")
    command = [str(exe), "-c", str(GUNICORN_CONF), "--no-control-socket", app_spec]
    if pythonpath is not None:
        command[1:1] = ["--pythonpath", str(pythonpath)]
    full_env = clean_env({**env, "IVR_BIND": f"127.0.0.1:{port}"})
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log, extra_pids)
    try:
        _wait_ready(server.url, proc, log)
        yield server
    finally:
        _stop(proc, grace=25)


@contextmanager
def granian(
    app_spec: str,
    env: Mapping[str, str],
    log: Path,
    *,
    workers: int,
    threads: int = 1,
    pythonpath: Path | None = None,
    extra_pids: tuple[int, ...] = (),
) -> Iterator[Server]:
    """Serve the WSGI factory `module:function` with granian (Rust, an event loop per worker)."""
    exe = Path(sys.executable).with_name("granian")
    if not exe.exists():
        raise RuntimeError("granian is not installed: .venv/bin/pip install -e '.[bench]'")
    port = free_port()
    command = [
        str(exe),
        "--interface",
        "wsgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--http",
        "1",
        app_spec.removesuffix("()"),
    ]
    full_env = clean_env(env)
    if pythonpath is not None:
        full_env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(ROOT)])
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log, extra_pids, tree=True)
    try:
        _wait_ready(server.url, proc, log)
        yield server
    finally:
        _stop(proc, grace=25)


@contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """A scratch redis-server (no snapshots, no AOF): yields (URL, pid)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not on PATH: apt-get install -y redis-server")
    import redis  # only needed for this part of the run

    port = free_port()
    log = workdir / f"redis-{port}.log"
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {log}") from None
                time.sleep(0.05)
        client.close()
        yield url, proc.pid
    finally:
        _stop(proc, grace=10)
