"""webhooks/sessionless.py: without the trainer page, no request opens or writes a Flask session."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, session
from flask.sessions import NullSession

from web.security import SESSION_COOKIE, TrainerSessionInterface
from webhooks.sessionless import NoSessions


def test_a_webhook_only_app_has_no_sessions_and_never_signs_with_the_member_key(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(TRAINER="0", SECRET_KEY="member-hash-key-" + "0" * 40)
    assert isinstance(app.session_interface, NoSessions)
    client = app.test_client()
    client.set_cookie("session", "anything")  # a cookie Twilio sends back is never read
    fields = {"CallSid": "CA" + "1" * 32, "From": "+15005550006", "To": "+18002372765"}
    response = client.post("/voice", data=fields)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    with app.test_request_context("/voice", method="POST"):
        app.preprocess_request()
        assert isinstance(session._get_current_object(), NullSession)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="session is unavailable"):
            session["x"] = 1


def test_with_the_trainer_page_its_own_interface_is_in_place(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert isinstance(app.session_interface, TrainerSessionInterface)
    response = app.test_client().get("/")
    assert SESSION_COOKIE in response.headers.get("Set-Cookie", "")
