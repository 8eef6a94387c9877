"""Under gunicorn the app's own log lines reach gunicorn's error log, stamped as its lines are;
under `make run` (Flask's development server, app:create_dev_app()) the terminal, stamped alike.

Real processes: gunicorn with the repo's gunicorn.conf.py and one worker, a simulated call over
HTTP. Before, the app's loggers had no handler: an operator saw the bare text of a warning (no
time, no level, no pid) and no line at all of a call starting, moving or ending.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import pytest

from ivr import SimulatedCall
from ivr.sim.transport import HttpTransport

from .phone import MAIN
from .servers import Gunicorn, clean_env, free_port, start_flask

STAMP = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\]"
SID = r"CA[0-9a-f]{32}"


def _one_call(url: str) -> str:
    call = SimulatedCall(HttpTransport(), MAIN, base_url=url, caller="+15551230000").dial()
    call.press("2")
    call.hangup()
    assert call.transcript.steps[-2].state == "billing_menu", call.transcript.steps[-2]
    return call.call_sid


def _log(tmp_path: Path, level: str | None, **more: str) -> tuple[str, str]:
    settings = {"IVR_DATABASE": str(tmp_path / "ivr.sqlite3"), "IVR_TRAINER": "0", **more}
    if level is not None:
        settings["IVR_LOG_LEVEL"] = level
    server = Gunicorn(settings, tmp_path, workers=1)
    try:
        # Not servers.gunicorn(): it waits for the "Booting worker" line, an info line itself.
        deadline = time.monotonic() + 30
        while server.proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if server.get("/healthz")[0] == 200:
                    break
            time.sleep(0.05)
        sid = _one_call(server.url)
    finally:
        server.stop()
    return server.text(), sid


def test_a_calls_start_and_end_are_logged_with_gunicorns_stamp(tmp_path: Path) -> None:
    text, sid = _log(tmp_path, None)  # the default level, info
    lines = text.splitlines()
    ours = [line for line in lines if sid in line]
    assert len(ours) == 2, text[-3000:]
    assert re.fullmatch(rf"{STAMP} \[INFO\] call {sid} started on main line: main_menu", ours[0]), ours
    assert re.fullmatch(rf"{STAMP} \[INFO\] call {sid} ended: completed", ours[1]), ours
    # The start-up warning of an unsigned app, stamped too, once (not also bare on stderr).
    warned = [line for line in lines if "TWILIO_AUTH_TOKEN is not set" in line]
    assert len(warned) == 1 and re.match(rf"{STAMP} \[WARNING\] TWILIO_AUTH_TOKEN is not set", warned[0])
    assert "+15551230000" not in text and "1230000" not in text  # the caller's number: never


def test_at_debug_every_step_of_the_call_is_logged_too(tmp_path: Path) -> None:
    text, sid = _log(tmp_path, "debug")
    ours = [line for line in text.splitlines() if sid in line]
    assert len(ours) == 3, text[-3000:]
    assert re.fullmatch(rf"{STAMP} \[DEBUG\] call {sid}: main_menu --press_2--> billing_menu", ours[1]), ours


def test_an_operators_own_logging_configuration_of_the_app_is_kept(tmp_path: Path) -> None:
    """gunicorn --log-config-json giving the app's logger a file of its own: the lines go there."""
    ours = tmp_path / "ivr.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        # gunicorn merges this over its defaults key by key: its own handlers are named again.
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
            "error_console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "ivr_file": {"class": "logging.FileHandler", "filename": str(ours)},
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "ivr": {"level": "INFO", "handlers": ["ivr_file"], "propagate": False},
        },
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    text, sid = _log(tmp_path, None, GUNICORN_CMD_ARGS=f"--log-config-json {path}")
    assert sid not in text, text[-3000:]
    assert f"call {sid} started on main line: main_menu" in ours.read_text(encoding="utf-8")


@pytest.mark.parametrize("level", ["warning", "error"])
def test_ivr_log_level_above_info_keeps_the_calls_lines_out(tmp_path: Path, level: str) -> None:
    text, sid = _log(tmp_path, level)
    assert sid not in text, text[-3000:]
    warned = "TWILIO_AUTH_TOKEN is not set" in text
    assert warned is (level == "warning")


def test_make_runs_development_server_logs_the_calls_lines_stamped_too(tmp_path: Path) -> None:
    log = tmp_path / "flask.log"
    port = free_port()
    env = clean_env({"IVR_DATABASE": str(tmp_path / "ivr.sqlite3"), "IVR_TRAINER": "0"})
    proc = start_flask(port, env, log, app="app:create_dev_app()")
    try:
        sid = _one_call(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text(encoding="utf-8", errors="replace")
    ours = [line for line in text.splitlines() if sid in line]
    assert len(ours) == 2, text[-3000:]
    assert re.fullmatch(rf"{STAMP} \[INFO\] call {sid} started on main line: main_menu", ours[0]), ours
    assert re.fullmatch(rf"{STAMP} \[INFO\] call {sid} ended: completed", ours[1]), ours
    assert re.search(rf"^{STAMP} \[WARNING\] TWILIO_AUTH_TOKEN is not set", text, re.M), text[-3000:]
    assert "POST /voice" in text  # the development server's own request lines, as before
