"""No Flask session for an app without the trainer page: its webhooks and health checks use none.

Flask's default interface builds a signing serializer and parses the Cookie header on every
request (Twilio sends the call's cookies back), and it would sign with SECRET_KEY, which in this
app is the member hash key (IVR_SECRET_KEY): a key that must not sign anything a client holds.
With this interface every request gets Flask's null session, which cannot be written. The
trainer page installs its own interface (web/security.py), with a key of its own.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin


class NoSessions(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask then uses its null session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None
