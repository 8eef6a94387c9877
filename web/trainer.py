"""The trainer page at `/`: served by the app, every script and style local (works offline)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

bp = Blueprint(
    "trainer",
    __name__,
    static_folder="static",
    static_url_path="/trainer/static",
    template_folder="templates",
)

#: Nothing but this app: a CDN or web font would fail in a room without internet anyway.
_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.get("/")
def page() -> Response:
    """The softphone, the live diagram, the transcript, history and analytics (all in JS)."""
    response = Response(render_template("trainer.html"))
    response.headers["Content-Security-Policy"] = _POLICY
    return response
