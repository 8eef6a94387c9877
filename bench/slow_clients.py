"""Slow clients against each way of serving: how long /healthz and a signed webhook take.

N sockets send a request line, then one header line every 0.5 s and never the blank line
that ends the headers (a slowloris). Meanwhile a fresh client asks for /healthz and posts a
signed first webhook, three times each. Every option is gunicorn with the repo's
gunicorn.conf.py, two workers, SQLite and signatures on; only the worker class differs:

    .venv/bin/python bench/slow_clients.py              # gthread and gevent, N = 0, 8, 50
    .venv/bin/python bench/slow_clients.py --slow 0 8 50 200 --options gevent

A figure is the slowest of the three answers in seconds ("timeout" past --limit). With no
slow socket open, it also measures what the worker class costs: the median of 200 sequential
signed webhooks, and the signed webhooks per second that 16 client threads get for 3 s, on a
new connection per request and on keep-alive connections, with gunicorn's CPU time per webhook
(the clients share the machine's cores: on a busy machine the rate moves more than the CPU).
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType

BENCH = Path(__file__).resolve().parent
for _path in (str(BENCH), str(BENCH.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from servers import Server, granian, gunicorn  # noqa: E402 - after the path set-up above

from ivr.sim.signing import Signer  # noqa: E402

TOKEN = "slow-clients-token"
MAIN = "+18002372765"
WORKERS = 2
OPTIONS = {
    "gthread": {"IVR_WORKER_CLASS": "gthread", "IVR_THREADS": "4"},
    "gevent": {"IVR_WORKER_CLASS": "gevent"},
    "granian": {},  # granian (Rust, an event loop per worker), WSGI on 4 blocking threads each
}


class SlowClients:
    """`count` sockets trickling headers to `host:port`, one line per `interval` each, until closed."""

    def __init__(self, host: str, port: int, count: int, interval: float = 0.5) -> None:
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(sock)
        self._thread = threading.Thread(target=self._trickle, args=(interval,), daemon=True)
        self._thread.start()

    def _trickle(self, interval: float) -> None:
        line = 0
        while not self._stop.wait(interval):
            line += 1
            for sock in self.sockets:
                try:
                    sock.sendall(b"X-Slow-%d: x\r\n" % line)
                except OSError:  # the server gave up on this one: that is its right
                    pass

    def still_open(self) -> int:
        """How many of the sockets the server has not closed (a peek that does not block)."""
        open_ = 0
        for sock in self.sockets:
            try:
                sock.setblocking(False)
                data = sock.recv(1, socket.MSG_PEEK)
                open_ += 1 if data else 0
            except BlockingIOError:
                open_ += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return open_

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()

    def __enter__(self) -> SlowClients:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def signed_first_webhook(base_url: str, token: str, timeout: float) -> int:
    """POST a new call's first webhook, signed as Twilio signs it; the HTTP status."""
    url = base_url + "/voice"
    fields = {"CallSid": "CA" + secrets.token_hex(16), "To": MAIN, "From": "+15551230000"}
    headers = Signer(token).headers(url, fields)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _server_cpu(server: Server) -> float:
    """CPU seconds used so far by gunicorn's master and workers."""
    total = 0.0
    for pid in server.pids():
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _throughput(
    server: Server, keepalive: bool, clients: int = 16, seconds: float = 3.0
) -> tuple[float, float]:
    """Signed first webhooks per second from `clients` threads for `seconds`, and the server's
    CPU microseconds per webhook (steadier than the rate on a shared machine)."""
    base_url = server.url
    parts = urllib.parse.urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    url = base_url + "/voice"
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < stop:
            fields = {"CallSid": "CA" + secrets.token_hex(16), "To": MAIN, "From": "+15551230000"}
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            headers.update(Signer(TOKEN).headers(url, fields))
            if not keepalive:
                headers["Connection"] = "close"
            connection.request("POST", "/voice", body=urllib.parse.urlencode(fields), headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200:
                done[index] += 1
            if not keepalive:
                connection.close()
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    cpu = _server_cpu(server)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = _server_cpu(server) - cpu
    return sum(done) / seconds, cpu / max(sum(done), 1) * 1e6


def healthz(base_url: str, timeout: float) -> int:
    with urllib.request.urlopen(base_url + "/healthz", timeout=timeout) as answer:  # noqa: S310
        answer.read()
        return int(answer.status)


def _timed(call: object, limit: float) -> float | None:
    """Seconds one request took, None when it did not answer within `limit`."""
    start = time.monotonic()
    try:
        status = call()  # type: ignore[operator]
    except OSError:
        return None
    elapsed = time.monotonic() - start
    return elapsed if status in (200, 204) else None


def _show(seconds: list[float | None]) -> str:
    if any(s is None for s in seconds):
        return "timeout"
    return f"{max(s for s in seconds if s is not None):.3f}"


def measure(
    option: str, counts: list[int], limit: float, workdir: Path, costs: list[list[str]]
) -> list[list[str]]:
    env = {
        **OPTIONS[option],
        "WEB_CONCURRENCY": str(WORKERS),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_SECRET_KEY": "bench-" + "k" * 32,
        "IVR_DATABASE": str(workdir / f"{option}.sqlite3"),
        "IVR_TRAINER": "0",
    }
    rows = []
    log = workdir / f"{option}.log"
    if option == "granian":
        serve = granian("app:create_app()", env, log, workers=WORKERS, threads=4)
    else:
        serve = gunicorn("app:create_app()", env, log)
    with serve as server:
        host, port = urllib.parse.urlsplit(server.url).hostname, urllib.parse.urlsplit(server.url).port
        assert host is not None and port is not None
        idle = []
        for _ in range(200):
            start = time.monotonic()
            signed_first_webhook(server.url, TOKEN, limit)
            idle.append(time.monotonic() - start)
        idle_ms = f"{statistics.median(idle) * 1000:.1f}"
        fresh, fresh_cpu = _throughput(server, keepalive=False)
        kept, kept_cpu = _throughput(server, keepalive=True)
        for count in counts:
            with SlowClients(host, port, count) as slow:
                time.sleep(1.5)  # every slow socket has sent its first lines and been accepted
                health = [_timed(lambda: healthz(server.url, limit), limit) for _ in range(3)]
                hook = [
                    _timed(lambda: signed_first_webhook(server.url, TOKEN, limit), limit) for _ in range(3)
                ]
                rows.append([option, str(count), _show(health), _show(hook), str(slow.still_open())])
            print(f"  {option}, {count} slow sockets: /healthz {rows[-1][2]} s, webhook {rows[-1][3]} s")
    costs.append([option, idle_ms, f"{fresh:.0f} ({fresh_cpu:.0f} µs)", f"{kept:.0f} ({kept_cpu:.0f} µs)"])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slow", type=int, nargs="+", default=[0, 8, 50])
    parser.add_argument("--options", nargs="+", choices=sorted(OPTIONS), default=["gthread", "gevent"])
    parser.add_argument("--limit", type=float, default=35.0, help="client timeout per request, seconds")
    args = parser.parse_args(argv)
    rows: list[list[str]] = []
    costs: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for option in args.options:
            rows += measure(option, args.slow, args.limit, Path(tmp), costs)
    print()
    print(
        f"| worker class ({WORKERS} workers) | slow sockets | /healthz, worst of 3 (s) |"
        " signed webhook, worst of 3 (s) | slow sockets still open |"
    )
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        f"| worker class ({WORKERS} workers) | one webhook at a time, median (ms) |"
        " 16 clients, new connections: webhooks/s (server CPU per webhook) | 16 clients, keep-alive |"
    )
    print("|---|---:|---:|---:|")
    for row in costs:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
