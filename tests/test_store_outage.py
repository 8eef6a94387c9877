"""A store outage under gunicorn: workers still boot, callers hear a spoken apology, calls come back.

Real processes throughout: gunicorn with the repo's gunicorn.conf.py, a redis-server this test
kills and starts again on the same port, an SQLite file made read-only under the workers. The
outage begins while the server runs, then the workers are restarted (SIGHUP, as a deploy or a
crash would), so new workers boot while the store is away.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

from .phone import MAIN
from .servers import Gunicorn, gunicorn, read_only, redis_process

APOLOGY = "Sorry, something went wrong on our side. Let me get you to a representative."


def _dial(server: Gunicorn) -> tuple[int, ElementTree.Element, str | None]:
    """A new call's first webhook, as Twilio posts it: status, TwiML, and the state it reached."""
    fields = {"CallSid": "CA" + secrets.token_hex(16), "To": MAIN, "From": "+15551230000"}
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(server.url + "/voice", data=data, timeout=15) as answer:  # noqa: S310
            status, body, state = int(answer.status), answer.read(), answer.headers.get("X-IVR-State")
    except urllib.error.HTTPError as error:
        status, body, state = int(error.code), error.read(), None
    return status, ElementTree.fromstring(body), state


def _says(root: ElementTree.Element) -> list[str]:
    return [(say.text or "").strip() for say in root.iter("Say")]


def _assert_apology(server: Gunicorn) -> None:
    status, root, state = _dial(server)
    assert status == 200, server.text()[-3000:]
    assert root.tag == "Response" and _says(root)[0] == APOLOGY
    assert state is None  # no menu: the call was not started
    assert [e.tag for e in root] == ["Say", "Say", "Enqueue"]


def _assert_menu(server: Gunicorn) -> None:
    status, root, state = _dial(server)
    assert (status, state) == (200, "main_menu"), server.text()[-3000:]
    assert root.find("Gather") is not None


def _readiness(server: Gunicorn) -> tuple[int, dict[str, object]]:
    status, body = server.get("/readyz")
    return status, json.loads(body)


def _alive_through_a_worker_restart(server: Gunicorn) -> None:
    server.reload()
    assert server.proc.poll() is None, f"gunicorn shut down:\n{server.text()[-3000:]}"
    assert "Worker failed to boot" not in server.text()
    assert server.get("/healthz")[0] == 200  # alive: do not restart it


def test_workers_restarted_while_redis_is_down_boot_apologise_and_recover(tmp_path: Path) -> None:
    with redis_process(tmp_path) as redis_server:
        settings = {"IVR_REDIS_URL": redis_server.url, "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key")}
        with gunicorn(settings, tmp_path) as server:
            _assert_menu(server)
            redis_server.stop()
            _alive_through_a_worker_restart(server)
            _assert_apology(server)
            status, ready = _readiness(server)
            assert status == 503 and ready["status"] == "not ready"
            assert f"127.0.0.1:{redis_server.port}" in str(ready["reason"])
            assert "store unavailable" in server.text()  # the operator's log line, once a request

            redis_server.start()  # back, and empty
            _assert_menu(server)
            assert _readiness(server)[0] == 200
            assert "Traceback" not in server.text()


def test_workers_booting_while_redis_is_down_start_and_recover(tmp_path: Path) -> None:
    with redis_process(tmp_path) as redis_server:
        redis_server.stop()
        settings = {"IVR_REDIS_URL": redis_server.url, "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key")}
        with gunicorn(settings, tmp_path) as server:
            assert server.get("/healthz")[0] == 200
            _assert_apology(server)
            redis_server.start()
            _assert_menu(server)


def test_workers_restarted_while_sqlite_is_read_only_boot_apologise_and_recover(tmp_path: Path) -> None:
    database = tmp_path / "ivr.sqlite3"
    settings = {"IVR_DATABASE": str(database), "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key")}
    with gunicorn(settings, tmp_path) as server:
        _assert_menu(server)
        with read_only(database):
            _alive_through_a_worker_restart(server)
            _assert_apology(server)
            status, ready = _readiness(server)
            assert status == 503 and "readonly" in str(ready["reason"])
        _assert_menu(server)
        assert _readiness(server)[0] == 200
