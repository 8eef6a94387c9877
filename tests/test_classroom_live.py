"""The classroom view's data with a real server: gunicorn (the repo's config, two workers) on
SQLite and Redis; two trainees' page calls from two browser sessions and one call through the
webhooks, as Twilio places it, all in the snapshot and in the server-sent events."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from .phone import MAIN
from .redis_server import RedisServer
from .servers import Gunicorn, gunicorn
from .trainer_http import TIMEOUT, TrainerBrowser, post_webhook

pytest_plugins = ["tests.redis_server"]


@pytest.fixture(params=["sqlite", "redis"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gunicorn]:
    settings = {
        "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
    }
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        settings |= {"IVR_REDIS_URL": redis.url, "IVR_REDIS_PREFIX": request.getfixturevalue("redis_prefix")}
    with gunicorn(settings, tmp_path, workers=2) as running:
        yield running


class Stream:
    """One EventSource connection: its events as (name, data), read line by line."""

    def __init__(self, url: str) -> None:
        self.answer = urllib.request.urlopen(url, timeout=TIMEOUT)  # noqa: S310 - loopback
        assert self.answer.headers.get_content_type() == "text/event-stream"
        self.comments: list[str] = []

    def next_event(self) -> tuple[str, Any]:
        name, data = "message", list[str]()
        while True:
            line = self.answer.readline().decode()
            assert line, "the stream ended before an event"
            line = line.rstrip("\n")
            if not line:
                if data:
                    return name, json.loads("\n".join(data))
                continue
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    def close(self) -> None:
        self.answer.close()


def _place(browser: TrainerBrowser) -> str:
    status, detail = browser.post("/calls", {"line": "main"})
    assert status == 201, detail
    sid: str = detail["call"]["call_sid"]
    return sid


def _phone_call(server: Gunicorn) -> tuple[str, str]:
    """A call through the webhooks, as Twilio places it: its SID and the Gather's action URL."""
    sid = "CA" + secrets.token_hex(16)
    status, twiml, state = post_webhook(
        server.url, "/voice", {"CallSid": sid, "To": MAIN, "From": "+15551234567"}
    )
    assert (status, state) == (200, "main_menu"), twiml
    gather = ElementTree.fromstring(twiml).find("Gather")
    assert gather is not None
    return sid, str(gather.get("action"))


def test_two_trainees_and_a_phone_call_are_all_in_the_classroom_view(server: Gunicorn) -> None:
    first, second = TrainerBrowser(server.url), TrainerBrowser(server.url)
    page_sids = {_place(first), _place(second)}
    phone_sid, action = _phone_call(server)

    status, snapshot = first.get("/lines/main/live.json")
    assert status == 200
    calls = snapshot["calls"]
    assert sorted(c["source"] for c in calls) == ["page", "page", "twilio"]
    assert {c["call_sid"] for c in calls if c["source"] == "page"} == page_sids
    phone = next(c for c in calls if c["source"] == "twilio")
    assert phone["call_sid"] is None and phone["sid"] == "…" + phone_sid[-6:]  # never the full SID
    assert phone_sid not in json.dumps(snapshot)
    assert snapshot["counts"] == {"main_menu": 3}
    assert all(c["state"] == "main_menu" and c["lang"] == "en" and c["steps"] == 0 for c in calls)
    assert snapshot["at_local"]["iso"].endswith(("-06:00", "-05:00"))  # Central time
    assert snapshot["time_zone"] == "America/Chicago"

    stream = Stream(server.url + "/trainer/api/lines/main/live?seconds=8")
    try:
        name, data = stream.next_event()
        assert name == "calls"
        assert sorted(c["source"] for c in data["calls"]) == ["page", "page", "twilio"]
        # The phone caller presses 2; a trainee hangs up: the next event says both.
        status, _, state = post_webhook(server.url, action, {"CallSid": phone_sid, "To": MAIN, "Digits": "2"})
        assert (status, state) == (200, "billing_menu")
        code, _ = second.post(f"/calls/{sorted(page_sids)[0]}/hangup")
        assert code == 200
        while True:
            name, data = stream.next_event()
            assert name == "calls"
            if data["counts"] == {"main_menu": 1, "billing_menu": 1} and data["dropped"]:
                break
        assert data["dropped"] == {"main_menu": 1}
        moved = next(c for c in data["calls"] if c["source"] == "twilio")
        assert (moved["state"], moved["steps"]) == ("billing_menu", 1)
    finally:
        stream.close()


def test_a_stream_ends_by_itself_and_sends_heartbeats_only_as_comments(server: Gunicorn) -> None:
    stream = Stream(server.url + "/trainer/api/lines/main/live?seconds=2")
    try:
        name, data = stream.next_event()
        assert (name, data["calls"], data["line"]) == ("calls", [], "main")
        assert stream.answer.read() == b""  # over after its lifetime: EventSource reconnects
    finally:
        stream.close()
    status, _ = TrainerBrowser(server.url).get("/lines/nope/live.json")
    assert status == 404
