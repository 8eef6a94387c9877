"""A server killed with SIGKILL mid-call and started again continues the call where it was."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from ivr.twiml_rules import validate_twiml

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IVR_DATABASE": str(db), "PYTHONPATH": str(ROOT)}
    env.pop("TWILIO_AUTH_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _post(port: int, path: str, fields: dict[str, str]):
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as r:
        return validate_twiml(r.read())


def test_sigkill_mid_call_then_restart(tmp_path):
    db = tmp_path / "ivr.sqlite3"
    port = _free_port()
    fields = {"CallSid": "CAkill", "To": "+18002372765", "From": "+15551230000"}
    server = _start(db, port)
    try:
        _post(port, "/voice", fields)
        root = _post(port, "/voice/input?step=0", {**fields, "Digits": "3"})
        assert "Medicare Part D support" in root.find(".//Say").text
        action = root.find("Gather").attrib["action"]
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    server = _start(db, port)
    try:
        root = _post(port, action, {**fields, "Digits": "2"})
        assert "low-income subsidy" in root.find(".//Say").text
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
