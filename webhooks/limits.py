"""Request size limits that werkzeug leaves to the server: a chunked body has no Content-Length."""

from __future__ import annotations

import io

from flask import abort, current_app, request


def limit_unsized_body() -> None:
    """Hold a chunked body to MAX_CONTENT_LENGTH: read up to one byte past it, 413 if it is there.

    Werkzeug refuses a Content-Length over the limit, but reads a chunked body (no length) to
    its end: the form was parsed whole however large, and a signed 70 KiB body answered 403 (or
    200) where 413 was due. Read here, within the limit, the body is handed on unchanged.
    Only a body the server marks as chunked is read: without a length or chunking there is no
    body, and a server's raw socket would wait for one.
    """
    environ = request.environ
    # Read off the environ first: every webhook comes here, and hardly any is chunked.
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None or request.content_length is not None:
        return  # no limit, or werkzeug checks the declared length itself
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        abort(413, f"the request body is larger than {limit // 1024} KiB")
    environ["wsgi.input"] = io.BytesIO(body)
