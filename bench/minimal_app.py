"""The least work the issue asks of any webhook, and nothing else: a lower bound for servers (b)-(c).

Each POST has its form parsed, its Twilio signature checked (the same check as our app,
webhooks.signature.signed_by_twilio) and one write committed to SQLite as our store commits one
(WAL, synchronous=NORMAL, the writers' flock, BEGIN IMMEDIATE), then gets the floor's static
TwiML. No menu, no session, no event log. Whatever throughput this reaches, no app that
checks signatures and keeps its calls durably on SQLite can beat on the same machine:
the report sets our app (c) against it as well as against the static floor.

    gunicorn -c gunicorn.conf.py --pythonpath bench 'minimal_app:create_app()'
    (MINIMAL_DATABASE: the SQLite file; TWILIO_AUTH_TOKEN: the token requests are signed with)
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

from flask import Flask, Response, abort, request
from static_app import TWIML

from webhooks.signature import signed_by_twilio


class _OneWrite:
    """One row per call, its counter bumped once per request: the smallest durable write."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        db = self._db()
        fd = self._lock()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS calls (sid TEXT PRIMARY KEY, steps INTEGER, at REAL)")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _lock(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            fd = self._local.fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def bump(self, call_sid: str) -> None:
        db = self._db()
        fd = self._lock()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO calls VALUES (?, 1, ?) ON CONFLICT (sid) DO UPDATE SET steps = steps + 1,"
                " at = excluded.at",
                (call_sid, time.time()),
            )
            db.execute("COMMIT")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def create_app(database: str | None = None, token: str | None = None) -> Flask:
    """Arguments, or else MINIMAL_DATABASE and TWILIO_AUTH_TOKEN from the environment (gunicorn)."""
    app = Flask(__name__)
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
