"""The composition root: create_app() builds the engine once and registers the blueprints."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr import ConfigError, Engine, EngineConfig, open_store, shared_keys, signs_webhooks
from webhooks.flask_class import IvrFlask
from webhooks.sessionless import NoSessions

log = logging.getLogger("ivr.app")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then IVR_* environment variables, then `test_config`."""
    # Twilio's form bodies decoded in one pass, and Flask's per-request checks kept per function.
    app = IvrFlask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        DATABASE=str(Path(app.instance_path) / "ivr.sqlite3"),
        MAX_CONTENT_LENGTH=64 * 1024,
        TWILIO_AUTH_TOKEN=None,
        TWILIO_WEBHOOK_SHARED_KEY=None,
        PUBLIC_BASE_URL=None,
        TRUST_PROXY=0,
        REDIS_URL=None,
    )
    app.config.from_prefixed_env("IVR")
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_SHARED_KEY"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    if os.environ.get("REDIS_URL") and not app.config.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]  # the usual name on hosted platforms
    if test_config:
        app.config.update(test_config)
    # Parsed once here, not on every request: a tuple of secrets from then on.
    app.config["TWILIO_WEBHOOK_SHARED_KEY"] = shared_keys(app.config.get("TWILIO_WEBHOOK_SHARED_KEY"))
    _member_key_settings(app)

    engine_config = EngineConfig.from_mapping(app.config)
    app.extensions["ivr"] = Engine(engine_config, open_store(engine_config))

    hops = int(app.config.get("TRUST_PROXY") or 0)
    if hops:
        # Behind a TLS-terminating proxy or tunnel: trust its X-Forwarded-For/Proto/Host/Port
        # (For: the trainer page's login and identity limits count per client address).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    if not signs_webhooks(app.config):
        log.warning(
            "TWILIO_AUTH_TOKEN is not set: webhooks accept UNSIGNED requests. Fine for local "
            "simulation; set it (or TWILIO_WEBHOOK_SHARED_KEY) before exposing the app to the internet."
        )

    from web import auth, security, trainer, trainer_api
    from webhooks import health, voice

    app.register_blueprint(voice.bp)
    app.register_blueprint(health.bp)
    app.session_interface = NoSessions()  # the trainer page, when on, puts its own in place
    if str(app.config.get("TRAINER", "1")).lower() not in ("0", "false", "no", "off"):
        # This app's hosts only, same-origin JSON with a CSRF token, a password when set (and
        # required for a real number): web/security.py. The webhooks are not affected.
        security.init_app(app)
        app.register_blueprint(trainer.bp)
        app.register_blueprint(trainer_api.bp)
        app.register_blueprint(auth.bp)
    return app


def create_dev_app() -> Flask:
    """`make run` (Flask's development server): the app, with its log lines on the terminal,
    stamped, at IVR_LOG_LEVEL (default info), as gunicorn.conf.py sends them to gunicorn's log."""
    logging.basicConfig(
        level=os.environ.get("IVR_LOG_LEVEL", "info").upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S %z",
    )
    return create_app()


def _member_key_settings(app: Flask) -> None:
    """The member hash key lives apart from the hashes; a real number needs it configured."""
    if app.config.get("SECRET_KEY") or app.config.get("SECRET_KEY_FILE"):
        return
    if signs_webhooks(app.config):
        raise ConfigError(
            "TWILIO_AUTH_TOKEN or TWILIO_WEBHOOK_SHARED_KEY is set, so this app answers a real "
            "number, but no member hash key is configured: set IVR_SECRET_KEY to a long random "
            "secret (python -c 'import secrets; print(secrets.token_hex(32))'), the same on every "
            "host, or IVR_SECRET_KEY_FILE to a file that holds one, kept apart from the database"
        )
    app.config["SECRET_KEY_FILE"] = str(Path(app.instance_path) / "member.key")
