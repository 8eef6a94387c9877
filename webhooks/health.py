"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store answers too)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from ivr import IvrError, signs_webhooks

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness, for restarts: never touches the store, so a store outage restarts nothing."""
    engine = current_app.extensions["ivr"]
    return jsonify(
        status="ok",
        lines=engine.flows.names(),
        numbers=engine.flows.lines_by_number(),
        signed=signs_webhooks(current_app.config),
    )


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness, for routing calls here: a real write to the store and its member directory."""
    try:
        checked = current_app.extensions["ivr"].store.check()
    except IvrError as exc:
        log.warning("not ready: %s", exc)
        return jsonify(status="not ready", reason=str(exc)), 503
    return jsonify(status="ready", **checked)
