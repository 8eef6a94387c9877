"""Page calls live in the store, not in one process: under gunicorn with the repo's config and
two workers, on SQLite and on a real redis-server, the clicks of one page call land on both
workers and the call walks as on a phone (keys collected one click at a time included)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .redis_server import RedisServer
from .servers import Gunicorn, gunicorn
from .trainer_http import TrainerBrowser

pytest_plugins = ["tests.redis_server"]

#: Clicks of `*` (the menu again) at most, until two workers have served the call.
MOST_REPEATS = 60
_ACCESS = re.compile(r"^<(\d+)> POST /trainer/api/calls/(CA[0-9a-f]+)/press")


@pytest.fixture(params=["sqlite", "redis"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gunicorn]:
    settings = {
        "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
        "IVR_ACCESS_LOG": str(tmp_path / "access.log"),
        # One connection per request and the worker's pid on each access line.
        "GUNICORN_CMD_ARGS": "--keep-alive 0 --access-logformat '%(p)s %(r)s %(s)s'",
    }
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        settings |= {"IVR_REDIS_URL": redis.url, "IVR_REDIS_PREFIX": request.getfixturevalue("redis_prefix")}
    with gunicorn(settings, tmp_path, workers=2) as running:
        running.access_log = tmp_path / "access.log"  # type: ignore[attr-defined]
        yield running


def _workers(server: Gunicorn, sid: str) -> set[str]:
    path: Path = server.access_log  # type: ignore[attr-defined]
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return {m.group(1) for line in text.splitlines() if (m := _ACCESS.match(line)) and m.group(2) == sid}


def _press(browser: TrainerBrowser, sid: str, keys: str) -> dict[str, Any]:
    status, detail = browser.post(f"/calls/{sid}/press", {"keys": keys})
    assert status == 200, detail
    assert isinstance(detail, dict)
    return detail


def test_a_page_calls_clicks_walk_correctly_on_any_worker(server: Gunicorn) -> None:
    browser = TrainerBrowser(server.url)
    status, placed = browser.post("/calls", {"line": "main"})
    assert status == 201, placed
    sid = placed["call"]["call_sid"]
    assert placed["live"]["state"] == "main_menu"
    for _ in range(MOST_REPEATS):  # until both workers have served a click of this call
        detail = _press(browser, sid, "*")
        assert detail["live"]["state"] == "main_menu"
        if len(_workers(server, sid)) > 1:
            break
    assert len(_workers(server, sid)) == 2, "every click was served by one worker"

    assert _press(browser, sid, "1")["live"]["state"] == "verify_id"
    for key in "10203040":  # one click per key: the keys so far are kept in the store
        detail = _press(browser, sid, key)
        assert detail["live"]["state"] == "verify_id"
    assert detail["live"]["pending"] == "••••••••"  # a secret entry's keys are never shown
    assert _press(browser, sid, "#")["live"]["state"] == "verify_dob"
    for key in "0307195":
        _press(browser, sid, key)
    detail = _press(browser, sid, "6")  # the eighth digit completes the date of birth
    assert detail["live"]["state"] == "refill_menu"
    assert detail["call"]["path"] == ["incoming", "main_menu", "verify_id", "verify_dob", "refill_menu"]
    numbers = [line["n"] for line in detail["live"]["transcript"]]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no line lost or repeated
    status, ended = browser.post(f"/calls/{sid}/hangup")
    assert status == 200 and ended["live"]["ended"] is True
    assert ended["call"]["outcome"] == "hung up in refill_menu"
    assert len(_workers(server, sid)) == 2


def test_two_clicks_at_once_on_one_call_never_interleave(server: Gunicorn) -> None:
    import threading

    browser = TrainerBrowser(server.url)
    status, placed = browser.post("/calls", {"line": "main"})
    assert status == 201
    sid = placed["call"]["call_sid"]
    _press(browser, sid, "1")
    answers: list[int] = []

    def click(key: str) -> None:
        answers.append(browser.post(f"/calls/{sid}/press", {"keys": key})[0])

    clicks = [threading.Thread(target=click, args=(k,)) for k in "10203040"]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(30)
    assert answers == [200] * 8
    detail = _press(browser, sid, "#")
    assert detail["live"]["state"] == "verify_dob"  # all eight keys arrived, none twice
    entered = [line["text"] for line in detail["live"]["transcript"] if line["who"] == "caller"]
    assert entered[-1] == "entered [8 digits hidden]"
