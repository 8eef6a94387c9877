"""The least work the issue asks of any webhook, and nothing else: a lower bound for servers (b)-(c).

Each POST has its form parsed (by our app's own decoder, webhooks/form.py), its Twilio
signature checked (the same check as our app, webhooks.signature.signed_by_twilio) and one
write committed by our SQLite store's own transaction (WAL, synchronous=NORMAL, the writers'
flock, BEGIN IMMEDIATE), then gets the floor's static TwiML. No menu, no session, no event
log. Whatever throughput this reaches, no Flask app that checks signatures and keeps its calls
durably on SQLite can beat on the same machine: the report sets our app (c) against it as well
as against the static floor.

    gunicorn -c gunicorn.conf.py --pythonpath bench 'minimal_app:create_app()'
    (MINIMAL_DATABASE: the SQLite file; TWILIO_AUTH_TOKEN: the token requests are signed with)
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, abort, request
from static_app import TWIML

from ivr.stores.sqlite_store import SqliteStore
from webhooks.form import FormRequest
from webhooks.signature import signed_by_twilio


class _OneWrite:
    """One row per call, its counter bumped once per request: the smallest durable write,
    committed through our store's own write transaction (the writers' flock, BEGIN IMMEDIATE)."""

    def __init__(self, path: str) -> None:
        self.store = SqliteStore(path)
        with self.store.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS steps (sid TEXT PRIMARY KEY, steps INTEGER, at REAL)")

    def bump(self, call_sid: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO steps VALUES (?, 1, ?) ON CONFLICT (sid) DO UPDATE SET steps = steps + 1,"
                " at = excluded.at",
                (call_sid, time.time()),
            )


def create_app(database: str | None = None, token: str | None = None) -> Flask:
    """Arguments, or else MINIMAL_DATABASE and TWILIO_AUTH_TOKEN from the environment (gunicorn)."""
    app = Flask(__name__)
    app.request_class = FormRequest  # the same form decoder as our app: only the work differs
    body = TWIML.encode()
    secret = token or os.environ["TWILIO_AUTH_TOKEN"]
    store = _OneWrite(database or os.environ["MINIMAL_DATABASE"])

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        if not signed_by_twilio(request, secret, None):
            abort(403)
        store.bump(request.form.get("CallSid", ""))
        return Response(body, mimetype="text/xml")

    return app
