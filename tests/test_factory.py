"""create_app: defaults, then IVR_* variables, then the test config; the trainer off; unsigned warned."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from ivr.stores.memory_store import MemoryStore
from ivr.stores.sqlite_store import SqliteStore

UNSIGNED = "TWILIO_AUTH_TOKEN is not set: webhooks accept UNSIGNED requests"


def _close(app: Flask) -> None:
    app.extensions["ivr"].store.close()


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app({"DATABASE": ":memory:"})
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert (app.config["TRUST_PROXY"], app.config["REDIS_URL"]) == (0, None)
    assert app.config["TWILIO_WEBHOOK_SHARED_KEY"] == ()
    assert set(app.blueprints) == {"voice", "health", "trainer", "trainer_api", "trainer_auth"}
    assert type(app.extensions["ivr"].store) is MemoryStore
    _close(app)


def test_the_database_defaults_to_the_instance_folder() -> None:
    app = create_app()
    assert app.config["DATABASE"] == str(Path(app.instance_path) / "ivr.sqlite3")
    assert type(app.extensions["ivr"].store) is SqliteStore
    _close(app)


@pytest.mark.parametrize(
    ("variable", "value", "key", "expected"),
    [
        pytest.param("IVR_DATABASE", ":memory:", "DATABASE", ":memory:", id="IVR_DATABASE"),
        pytest.param("IVR_TRUST_PROXY", "2", "TRUST_PROXY", 2, id="IVR_TRUST_PROXY-as-json"),
        pytest.param("IVR_DEFAULT_LINE", "tty", "DEFAULT_LINE", "tty", id="IVR_DEFAULT_LINE"),
        pytest.param("TWILIO_AUTH_TOKEN", "tok", "TWILIO_AUTH_TOKEN", "tok", id="TWILIO_AUTH_TOKEN"),
        pytest.param(
            "TWILIO_WEBHOOK_SHARED_KEY",
            "a,b",
            "TWILIO_WEBHOOK_SHARED_KEY",
            ("a", "b"),
            id="shared-keys-split",
        ),
    ],
)
def test_environment_variables_are_read(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    key: str,
    expected: int | str | tuple[str, ...],
) -> None:
    monkeypatch.setenv("IVR_DATABASE", ":memory:")
    monkeypatch.setenv("IVR_SECRET_KEY", "member-key")  # an auth token needs one
    monkeypatch.setenv("IVR_TRAINER_PASSWORD", "trainer-passphrase")  # and so does its trainer page
    monkeypatch.setenv(variable, value)
    app = create_app()
    assert app.config[key] == expected
    _close(app)


def test_the_engine_reads_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_DATABASE", ":memory:")
    monkeypatch.setenv("IVR_MAX_FAILURES", "7")
    app = create_app()
    assert app.extensions["ivr"].config.max_failures == 7
    _close(app)


def test_the_test_config_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IVR_DATABASE", str(tmp_path / "from-env.sqlite3"))
    monkeypatch.setenv("IVR_MAX_FAILURES", "7")
    app = create_app({"DATABASE": ":memory:", "MAX_FAILURES": 2})
    assert app.config["DATABASE"] == ":memory:" and type(app.extensions["ivr"].store) is MemoryStore
    assert app.extensions["ivr"].config.max_failures == 2
    assert not (tmp_path / "from-env.sqlite3").exists()
    _close(app)


@pytest.mark.parametrize("off", ["0", "false", "No", "off"])
def test_the_trainer_can_be_turned_off(off: str) -> None:
    app = create_app({"DATABASE": ":memory:", "TRAINER": off})
    assert set(app.blueprints) == {"voice", "health"}
    assert app.test_client().get("/").status_code == 404
    _close(app)


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        pytest.param({}, True, id="unsigned"),
        pytest.param({"TWILIO_AUTH_TOKEN": "tok"}, False, id="auth-token"),
        pytest.param({"TWILIO_WEBHOOK_SHARED_KEY": "key"}, False, id="shared-key"),
    ],
)
def test_unsigned_webhooks_are_warned_about(
    caplog: pytest.LogCaptureFixture, settings: dict[str, str], warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.app")
    trainer = {"TRAINER_PASSWORD": "trainer-passphrase"}  # a real number's trainer page needs one
    app = create_app({"DATABASE": ":memory:", "SECRET_KEY": "member-key", **trainer, **settings})
    assert (UNSIGNED in caplog.text) is warned
    _close(app)
