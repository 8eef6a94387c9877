"""Login and logout of the trainer page, when IVR_TRAINER_PASSWORD is set (web/security.py)."""

from __future__ import annotations

import logging
import math
import time

from flask import Blueprint, Response, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ivr import Engine

from .security import (
    LOGIN_ATTEMPTS,
    LOGIN_WINDOW,
    browser_id,
    client_address,
    masked_address,
    password_fingerprint,
    password_matches,
)

log = logging.getLogger(__name__)

bp = Blueprint("trainer_auth", __name__, url_prefix="/trainer", template_folder="templates")

_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


@bp.get("/login")
def login() -> ResponseReturnValue:
    if not current_app.config.get("TRAINER_PASSWORD"):
        return redirect(url_for("trainer.page"))
    return _form()


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Check the password (constant time); five failures from one address wait 15 minutes."""
    if not current_app.config.get("TRAINER_PASSWORD"):
        return redirect(url_for("trainer.page"))
    engine: Engine = current_app.extensions["ivr"]
    address = client_address()
    key, now = engine.keyed_hash("login-address", address), time.time()
    if engine.store.failures(key, LOGIN_WINDOW, now) >= LOGIN_ATTEMPTS:
        minutes = math.ceil(LOGIN_WINDOW / 60)
        log.warning("trainer login refused: too many failures from %s", masked_address(address))
        response = _form(f"Too many wrong passwords from this address: try again in {minutes} minutes.", 429)
        response.headers["Retry-After"] = str(LOGIN_WINDOW)
        return response
    if not password_matches(request.form.get("password", "")):
        failures = engine.store.count_failure(key, LOGIN_WINDOW, now)
        log.warning(
            "trainer login failed from %s (%d in %ds)", masked_address(address), failures, LOGIN_WINDOW
        )
        return _form("That is not the trainer password.", 401)
    session.clear()  # a new session (and CSRF token) on login: nothing carried over from before
    session["trainer"] = password_fingerprint(str(current_app.config["TRAINER_PASSWORD"]))
    browser_id()
    log.info("trainer logged in from %s", masked_address(address))
    return redirect(_safe_next(request.form.get("next", "")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    if request.is_json:
        return {"status": "logged out"}
    return redirect(url_for("trainer_auth.login") if current_app.config.get("TRAINER_PASSWORD") else "/")


def _form(error: str | None = None, status: int = 200) -> Response:
    page = render_template("login.html", error=error, next=_safe_next(request.values.get("next", "")))
    response = Response(page, status=status)
    response.headers["Content-Security-Policy"] = _POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str) -> str:
    """Only a path of this app: never another site (`//evil.example`, `https://...`)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"
