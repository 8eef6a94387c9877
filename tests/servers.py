"""Real servers for tests: our app in a thread, `flask run` or gunicorn (the repo's
gunicorn.conf.py) in a process that can be killed, a redis-server that can be stopped and
started again on its port, and a file made read-only even for root."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


def start_flask(
    port: int, env: dict[str, str], log: Path | None = None, app: str = "app"
) -> subprocess.Popen[bytes]:
    """`flask --app <app> run` in its own process, returned once /healthz answers."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", app, "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start{f': see {log}' if log else ''}")


# -- gunicorn with the repo's gunicorn.conf.py, and a redis-server that can be stopped -----------


def clean_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment without a developer's IVR_*, REDIS_URL or Twilio settings, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IVR_", "TWILIO_")) and k not in ("REDIS_URL", "WEB_CONCURRENCY")
    }
    env.update(settings)
    return env


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py 'app:create_app()'` in its own process group."""

    def __init__(self, settings: dict[str, str], workdir: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gunicorn-{self.port}.log"
        env = clean_env({**settings, "IVR_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers)})
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--no-control-socket",
            "app:create_app()",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.workers = workers

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def booted(self) -> int:
        """How many workers have booted so far (gunicorn logs each one)."""
        return self.text().count("Booting worker with pid")

    def _heartbeats(self) -> list[float] | None:
        """The mtime of each live worker's heartbeat file (gunicorn's WorkerTmp, unlinked but
        open in the master), or None if they cannot be seen. A worker stamps its file with
        time.monotonic() only from its run loop, after the app has loaded: a small mtime is a
        worker that booted; a wall-clock one (the file's creation) a worker still loading."""
        stamps: list[float] = []
        fds = Path(f"/proc/{self.proc.pid}/fd")
        try:
            for fd in fds.iterdir():
                try:
                    if os.readlink(fd).rpartition("/")[2].startswith("wgunicorn-"):
                        stamps.append(fd.stat().st_mtime)
                except OSError:
                    continue  # closed meanwhile: a worker that has just exited
        except OSError:
            return None
        return stamps

    def ready_workers(self) -> int | None:
        """How many workers are serving (their app loaded), if every live worker is; else None."""
        stamps = self._heartbeats()
        if not stamps:
            return None
        loaded = [s for s in stamps if s < 1e9]  # monotonic (seconds since boot), not the epoch
        return len(loaded) if len(loaded) == len(stamps) else None

    def wait_for_workers(self, count: int, timeout: float = 30) -> None:
        """Until `count` workers have booted and every live worker has loaded the app (or
        gunicorn exited: a worker that cannot boot takes the master down with it)."""
        deadline = time.monotonic() + timeout
        while self.booted() < count and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._heartbeats() is None:  # no /proc: a moment for a worker that cannot boot to fail
            time.sleep(1.5)
            return
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.ready_workers() == self.workers:
                return
            time.sleep(0.05)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=15) as answer:  # noqa: S310
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as error:
            return int(error.code), bytes(error.read())

    def reload(self) -> None:
        """SIGHUP: the master starts new workers, as after a crash or a deploy."""
        before = self.booted()
        os.kill(self.proc.pid, signal.SIGHUP)
        self.wait_for_workers(before + self.workers)

    def stop(self) -> None:
        """A quick shutdown (SIGINT: gunicorn's workers exit at once, open streams and all);
        a graceful one (SIGTERM) waits up to a second per idle worker, and an open event
        stream's lifetime per busy one, which no test here is about."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@contextmanager
def gunicorn(settings: dict[str, str], workdir: Path, workers: int = 2) -> Iterator[Gunicorn]:
    """Our app under gunicorn, returned once every worker has booted; stopped afterwards."""
    server = Gunicorn(settings, workdir, workers)
    try:
        server.wait_for_workers(workers)
        assert server.proc.poll() is None, f"gunicorn exited at start-up:\n{server.text()[-3000:]}"
        yield server
    finally:
        server.stop()


class RedisProcess:
    """A redis-server on one port that a test stops and starts again: empty each time (no RDB, no AOF)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        exe = shutil.which("redis-server")
        assert exe is not None, "redis-server is not on PATH (apt-get install -y redis-server)"
        command = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.workdir), "--logfile", str(self.workdir / f"redis-{self.port}.log")]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.ConnectionError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as a crash or an OOM kill would: nothing saved
            self.proc.wait(10)
        self.proc = None


@contextmanager
def redis_process(workdir: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file read-only for every process, root's too (chattr +i; chmod does not stop root)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    mode = path.stat().st_mode
    path.chmod(0o444)
    try:
        yield
    finally:
        path.chmod(mode)
