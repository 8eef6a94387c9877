"""A short Locust run of load/locustfile.py against our app served on a loopback port."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "load" / "locustfile.py"
OPEN_HOURS = "2026-11-23T10:00:00-06:00"
USERS, SECONDS, STEP = 5, 6, 0.2

# Locust is imported only by its own process: importing it here would monkey-patch this one.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason="locust is not installed: pip install -e '.[load]' to run the load test",
)

BILLING = """\
name: Billing menu by keys
line: main
steps:
  - expect: Thanks for calling
  - press: "2"
  - expect: {contains: Billing and insurance}
  - press: "0"
outcome: {kind: enqueue, target: sim-representative}
"""
REPRESENTATIVE = """\
name: Representative by voice
line: main
steps:
  - say: representative
  - expect_state: representative
outcome: {kind: enqueue}
"""
WRONG = """\
name: Expects what is never said
line: specialty
steps:
  - press: "1"
  - expect: {contains: Press 7 for the moon}
"""


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_short_load_run_records_each_webhook_and_each_scenario(tmp_path: Path, server: str) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "billing.yaml").write_text(BILLING, encoding="utf-8")
    (folder / "representative.yaml").write_text(REPRESENTATIVE, encoding="utf-8")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(WRONG, encoding="utf-8")
    env = {**os.environ, "IVR_SCENARIOS": f"{folder}{os.pathsep}{wrong}", "IVR_STEP_SECONDS": str(STEP)}
    env.pop("TWILIO_AUTH_TOKEN", None)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(USERS),
        "-r",
        str(USERS),
        "-t",
        f"{SECONDS}s",
        "--host",
        server,
        "--csv",
        str(tmp_path / "run"),
        "--only-summary",
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (tmp_path / "run_stats.csv").exists(), done.stderr[-3000:]

    stats = {(row["Type"], row["Name"]): row for row in read_rows(tmp_path / "run_stats.csv")}
    count = {key: int(row["Request Count"]) for key, row in stats.items()}
    failed = {key: int(row["Failure Count"]) for key, row in stats.items()}
    webhooks = [
        ("POST", "/voice"),
        ("POST", "/voice/input"),
        ("POST", "/voice/status"),
        ("POST", "/voice/hold"),
    ]
    for key in webhooks:
        assert count.get(key, 0) > 0, (key, sorted(count))
        assert failed[key] == 0, (key, done.stderr[-3000:])
    assert not [name for _, name in stats if "?" in name], "request names keep no query string"
    good = [("SCENARIO", "Billing menu by keys"), ("SCENARIO", "Representative by voice")]
    for key in good:
        assert count.get(key, 0) > 0, (key, sorted(count))
        assert failed[key] == 0, (key, done.stderr[-3000:])
    bad = ("SCENARIO", "Expects what is never said")
    assert count.get(bad, 0) > 0 and failed[bad] == count[bad]
    # the failing expectation, and nothing else, is what Locust counts as failures
    assert int(stats[("", "Aggregated")]["Failure Count"]) == failed[bad]
    failures = read_rows(tmp_path / "run_failures.csv")
    assert {row["Name"] for row in failures} == {bad[1]}
    assert all(
        "step 2 (expect contains 'Press 7 for the moon'): did not hear" in row["Error"] for row in failures
    )
    # Think time: a user waits STEP on average before each request of a call after the dial
    # (and between calls), so in SECONDS the users make at most about USERS * SECONDS / STEP of
    # those waits; without them they would make several times more.
    waits = count[("POST", "/voice/input")] + count[("POST", "/voice/hold")] + count[("POST", "/voice")]
    assert waits <= 1.5 * USERS * SECONDS / STEP, waits
    assert done.returncode == 1  # Locust's exit code when anything failed


def test_bad_scenario_files_stop_the_run_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: x\nline: main\nsteps:\n  - press: A\n", encoding="utf-8")
    env = {**os.environ, "IVR_SCENARIOS": str(tmp_path / "bad.yaml")}
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        "1",
        "-t",
        "1s",
        "--host",
        "http://127.0.0.1:9",
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot load the scenarios" in done.stderr
    assert "bad.yaml:4: step 1: field 'press'" in done.stderr


FALLBACK = """\
name: The voice URL fails, the fallback answers
line: main
outcome: {kind: enqueue}
"""


def _locust(
    tmp_path: Path, server: str, env: dict[str, str], seconds: int = 3
) -> dict[tuple[str, str], dict[str, str]]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        f"{seconds}s",
        "--host",
        server,
        "--csv",
        str(tmp_path / "run"),
        "--only-summary",
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (tmp_path / "run_stats.csv").exists(), done.stderr[-3000:]
    return {(row["Type"], row["Name"]): row for row in read_rows(tmp_path / "run_stats.csv")}


def test_the_number_settings_come_from_the_environment(tmp_path: Path, server: str) -> None:
    """IVR_VOICE_URL/IVR_VOICE_METHOD, IVR_STATUS_CALLBACK (URL, method, events) and
    IVR_FALLBACK_URL/IVR_FALLBACK_METHOD are the number's settings of every call of the load."""
    (tmp_path / "fallback.yaml").write_text(FALLBACK, encoding="utf-8")
    env = {
        **os.environ,
        "IVR_SCENARIOS": str(tmp_path / "fallback.yaml"),
        "IVR_STEP_SECONDS": "0",
        "IVR_VOICE_URL": "/voice/nowhere",
        "IVR_VOICE_METHOD": "GET",
        "IVR_FALLBACK_URL": "/voice/fallback",
        "IVR_FALLBACK_METHOD": "GET",
        "IVR_STATUS_CALLBACK": "/voice/status",
        "IVR_STATUS_CALLBACK_METHOD": "POST",
        "IVR_STATUS_CALLBACK_EVENTS": "initiated, ringing answered completed",
    }
    env.pop("TWILIO_AUTH_TOKEN", None)
    stats = _locust(tmp_path, server, env)
    count = {key: int(row["Request Count"]) for key, row in stats.items()}
    failed = {key: int(row["Failure Count"]) for key, row in stats.items()}

    calls = count.get(("SCENARIO", "The voice URL fails, the fallback answers"), 0)
    assert calls > 0 and failed[("SCENARIO", "The voice URL fails, the fallback answers")] == 0, sorted(count)
    assert count[("GET", "/voice/nowhere")] >= calls  # the voice URL, by GET: a 404 ...
    assert (
        count[("GET", "/voice/fallback")] >= calls and failed[("GET", "/voice/fallback")] == 0
    )  # ... then the fallback
    assert ("POST", "/voice") not in count  # the default voice URL is never requested
    # initiated, ringing, answered and completed: four status callbacks a call
    assert count[("POST", "/voice/status")] >= 4 * calls - 4 and failed[("POST", "/voice/status")] == 0


def _locustfile_answer(tmp_path: Path, body: str, extra_env: dict[str, str] | None = None) -> Any:
    """Run `body` after `import locustfile` in a process of its own (importing Locust
    monkey-patches the interpreter), with FALLBACK as the scenarios; its last line, as JSON."""
    (tmp_path / "s.yaml").write_text(FALLBACK, encoding="utf-8")
    script = f"import json, sys\nsys.path.insert(0, {str(LOCUSTFILE.parent)!r})\nimport locustfile\n" + body
    env = {**os.environ, "IVR_SCENARIOS": str(tmp_path / "s.yaml"), **(extra_env or {})}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_number_settings_parse_the_environment(tmp_path: Path) -> None:
    """number_settings and request_fields read the environment as SimulatedCall keywords
    (run in a process of its own: importing Locust monkey-patches the interpreter)."""
    settings, fields, empty = _locustfile_answer(
        tmp_path,
        (
            "env = {'IVR_VOICE_URL': '/ivr/welcome', 'IVR_VOICE_METHOD': 'GET', 'IVR_STATUS_CALLBACK': ' ',\n"
            "       'IVR_STATUS_CALLBACK_EVENTS': 'answered,completed', 'IVR_FALLBACK_URL': '/fb',\n"
            "       'IVR_FIELDS': 'FromState=CA, FromCity = Oakland'}\n"
            "print(json.dumps([locustfile.number_settings(env), locustfile.request_fields(env),\n"
            "                  locustfile.number_settings({})]))\n"
        ),
    )
    assert settings == {
        "voice_url": "/ivr/welcome",
        "voice_method": "GET",
        "status_callback_events": ["answered", "completed"],
        "fallback_url": "/fb",
    }  # a blank IVR_STATUS_CALLBACK leaves the default
    assert fields == {"FromState": "CA", "FromCity": "Oakland"}
    assert empty == {}


def test_calls_hop_between_two_instances_sharing_one_store(tmp_path: Path) -> None:
    """IVR_HOSTS: each webhook goes to the next instance, signed again for it; state is shared."""
    from app import create_app  # after the module's skip check: the app itself needs no Locust

    from .servers import served

    token = "test-made-up-token"
    counts = {"a": 0, "b": 0}

    def counting(app: Any, name: str) -> Any:
        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            counts[name] += 1
            return app(environ, start_response)

        return wsgi

    settings = {
        "TESTING": True,
        "DATABASE": str(tmp_path / "shared.sqlite3"),
        "NOW": OPEN_HOURS,
        "TWILIO_AUTH_TOKEN": token,
        "SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "TRAINER": "0",
    }
    first, second = create_app(dict(settings)), create_app(dict(settings))
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "billing.yaml").write_text(BILLING, encoding="utf-8")
    with served(counting(first, "a")) as url_a, served(counting(second, "b")) as url_b:
        env = {
            **os.environ,
            "IVR_SCENARIOS": str(folder),
            "IVR_STEP_SECONDS": str(STEP),
            "IVR_HOSTS": f"{url_a} {url_b}",
            "TWILIO_AUTH_TOKEN": token,
        }
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "3", "-r", "3"]
        command += ["-t", "4s", "--host", url_a, "--csv", str(tmp_path / "run"), "--only-summary"]
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    for app in (first, second):
        app.extensions["ivr"].store.close()
    stats = {(row["Type"], row["Name"]): row for row in read_rows(tmp_path / "run_stats.csv")}
    scenario = stats[("SCENARIO", "Billing menu by keys")]
    assert int(scenario["Request Count"]) > 0 and int(scenario["Failure Count"]) == 0, done.stderr[-3000:]
    assert int(stats[("", "Aggregated")]["Failure Count"]) == 0, done.stderr[-3000:]
    # Both instances served steps, and about half each: the calls really hopped.
    assert counts["a"] > 0 and counts["b"] > 0, counts
    assert abs(counts["a"] - counts["b"]) <= 0.3 * (counts["a"] + counts["b"]), counts
    assert done.returncode == 0, done.stderr[-3000:]


def test_pooled_connections_above_descriptor_1024_are_reused_and_callers_arrive_spread(
    tmp_path: Path,
) -> None:
    """A worker holding thousands of users' sockets keeps reusing them: geventhttpclient's idle
    check asks select(), which refuses descriptors of 1024 and more, so each such socket was
    closed on its next use and a new connection opened (most requests of a 3,000-caller run).
    The locustfile's check uses poll(); it still finds a socket the server closed, or one with
    bytes nobody asked for. And each user's first call waits a random part of the think time,
    so a spawned batch of users does not dial in the same instant; and no two users share a
    calling number."""
    body = (
        "import os, resource\n"
        "import gevent, gevent.monkey, gevent.socket\n"
        "from geventhttpclient.connectionpool import ConnectionPool\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "if hard != resource.RLIM_INFINITY and hard < 1200:\n"
        "    print(json.dumps('skip')); sys.exit(0)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))\n"
        "filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]\n"
        "listener = gevent.socket.socket()\n"
        "listener.bind(('127.0.0.1', 0)); listener.listen()\n"
        "client = gevent.socket.create_connection(listener.getsockname())\n"
        "server, _ = listener.accept()\n"
        "pool = ConnectionPool.__new__(ConnectionPool)  # the check reads nothing of the pool\n"
        "out = {'fd': client.fileno()}\n"
        "try:\n"
        "    gevent.monkey.get_original('select', 'select')([client], [], [], 0)\n"
        "    out['select'] = 'answers'\n"
        "except ValueError:\n"
        "    out['select'] = 'refuses'\n"
        "out['idle'] = pool._is_socket_alive(client)\n"
        "server.sendall(b'x'); gevent.sleep(0.05)\n"
        "out['bytes waiting'] = pool._is_socket_alive(client)\n"
        "client.recv(1)\n"
        "out['read again'] = pool._is_socket_alive(client)\n"
        "server.close(); gevent.sleep(0.05)\n"
        "out['closed by the server'] = pool._is_socket_alive(client)\n"
        "client.close()\n"
        "out['closed here'] = pool._is_socket_alive(client)\n"
        "from locust.env import Environment\n"
        "delays, sleep = [], gevent.sleep\n"
        "locustfile.IvrCaller.host = 'http://127.0.0.1:9'\n"
        "environment = Environment(user_classes=[locustfile.IvrCaller])\n"
        "for _ in range(200):\n"
        "    user = locustfile.IvrCaller(environment)\n"
        "    gevent.sleep = lambda seconds=0, *args: delays.append(seconds)\n"
        "    user.on_start()\n"
        "    gevent.sleep = sleep\n"
        "out['delays'] = [min(delays), max(delays), len(delays)]\n"
        "out['from after start'] = [user.target.fields.get('From'), user.numbered]\n"
        "from types import SimpleNamespace as NS\n"
        "placed = []\n"
        "def fake_run(scenario, target):\n"
        "    placed.append(target.fields['From'])\n"
        "    return NS(passed=True, message='', transcript=NS(steps=[]))\n"
        "locustfile.run_scenario = fake_run\n"
        "user.place_call(); user.place_call()\n"
        "out['placed'] = placed\n"
        "class Worker: worker_index = 7\n"
        "out['numbers'] = [locustfile.caller_number(environment.runner) for _ in range(3)]\n"
        "out['worker numbers'] = [locustfile.caller_number(Worker()) for _ in range(2)]\n"
        "print(json.dumps(out))\n"
    )
    out = _locustfile_answer(tmp_path, body, {"IVR_STEP_SECONDS": "5"})
    if out == "skip":
        pytest.skip("this machine allows fewer than 1,200 open files")
    assert out["fd"] >= 1024 and out["select"] == "refuses"  # the case the fix is for
    assert out["idle"] is True and out["read again"] is True
    assert out["bytes waiting"] is False
    assert out["closed by the server"] is False and out["closed here"] is False
    low, high, count = out["delays"]
    assert count == 200 and 0 <= low < 0.5 and 4.5 < high <= 5  # spread over the think time
    # Every call a number of its own, drawn when it is placed (none when a user starts): one
    # after another, a worker's index first.
    assert out["from after start"] == [None, True]
    assert out["placed"] == ["+15550000000", "+15550000001"]
    assert out["numbers"] == ["+15550000002", "+15550000003", "+15550000004"]
    assert out["worker numbers"] == ["+15550700005", "+15550700006"]
