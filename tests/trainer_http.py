"""A trainee's browser over real HTTP: its own session cookie and CSRF token, JSON in and out.

Used by the tests that run the app under gunicorn (several workers, a real store), where each
`TrainerBrowser` is one browser context: clicks from two of them are two trainees.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_TOKEN = re.compile(r'name="csrf[-_]token" (?:content|value)="([^"]+)"')
TIMEOUT = 15.0


class TrainerBrowser:
    """One browser on the trainer page at `base_url`: `post("/calls", {"line": "main"})`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            with self._opener.open(self.base_url + "/", timeout=TIMEOUT) as page:
                found = _TOKEN.search(page.read().decode())
            assert found is not None, "no CSRF token in the page"
            self._token = found.group(1)
        return self._token

    def get(self, path: str) -> tuple[int, Any]:
        return self._send(urllib.request.Request(self.base_url + "/trainer/api" + path))

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {
            "Content-Type": "application/json",
            "Origin": self.base_url,
            "X-CSRF-Token": self.token(),
        }
        request = urllib.request.Request(
            self.base_url + "/trainer/api" + path,
            data=json.dumps(body or {}).encode(),
            headers=headers,
            method="POST",
        )
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> tuple[int, Any]:
        try:
            with self._opener.open(request, timeout=TIMEOUT) as answer:
                status, raw = int(answer.status), answer.read()
        except urllib.error.HTTPError as error:
            status, raw = int(error.code), error.read()
        return status, json.loads(raw) if raw else None


def post_webhook(base_url: str, path: str, fields: dict[str, str]) -> tuple[int, str, str | None]:
    """An unsigned Twilio webhook (the app runs without a token): status, TwiML, X-IVR-State."""
    request = urllib.request.Request(base_url + path, data=urllib.parse.urlencode(fields).encode())
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - loopback
            return int(answer.status), answer.read().decode(), answer.headers.get("X-IVR-State")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(), None
