"""JSON API of the trainer page: simulated calls through the real webhooks, history, analytics."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("trainer_api", __name__, url_prefix="/trainer/api")
