"""Tiny WSGI TwiML apps for the conformance suite: each answers one way Twilio documents."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Response

from .twiml_apps import Page, TwimlApp

XML = "text/xml"


def doc(body: str) -> str:
    return f"<Response>{body}</Response>"


def app(pages: dict[str, Page], **kwargs: Any) -> TwimlApp:
    return TwimlApp(pages, **kwargs)


def reply(body: str, status: int = 200, mimetype: str = XML, **headers: str) -> Callable[[Any], Response]:
    def page(_: Any) -> Response:
        response = Response(body, status=status, mimetype=mimetype)
        for name, value in headers.items():
            response.headers[name.replace("_", "-")] = value
        return response

    return page


def slow(seconds: float, body: str) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A raw WSGI app that answers after `seconds` (for the HTTP timeout)."""
    import time

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/slow":
            time.sleep(seconds)
        start_response("200 OK", [("Content-Type", XML)])
        return [body.encode()]

    return wsgi
