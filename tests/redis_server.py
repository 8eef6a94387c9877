"""A real redis-server for the tests: one per session on a free port, a fresh key prefix per test.

Use with `pytest_plugins = ["tests.redis_server"]` in a test module. The modules also import its
helpers, so pytest finds it imported already: PYTEST_DONT_REWRITE says that is fine (it has no
plain asserts to rewrite).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from .servers import free_port


@dataclass(frozen=True)
class RedisServer:
    """A redis-server this test session started, and how to reach it."""

    url: str
    port: int
    log: Path

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


def _start(exe: str, workdir: Path) -> tuple[subprocess.Popen[bytes], RedisServer]:
    port = free_port()
    log = workdir / f"redis-{port}.log"
    # No RDB snapshots, no AOF: a scratch server that leaves nothing behind.
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    server = RedisServer(f"redis://127.0.0.1:{port}/0", port, log)
    client = server.client()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client.ping()
            client.close()
            return proc, server
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    raise RuntimeError(f"redis-server did not start on port {port}: see {log}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(
            "redis-server is not on PATH: install it (`apt-get install -y redis-server`; "
            ".ci/run does this) to run the Redis store tests",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("redis")
    for attempt in range(3):  # another program may take the free port before redis binds it
        try:
            proc, server = _start(exe, workdir)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def redis_prefix(redis_server: RedisServer) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis_server.client()
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _text(reply: object) -> str:
    """One reply of a `RedisServer.client()`: a str, as it decodes responses (redis types say bytes | str)."""
    assert isinstance(reply, str), reply
    return reply


def scan_everything(client: redis.Redis) -> list[str]:
    """Every key of the database and every string in it, read by type (SCAN + TYPE)."""
    texts: list[str] = []
    for key in client.scan_iter(count=1000):
        texts.append(key)
        kind = _text(client.type(key))
        if kind == "string":
            texts.append(_text(client.get(key) or ""))
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                texts += [_text(field), _text(value)]
        elif kind == "list":
            texts += [_text(item) for item in client.lrange(key, 0, -1)]
        elif kind == "set":
            texts += sorted(_text(member) for member in client.smembers(key))
        elif kind == "zset":
            for pair in client.zrange(key, 0, -1, withscores=True):
                assert not isinstance(pair, str | bytes), pair  # withscores: (member, score) pairs
                member, score = pair
                texts += [_text(member), repr(score)]
        elif kind != "none":  # "none": expired since SCAN listed it
            raise AssertionError(f"key {key} has type {kind}, which this scan cannot read")
    return texts


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, object]:
    """App settings choosing one store: SQLite (make_app's file) or Redis under a fresh prefix."""
    if request.param == "sqlite":
        return {"REDIS_URL": None}  # also when REDIS_URL is set in the environment
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"REDIS_URL": server.url, "REDIS_PREFIX": request.getfixturevalue("redis_prefix")}
