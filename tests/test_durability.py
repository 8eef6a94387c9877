"""A server killed with SIGKILL mid-call and started again continues the call where it was."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

from ivr.engine.ssml import spoken_text
from ivr.sim.twiml_rules import validate_twiml

from .flow_text import confirm, prompt
from .narrowing import found
from .servers import ROOT, free_port, start_flask


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IVR_DATABASE": str(db), "PYTHONPATH": str(ROOT)}
    env.pop("TWILIO_AUTH_TOKEN", None)
    return start_flask(port, env)


def _post(port: int, path: str, fields: dict[str, str]) -> ElementTree.Element:
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as r:
        return validate_twiml(r.read())


def _heard(root: ElementTree.Element) -> str:
    return " ".join(spoken_text(say) for say in root.iter("Say"))


def test_sigkill_mid_call_then_restart(tmp_path: Path) -> None:
    db = tmp_path / "ivr.sqlite3"
    port = free_port()
    fields = {"CallSid": "CA" + "d" * 32, "To": "+18002372765", "From": "+15551230000"}
    server = _start(db, port)
    try:
        _post(port, "/voice", fields)
        root = _post(port, "/voice/input?step=0", {**fields, "Digits": "3"})
        assert _heard(root) == f"{confirm('medicare_menu')} {prompt('medicare_menu')}"
        action = found(root, "Gather").attrib["action"]
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    server = _start(db, port)
    try:
        root = _post(port, action, {**fields, "Digits": "2"})
        assert _heard(root) == f"{confirm('medicare_lis')} {prompt('medicare_lis')}"
        assert "low-income subsidy" in _heard(root)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
