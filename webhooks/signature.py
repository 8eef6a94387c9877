"""Twilio request signatures: check X-Twilio-Signature against the URL as Twilio requested it.

Twilio signs with the account auth token (HMAC-SHA1), or, when a Webhook Rule matches the URL,
with the rule's SharedKey and the algorithm named in X-Twilio-Webhooks-Signature-Settings.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from flask import Request, abort, current_app, request
from twilio.request_validator import HMAC_SHA1, RequestValidator, get_signature_algorithm

from ivr import SETTINGS_HEADER, SIGNATURE_HEADER, validator

log = logging.getLogger(__name__)


def url_as_requested(req: Request, public_base_url: str | None) -> str:
    """Rebuild the URL Twilio signed: its scheme and host, and the path and query byte for byte.

    Werkzeug re-quotes `request.url`, which breaks signatures of action URLs with
    percent-escapes, so the raw request line (RAW_URI / REQUEST_URI) is used when the server
    gives it; the query is always the one being served (QUERY_STRING), kept as sent when the
    raw target has that same query.

    WSGI servers hand these values over as bytes decoded as latin-1 (PEP 3333); they are
    turned back into the text Twilio sent (UTF-8), or the HMAC would run over mojibake.
    """
    environ = req.environ
    query = environ.get("QUERY_STRING", "")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        raw_path, _, raw_query = raw.partition("?")
        if raw_query == query:
            path_and_query = _wire_text(raw)
        else:
            # Not the query the app acts on (a front end that passes REQUEST_URI as the path
            # alone, or from before a rewrite): the served query is signed, never left out.
            path_and_query = _wire_text(raw_path) + (f"?{_wire_text(query)}" if query else "")
    else:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        path_and_query = quote(_wire_bytes(path))
        if query:
            path_and_query += "?" + _wire_text(query)
    if public_base_url:
        return public_base_url.rstrip("/") + path_and_query
    return f"{req.scheme}://{req.host}{path_and_query}"


def _wire_bytes(value: str) -> bytes:
    """The bytes behind a WSGI string (latin-1 per PEP 3333; UTF-8 if a server decoded it)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _wire_text(value: str) -> str:
    return _wire_bytes(value).decode("utf-8", "replace")


class _FormValues:
    """Form fields as twilio's validator reads them: it asks for getall(), which werkzeug's
    MultiDict lacks, and falling back through an AttributeError per field cost ~30 µs."""

    __slots__ = ("_form",)

    def __init__(self, form: Any) -> None:
        self._form = form

    def __iter__(self) -> Iterator[str]:
        return iter(self._form)

    def getall(self, name: str) -> list[str]:
        values: list[str] = self._form.getlist(name)
        return values


def _signed_as_sent(
    validator: RequestValidator, url: str, params: Any, signature: str, algorithm: str
) -> bool:
    """Check the signature against the URL exactly as requested, then as twilio's validator does.

    Twilio signs the URL as configured, which is the URL requested; the validator's own check
    also tries the URL with and without its default port (two HMACs and a URL parse per request).
    The exact URL comes first, so a request signed as sent costs one HMAC; anything else gets
    the validator's full answer.
    """
    expected = validator.compute_signature(url, params, algorithm).encode()
    if hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return True
    return bool(validator.validate(url, params, signature, algorithm))


def signed_by_twilio(
    req: Request, token: str | None, public_base_url: str | None, keys: tuple[str, ...] = ()
) -> bool:
    """Whether `req` carries a valid signature: made with `token` (HMAC-SHA1) when it has no
    signature-settings header, with one of the shared `keys` (its algorithm) when it has one."""
    signature = req.headers.get(SIGNATURE_HEADER, "")
    settings = req.headers.get(SETTINGS_HEADER)
    candidates = keys if settings is not None else (token,) if token else ()
    if not signature or not candidates:
        return False
    algorithm = HMAC_SHA1 if settings is None else get_signature_algorithm(settings)
    try:
        url = url_as_requested(req, public_base_url)
        params = _FormValues(req.form if req.method == "POST" else {})
        return any(_signed_as_sent(validator(s), url, params, signature, algorithm) for s in candidates)
    except ValueError:  # an algorithm twilio does not know, a URL it cannot parse: refused
        return False


def require_twilio_signature() -> None:
    """Blueprint hook: with an auth token or a shared key configured, refuse what Twilio did not sign."""
    config = current_app.config
    token = config.get("TWILIO_AUTH_TOKEN") or None
    keys: tuple[str, ...] = config.get("TWILIO_WEBHOOK_SHARED_KEY") or ()  # a tuple: see app.py
    if not token and not keys:
        return
    if not request.headers.get(SIGNATURE_HEADER, ""):
        abort(403, "missing X-Twilio-Signature")
    settings = request.headers.get(SETTINGS_HEADER)
    if settings is not None and not keys:
        log.warning(
            "refused a webhook signed with a Twilio shared key (%.80r): set "
            "TWILIO_WEBHOOK_SHARED_KEY to that key's secret",
            settings,
        )
        abort(403, "the request is signed with a webhook shared key, and this app has none")
    if settings is None and not token:
        abort(403, "the request is signed with the account auth token, and this app has none")
    if not signed_by_twilio(request, token, config.get("PUBLIC_BASE_URL"), keys):
        abort(403, "X-Twilio-Signature does not match this request")
