"""The trainer page at `/`: served by the app, every script and style local (works offline)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("trainer", __name__, static_folder="static", static_url_path="/trainer/static",
               template_folder="templates")  # fmt: skip
