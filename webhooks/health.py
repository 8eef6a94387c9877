"""Liveness and what the app serves: the lines and which numbers reach them."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from ivr import signs_webhooks

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    engine = current_app.extensions["ivr"]
    return jsonify(
        status="ok",
        lines=engine.flows.names(),
        numbers=engine.flows.lines_by_number(),
        signed=signs_webhooks(current_app.config),
    )
