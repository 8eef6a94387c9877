"""Fixtures built through the real factory: app, client, runner, server, and `call` to walk calls.

Under CI (`CI` set, as .ci/run does) a skipped test fails the run: it proved nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from ivr.engine.engine import Engine

from .logged_errors import LoggedErrors
from .phone import MAIN, Phone
from .servers import served

# Monday 2026-11-23, 10:00 Central: every line is open.
OPEN_HOURS = "2026-11-23T10:00:00-06:00"


def _clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("IVR_", "TWILIO_")) or name == "REDIS_URL":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's IVR_*, REDIS_URL or Twilio variables must not change what tests see."""
    _clear_environment(monkeypatch)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    def build(**config: Any) -> Flask:
        settings: dict[str, Any] = {
            "TESTING": True,
            "DATABASE": str(tmp_path / "ivr.sqlite3"),
            "NOW": OPEN_HOURS,
            # The member hash key's own file (apart from the database): apps with a Twilio auth
            # token refuse to start without one.
            "SECRET_KEY_FILE": str(tmp_path / "member.key"),
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
def call(app: Flask) -> Callable[..., Phone]:
    """Place a call with the real simulated caller: `call()` dials the main line, `call(to=TTY)`
    another; options go to `ivr.sim.SimulatedCall` (`sid=`, `caller=`, `auth_token=`...)."""

    def dial(to: str = MAIN, **kwargs: Any) -> Phone:
        return Phone(app, to=to, **kwargs).dial()

    return dial


@pytest.fixture
def runner() -> CliRunner:
    """click's runner for the `ivr` group: `runner.invoke(main, [...], env={...})`."""
    return CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over HTTP on a free loopback port, in a thread: one per module, its own database."""
    database = tmp_path_factory.mktemp("served") / "ivr.sqlite3"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clear_environment(monkeypatch)  # module scope: before the autouse fixture runs
        app = create_app({"TESTING": True, "DATABASE": str(database), "NOW": OPEN_HOURS})
    with served(app) as url:
        yield url
    app.extensions["ivr"].store.close()


@pytest.fixture
def errors() -> Iterator[LoggedErrors]:
    """ERROR records logged anywhere while the test runs (the catch-all handler's traces)."""
    import logging

    handler = LoggedErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def _skipped_in_ci(config: pytest.Config) -> int:
    """How many tests were skipped, when running under CI (on the controller, not an xdist worker)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not os.environ.get("CI") or reporter is None or hasattr(config, "workerinput"):
        return 0
    return len(reporter.stats.get("skipped", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a skipped test fails the run: it proved nothing (install what its reason names)."""
    if exitstatus == 0 and _skipped_in_ci(session.config):
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = _skipped_in_ci(config)
    if skipped:
        terminalreporter.write_line(f"CI: {skipped} test(s) skipped; a skip in CI fails the run", red=True)
