"""The production server under attack and fault, with real processes (issue 12, items 3 and 8).

Gunicorn runs with the repo's gunicorn.conf.py, on a real SQLite file, signatures on (one
worker where a test is about what a request gets, not about workers sharing the load); the
attacks are real sockets (slow headers, forged forwarded headers, chunked bodies) and the faults
real processes (another process holding the SQLite write lock or the writers' flock). No
assertion times anything: each request only has to be answered within a generous bound (Twilio
gives a webhook 15 s).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

import pytest

from ivr.sim.signing import Signer

from .phone import MAIN
from .servers import ROOT, Gunicorn, clean_env, free_port, gunicorn

_spec = importlib.util.spec_from_file_location("slow_clients", ROOT / "bench" / "slow_clients.py")
assert _spec is not None and _spec.loader is not None
slow_clients = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slow_clients)  # bench/ is not a package: its scripts import each other flat
SlowClients = slow_clients.SlowClients

TOKEN = "hardening-token"
APOLOGY = "Sorry, something went wrong on our side. Let me get you to a representative."
BOUND = 10.0  # seconds: generous, for a loaded 2-core machine; Twilio waits 15
TWILIO_WAIT = 14.0  # just under Twilio's 15 s: an answer after that is one nobody hears


def _settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
        "IVR_TRAINER": "0",  # a real number's trainer page needs a password: not these tests'
        **extra,
    }


def _sid() -> str:
    return "CA" + secrets.token_hex(16)


def _post(
    base_url: str,
    path: str,
    fields: dict[str, str],
    *,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = BOUND,
) -> tuple[int, ElementTree.Element, str | None]:
    """POST a webhook signed for `signed_url` (the URL itself by default): status, TwiML, state."""
    url = base_url + path
    signature = Signer(TOKEN).headers(signed_url or url, fields)
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(fields).encode(), headers={**signature, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback
            status, body, state = int(answer.status), answer.read(), answer.headers.get("X-IVR-State")
    except urllib.error.HTTPError as error:
        status, body, state = int(error.code), error.read(), None
    return status, ElementTree.fromstring(body), state


def _dial(
    server: Gunicorn, sid: str | None = None, timeout: float = BOUND, **fields: str
) -> tuple[int, ElementTree.Element, str | None]:
    return _post(server.url, "/voice", {"CallSid": sid or _sid(), "To": MAIN, **fields}, timeout=timeout)


def _says(root: ElementTree.Element) -> list[str]:
    return [(say.text or "").strip() for say in root.iter("Say")]


def _healthz(base_url: str) -> int:
    with urllib.request.urlopen(base_url + "/healthz", timeout=BOUND) as answer:  # noqa: S310
        return int(answer.status)


# -- item 3: slow clients ----------------------------------------------------------------------


def test_fifty_slow_clients_leave_healthz_and_a_signed_webhook_answering(tmp_path: Path) -> None:
    with gunicorn(_settings(tmp_path), tmp_path) as server:
        with SlowClients("127.0.0.1", server.port, 50) as slow:
            time.sleep(1.5)  # every socket accepted and trickling: under gthread, 8 held every thread
            assert _healthz(server.url) == 200
            status, root, state = _dial(server)
            assert (status, state) == (200, "main_menu"), server.text()[-3000:]
            assert root.find("Gather") is not None
            assert slow.still_open() == 50  # they were held open all along: the attack was on


@pytest.mark.parametrize(
    ("extra", "worker"),
    [({}, "gevent"), ({"IVR_WORKER_CLASS": "sync"}, "sync"), ({"IVR_WORKER_CLASS": "gthread"}, "gthread")],
    ids=["default", "sync", "gthread"],
)
def test_the_worker_class_asked_for_is_the_one_gunicorn_runs(
    tmp_path: Path, extra: dict[str, str], worker: str
) -> None:
    """gunicorn runs gthread in place of any class when threads > 1: a sync worker must get one."""
    with gunicorn(_settings(tmp_path, **extra), tmp_path, workers=1) as server:
        status, _root, state = _dial(server)
        assert (status, state) == (200, "main_menu"), server.text()[-3000:]
        assert f"Using worker: {worker}\n" in server.text()


# -- item 8a: forwarded headers are the app's to trust -------------------------------------------


def test_without_trust_proxy_gunicorn_ignores_forwarded_proto_from_loopback(tmp_path: Path) -> None:
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}
    with gunicorn(_settings(tmp_path, IVR_TRUST_PROXY="0"), tmp_path, workers=1) as server:
        fields = {"CallSid": _sid(), "To": MAIN}
        as_https = server.url.replace("http://", "https://") + "/voice"
        # Signed for https: valid only if the forged header made the request look like https.
        assert _post(server.url, "/voice", fields, signed_url=as_https, headers=forged)[0] == 403
        assert _post(server.url, "/voice", fields, headers=forged)[2] == "main_menu"  # still http


def test_with_trust_proxy_the_app_honours_forwarded_proto(tmp_path: Path) -> None:
    proxied = {"X-Forwarded-Proto": "https"}
    with gunicorn(_settings(tmp_path, IVR_TRUST_PROXY="1"), tmp_path, workers=1) as server:
        fields = {"CallSid": _sid(), "To": MAIN}
        as_https = server.url.replace("http://", "https://") + "/voice"
        assert _post(server.url, "/voice", fields, signed_url=as_https, headers=proxied)[2] == "main_menu"
        assert _post(server.url, "/voice", fields, headers=proxied)[0] == 403  # signed for http


# -- item 8b, 8c: fields no Twilio call sends ----------------------------------------------------


def test_long_call_sids_are_refused_whole_never_cut_into_one_session(tmp_path: Path) -> None:
    shared = "CA" + "ab" * 31  # 64 characters: the old cut
    with gunicorn(_settings(tmp_path), tmp_path, workers=1) as server:
        for sid in (shared + "1", shared + "2", "CA" + "AB" * 16, "CAkill"):
            status, root, state = _dial(server, sid)
            assert (status, state) == (400, None), sid
            assert "is not a Twilio call SID" in _says(root)[0]
        assert _dial(server, "CA" + secrets.token_hex(16))[2] == "main_menu"  # Twilio's own shape
    db = sqlite3.connect(tmp_path / "ivr.sqlite3")
    try:
        stored = [sid for (sid,) in db.execute("SELECT call_sid FROM calls")]
    finally:
        db.close()
    assert len(stored) == 1 and not stored[0].startswith(shared)


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_simulated_clock_out_of_range_is_a_400_that_says_why(tmp_path: Path, now: str) -> None:
    with gunicorn(_settings(tmp_path), tmp_path, workers=1) as server:
        status, root, state = _dial(server, SimulatedNow=now)
        assert (status, state) == (400, None), server.text()[-3000:]
        assert _says(root) == [
            f"Request refused: SimulatedNow={now!r} is out of range: the clock takes a time from "
            "1900 to 2199, e.g. 2026-11-24T21:30:00-06:00"
        ]
        assert "Traceback" not in server.text()
        assert _dial(server, SimulatedNow="2026-11-24T21:30:00-06:00")[2] == "main_menu"


def test_a_trainer_clock_out_of_range_is_a_400_that_says_why(tmp_path: Path) -> None:
    settings = {**_settings(tmp_path), "IVR_TRAINER": "1"}
    del settings["TWILIO_AUTH_TOKEN"]  # a local trainer, no password
    with gunicorn(settings, tmp_path, workers=1) as server:
        # As the page does: its session cookie, and its CSRF token when it has one.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(server.url + "/", timeout=BOUND) as page:
            token = re.search(r'name="csrf-token" content="([^"]+)"', page.read().decode())
        headers = {"Content-Type": "application/json", "Origin": server.url}
        if token:
            headers["X-CSRF-Token"] = token.group(1)
        request = urllib.request.Request(
            server.url + "/trainer/api/calls",
            data=json.dumps({"line": "main", "now": "9999-12-31T23:59:59-12:00"}).encode(),
            headers=headers,
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            browser.open(request, timeout=BOUND)
        assert refused.value.code == 400
        assert "is out of range" in refused.value.read().decode()
        assert "Traceback" not in server.text()


# -- item 8d: a chunked body over the limit --------------------------------------------------------


def _chunked(server: Gunicorn, fields: dict[str, str]) -> int:
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers.update(Signer(TOKEN).headers(server.url + "/voice", fields))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=BOUND)
    try:
        chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
        connection.request("POST", "/voice", body=chunks, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


def test_a_chunked_body_over_64_kib_is_413_and_a_small_one_is_served(tmp_path: Path) -> None:
    with gunicorn(_settings(tmp_path), tmp_path, workers=1) as server:
        call = {"CallSid": _sid(), "To": MAIN, "From": "+15551230000"}
        assert _chunked(server, {**call, "SpeechResult": "a" * (70 * 1024)}) == 413
        assert _chunked(server, {**call, "SpeechResult": "billing"}) == 200


# -- item 8e: a held SQLite lock -------------------------------------------------------------------

HOLDERS = {
    # Another process in a write transaction: an sqlite3 shell, a backup, a stuck job.
    "sqlite-write-lock": (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN IMMEDIATE')\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    ),
    # A writer of ours stuck while holding the writers' flock (a worker stopped mid-request).
    "writers-flock": (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1] + '.lock', os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    ),
}


@contextmanager
def _held(kind: str, database: Path) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDERS[kind], str(database)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        yield
    finally:
        holder.kill()
        holder.wait(10)


@pytest.mark.parametrize("kind", sorted(HOLDERS))
def test_a_held_lock_gives_the_spoken_fallback_before_twilio_gives_up(tmp_path: Path, kind: str) -> None:
    with gunicorn(_settings(tmp_path), tmp_path) as server:
        assert _dial(server)[2] == "main_menu"  # the file is set up
        with _held(kind, tmp_path / "ivr.sqlite3"):
            answers: list[tuple[int, ElementTree.Element, str | None]] = []
            waiting = threading.Thread(target=lambda: answers.append(_dial(server, timeout=TWILIO_WAIT)))
            waiting.start()
            assert _healthz(server.url) == 200  # the worker's other requests go on meanwhile
            status, body = server.get("/readyz")  # not ready while it lasts, and why
            assert status == 503 and "for more than 5 s" in json.loads(body)["reason"]
            waiting.join(TWILIO_WAIT + 5)
            assert answers, "the webhook did not answer before Twilio gives up"
            status, root, state = answers[0]
            assert (status, state) == (200, None)
            assert _says(root)[0] == APOLOGY and [e.tag for e in root] == ["Say", "Say", "Enqueue"]
        log = server.text()
        assert "store unavailable for /voice" in log and "for more than 5 s" in log, log[-3000:]
        assert _dial(server)[2] == "main_menu"  # lock released: served again, no restart


# -- item 8f: the signed URL is the one being served -----------------------------------------------


@contextmanager
def _behind_path_only_gateway(settings: dict[str, str], workdir: Path) -> Iterator[str]:
    """gunicorn (repo config) serving tests/hardening_front.py; yields its base URL."""
    port = free_port()
    env = clean_env({**settings, "IVR_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"})
    command = [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "gunicorn.conf.py")]
    log = workdir / "front.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--no-control-socket", "tests.hardening_front:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                _healthz(url)
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_raw_target_without_the_query_does_not_leave_the_query_unsigned(tmp_path: Path) -> None:
    with _behind_path_only_gateway(_settings(tmp_path), tmp_path) as url:
        sid = _sid()
        status, root, state = _post(url, "/voice", {"CallSid": sid, "To": MAIN})
        assert state == "main_menu"
        gather = root.find("Gather")
        assert gather is not None and gather.get("action") == "/voice/input?step=0"
        fields = {"CallSid": sid, "To": MAIN, "Digits": "2"}
        # Signed for the path alone, sent with a query the app acts on: refused.
        unsigned_query = _post(url, "/voice/input?step=0", fields, signed_url=url + "/voice/input")
        assert unsigned_query[0] == 403
        # Signed as Twilio signs it, query and all: served.
        assert _post(url, "/voice/input?step=0", fields)[2] == "billing_menu"
