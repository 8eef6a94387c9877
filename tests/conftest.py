"""Fixtures built through the real factory: app, client, runner, and a phone to walk calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from ivr.engine import Engine

from .logged_errors import LoggedErrors
from .phone import MAIN, Phone

# Monday 2026-11-23, 10:00 Central: every line is open.
OPEN_HOURS = "2026-11-23T10:00:00-06:00"


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's IVR_*, REDIS_URL or Twilio variables must not change what tests see."""
    import os

    for name in list(os.environ):
        if name.startswith(("IVR_", "TWILIO_")) or name == "REDIS_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    def build(**config: Any) -> Flask:
        settings: dict[str, Any] = {
            "TESTING": True,
            "DATABASE": str(tmp_path / "ivr.sqlite3"),
            "NOW": OPEN_HOURS,
        }
        settings.update(config)
        return create_app(settings)

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app()
    yield application
    application.extensions["ivr"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    engine: Engine = app.extensions["ivr"]
    return engine


@pytest.fixture
def call(client: FlaskClient) -> Callable[..., Phone]:
    """Place a call: `call()` dials the main line, `call(to=TTY)` another line."""

    def dial(to: str = MAIN, **kwargs: Any) -> Phone:
        return Phone(client, to=to, **kwargs).dial()

    return dial


@pytest.fixture
def errors() -> Iterator[LoggedErrors]:
    """ERROR records logged anywhere while the test runs (the catch-all handler's traces)."""
    import logging

    handler = LoggedErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
