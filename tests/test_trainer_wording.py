"""The trainer API's words and times (issue 13): counted nouns, what a key that stays does, calls in
progress apart from how calls ended, transfers in words, times in Central; and the beacon that
hangs a page call up when its tab closes."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from .conftest import BrowserClient

API = "/trainer/api"


def _place(client: FlaskClient, *keys: str) -> dict[str, Any]:
    detail = client.post(f"{API}/calls", json={"line": "main"}).get_json()
    for key in keys:
        detail = client.post(f"{API}/calls/{detail['call']['call_sid']}/press", json={"keys": key}).get_json()
    return dict(detail)


def test_analytics_speak_of_choices_and_calls_in_words(client: FlaskClient) -> None:
    _place(client, "2", "0")
    _place(client, "9")  # stays in the menu, in Spanish; still going
    figures = client.get(f"{API}/lines/main/analytics").get_json()["analytics"]
    assert figures["in_progress"] == 1 and "in progress" not in figures["outcome_kinds"]
    assert "in progress" not in figures["outcomes"]
    assert figures["outcome_labels"] == {"transfer:representative": "transferred to a representative"}
    menu = figures["choices"]["main_menu"]
    assert menu["total_label"] == "2 choices"
    assert figures["choices"]["billing_menu"]["total_label"] == "1 choice"
    assert menu["options"]["9"]["label"] == "9: switches language"
    assert menu["options"]["2"]["label"] == "2 → billing menu"
    assert figures["calls_label"] == "2 calls"


def test_times_are_given_in_central(client: FlaskClient) -> None:
    detail = _place(client, "0")
    started = detail["call"]["started_local"]
    assert started["iso"].endswith(("-06:00", "-05:00")) and started["text"].endswith(("CST", "CDT"))
    assert detail["call"]["time_zone"] == "America/Chicago"
    assert all(step["at_local"]["iso"].endswith(("-06:00", "-05:00")) for step in detail["steps"])
    assert detail["call"]["outcome_label"] == "transferred to a representative"
    assert detail["live"]["outcome_label"] == "transferred to the representative queue"
    history = client.get(f"{API}/calls").get_json()["calls"]
    assert history[0]["started_local"] == started


def test_a_beacon_hangs_the_page_call_up(app: Flask) -> None:
    client = app.test_client()
    assert isinstance(client, BrowserClient)
    sid = _place(client)["call"]["call_sid"]
    beacon = client.post(
        f"{API}/calls/{sid}/beacon-hangup",
        data=json.dumps({"csrf_token": client.csrf_token()}),
        headers={"Origin": "http://localhost", "X-CSRF-Token": ""},
        content_type="application/json",
    )
    assert beacon.status_code == 204, beacon.get_data(as_text=True)
    record = app.extensions["ivr"].store.get_call(sid)
    assert record is not None and record.outcome == "hung up in main_menu"
    again = client.post(
        f"{API}/calls/{sid}/beacon-hangup",
        data=json.dumps({"csrf_token": client.csrf_token()}),
        content_type="application/json",
    )
    assert again.status_code == 204  # nothing left to hang up is not an error
    forged = client.post(
        f"{API}/calls/{sid}/beacon-hangup",
        data=json.dumps({"csrf_token": "forged"}),
        headers={"X-CSRF-Token": ""},
        content_type="application/json",
    )
    assert forged.status_code == 403
