"""A front end for tests/test_hardening_server.py: our app behind a gateway that passes the raw
request target as the path alone (as `uwsgi_param REQUEST_URI $uri` or a rewrite does), while
QUERY_STRING keeps the query. Served by gunicorn: `tests.hardening_front:create_app()`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app import create_app as create_ivr_app


def create_app() -> Any:
    app = create_ivr_app()
    inner = app.wsgi_app

    def path_only_target(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["RAW_URI"] = environ.get("RAW_URI", "").partition("?")[0]
        return inner(environ, start_response)

    app.wsgi_app = path_only_target  # type: ignore[method-assign]
    return app
