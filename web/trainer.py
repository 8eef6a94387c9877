"""The trainer page at `/`: served by the app, every script and style local (works offline)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

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
    return _render("phone")


@bp.get("/presenter")
def presenter() -> Response:
    """The same page in large type for a room (also `/?view=presenter`)."""
    return _render("presenter")


@bp.get("/classroom")
def classroom() -> Response:
    """Every live call on a line on one diagram (also `/?view=classroom`)."""
    return _render("classroom")


def _render(view: str) -> Response:
    signed_in = bool(current_app.config.get("TRAINER_PASSWORD"))  # the page is behind the login
    response = Response(render_template("trainer.html", view=view, signed_in=signed_in))
    response.headers["Content-Security-Policy"] = _POLICY
    return response
