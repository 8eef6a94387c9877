"""Liveness (`/healthz`) never touches the store; readiness (`/readyz`) does a real round trip.

Real stores: a redis-server this test kills and starts again, an SQLite file made read-only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from .servers import read_only, redis_process


def _probe(app: Flask) -> tuple[int, int, dict[str, Any]]:
    client = app.test_client()
    live, ready = client.get("/healthz"), client.get("/readyz")
    return live.status_code, ready.status_code, ready.get_json()


def test_readiness_follows_redis_down_and_back(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_process(tmp_path) as redis_server:
        app = make_app(REDIS_URL=redis_server.url)
        live, ready, body = _probe(app)
        assert (live, ready, body["status"]) == (200, 200, "ready")
        assert body["store"] == "redis" and body["members"] > 0

        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="webhooks.health"):
            live, ready, body = _probe(app)
        assert (live, ready, body["status"]) == (200, 503, "not ready")
        assert f"127.0.0.1:{redis_server.port}" in body["reason"] and "Connection refused" in body["reason"]
        assert any("not ready" in r.getMessage() for r in caplog.records)

        redis_server.start()
        assert _probe(app)[:2] == (200, 200)


def test_readiness_fails_on_a_read_only_sqlite_file(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    first = make_app()
    assert _probe(first)[:2] == (200, 200)
    database = Path(first.config["DATABASE"])
    with read_only(database):
        app = make_app()  # a worker that starts now opens the file read-only
        live, ready, body = _probe(app)
        assert (live, ready) == (200, 503)
        assert "readonly" in body["reason"] and str(database) in body["reason"]
    assert _probe(app)[:2] == (200, 200)  # the same worker, once the file is writable again


def test_readiness_restores_a_missing_member_directory_and_says_so(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_process(tmp_path) as redis_server:
        app = make_app(REDIS_URL=redis_server.url)
        assert _probe(app)[1] == 200
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        client.flushall()  # an eviction, or a restart with nothing saved
        with caplog.at_level(logging.WARNING):
            live, ready, body = _probe(app)
        assert (live, ready) == (200, 200) and body["members"] > 0
        assert any("member directory" in r.getMessage() for r in caplog.records)
        assert [k for k in client.scan_iter() if "members" in k]


def test_readiness_never_shows_a_password(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    with redis_process(tmp_path) as redis_server:
        app = make_app(REDIS_URL=redis_server.url.replace("redis://", "redis://:hunter2@"))
        redis_server.stop()
        response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "hunter2" not in response.get_data(as_text=True)
    assert "redis://:***@127.0.0.1" in response.get_json()["reason"]
