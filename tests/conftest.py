"""Fixtures built through the real factory: app, client, runner, server, and `call` to walk calls.

Under CI (`CI` set, as .ci/run does) a skipped test fails the run: it proved nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from app import create_app
from ivr.engine.engine import Engine

from .logged_errors import LoggedErrors
from .phone import MAIN, Phone
from .servers import served

# Monday 2026-11-23, 10:00 Central: every line is open.
OPEN_HOURS = "2026-11-23T10:00:00-06:00"
#: The trainer password of apps built with a Twilio token or key (they refuse to start without).
TRAINER_PASSWORD = "conftest-trainer-password"
_TOKEN = re.compile(r'name="csrf[-_]token" (?:content|value)="([^"]+)"')


class BrowserClient(FlaskClient):
    """The test client of `make_app`'s apps: it changes the trainer's state as the page does,
    from the page's own origin with the page's CSRF token, logged in when a password is set.
    Headers a test gives itself are kept (tests of refusals pass their own, or none)."""

    _csrf: str | None = None

    def open(self, *args: Any, **kwargs: Any) -> Any:
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        method = str(kwargs.get("method", "GET")).upper()
        trainer = isinstance(path, str) and path.startswith("/trainer")
        if trainer and method in ("POST", "PUT", "PATCH", "DELETE"):
            headers = Headers(kwargs.pop("headers", None) or {})
            headers.setdefault("Origin", "http://localhost")
            if "X-CSRF-Token" not in headers:
                headers["X-CSRF-Token"] = self.csrf_token()
            kwargs["headers"] = headers
            if kwargs.get("json") is None and kwargs.get("data") is None and path.startswith("/trainer/api"):
                kwargs["json"] = {}  # the page's api() sends JSON, "{}" when it has nothing to say
        response = super().open(*args, **kwargs)
        if trainer and path.startswith(("/trainer/login", "/trainer/logout")) and method == "POST":
            self._csrf = None  # a new session: a new token
        return response

    def csrf_token(self) -> str:
        """The page's token (logging in first, with the app's password, when it asks)."""
        if self._csrf is None:
            page = super().open("/")
            if page.status_code == 302:
                form = super().open("/trainer/login")
                password = str(self.application.config["TRAINER_PASSWORD"])
                fields = {"password": password, "csrf_token": _found_token(form.get_data(as_text=True))}
                login = super().open(
                    "/trainer/login", method="POST", data=fields, headers={"Origin": "http://localhost"}
                )
                assert login.status_code == 302, login.get_data(as_text=True)
                page = super().open("/")
            self._csrf = _found_token(page.get_data(as_text=True))
        return self._csrf


def _found_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


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
        if (settings.get("TWILIO_AUTH_TOKEN") or settings.get("TWILIO_WEBHOOK_SHARED_KEY")) and (
            "TRAINER_PASSWORD" not in settings
        ):
            settings["TRAINER_PASSWORD"] = TRAINER_PASSWORD  # a real number's trainer needs one
        app = create_app(settings)
        app.test_client_class = BrowserClient
        return app

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


#: The files that take longest (mostly waiting on servers, browsers and sleeps), slowest first:
#: they start first, so under pytest-xdist none of them is left running alone at the end.
SLOW_FIRST = (
    "test_trainer_views.py",
    "test_hardening_server.py",
    "test_trainer_page.py",
    "test_store_reliability.py",
    "test_locust_load.py",
    "test_members_directory.py",
    "test_trainer_security.py",
    "test_fuzz_volume.py",
    "test_classroom_live.py",
    "test_store_outage.py",
    "test_load_gunicorn.py",
    "test_page_calls_shared.py",
    "test_trainer_api.py",
    "test_lint.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow files first (SLOW_FIRST), then the rest in their own order; tests keep their
    order within a file."""
    rank = {name: n for n, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
