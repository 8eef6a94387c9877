"""The benchmark's reference servers do what the report says, or its comparison means nothing.

(a), the floor, answers every POST with one Gather; (m), the least-work bound, must really check
the signature and really commit a write per request, or it would be a bound too low to matter.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from ivr.sim.twiml_rules import validate_twiml

BENCH = Path(__file__).resolve().parent.parent / "bench"
TOKEN = "test-made-up-token"
FIELDS = {"CallSid": "CAbench0001", "From": "+15551230000", "To": "+18002372765", "Digits": "2"}
URL = "http://localhost/voice/input?step=1"


def _bench_module(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return __import__(name)


def _signed(url: str, fields: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, fields)}


def test_floor_answers_any_post_with_the_same_gather() -> None:
    client = _bench_module("static_app").create_app().test_client()
    first = client.post("/voice", data=FIELDS)
    second = client.post("/voice/input?step=3", data={**FIELDS, "Digits": "9"})
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    gather = validate_twiml(first.data).find("Gather")  # raises on TwiML Twilio would refuse
    assert gather is not None and gather.get("action") == "/voice/input?step=1"


@pytest.fixture
def least_work(tmp_path: Path) -> tuple[FlaskClient, Path]:
    database = tmp_path / "m.sqlite3"
    app: Flask = _bench_module("minimal_app").create_app(str(database), TOKEN)
    return app.test_client(), database


def _steps(database: Path, call_sid: str) -> int | None:
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT steps FROM steps WHERE sid = ?", (call_sid,)).fetchone()
    return None if row is None else int(row[0])


def test_least_work_commits_one_write_per_signed_request(least_work: tuple[FlaskClient, Path]) -> None:
    client, database = least_work
    for _ in range(3):
        answer = client.post(URL, data=FIELDS, headers=_signed(URL, FIELDS))
        assert answer.status_code == 200
        assert validate_twiml(answer.data).find("Gather/Say") is not None
    assert _steps(database, FIELDS["CallSid"]) == 3


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="unsigned"),
        pytest.param(_signed(URL, {**FIELDS, "Digits": "1"}), id="signed-for-other-fields"),
        pytest.param(_signed("http://localhost/voice/input?step=2", FIELDS), id="signed-for-other-url"),
    ],
)
def test_least_work_refuses_what_twilio_did_not_sign_and_writes_nothing(
    least_work: tuple[FlaskClient, Path], headers: dict[str, str]
) -> None:
    client, database = least_work
    assert client.post(URL, data=FIELDS, headers=headers).status_code == 403
    assert _steps(database, FIELDS["CallSid"]) is None
