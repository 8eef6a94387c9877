"""Tests for ivr.twilio_number against a local HTTP server that imitates the Twilio REST API.

A real ``twilio.rest.Client`` is used; only its HTTP client is swapped for one that sends
``https://api.twilio.com/...`` requests to the local server instead.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.twilio_number import (
    ConfigureError,
    NumberConfig,
    client_from_env,
    configure_number,
    normalise_base_url,
    normalise_phone_number,
)

TWILIO_API = "https://api.twilio.com"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
OTHER_ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "authtoken-5ecret-0000-do-not-leak"
API_KEY = "SK" + "a1" * 16
API_SECRET = "apisecret-5ecret-1111-do-not-leak"
WRONG_TOKEN = "wrongtoken-5ecret-2222-do-not-leak"
SECRETS = (AUTH_TOKEN, API_SECRET, WRONG_TOKEN)

NUMBER = "+15550100000"
NUMBER_SID = "PN" + "1" * 32

EXPECTED_FORM = {
    "VoiceUrl": "https://ivr.example.com/voice",
    "VoiceMethod": "POST",
    "StatusCallback": "https://ivr.example.com/voice/status",
    "StatusCallbackMethod": "POST",
    "VoiceFallbackUrl": "https://ivr.example.com/voice/fallback",
    "VoiceFallbackMethod": "POST",
}

# Twilio's form parameter -> JSON field of an IncomingPhoneNumber.
FORM_TO_FIELD = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "TrunkSid": "trunk_sid",
    "FriendlyName": "friendly_name",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
}

LIST_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/IncomingPhoneNumbers\.json$")
ITEM_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/IncomingPhoneNumbers/(?P<sid>PN\w+)\.json$")


def number_resource(account_sid: str, sid: str, phone_number: str) -> dict[str, Any]:
    """An IncomingPhoneNumber as Twilio's API returns it."""
    uri = f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json"
    return {
        "account_sid": account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": "2010-04-01",
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        "date_created": "Thu, 30 Jul 2015 20:12:31 +0000",
        "date_updated": "Thu, 30 Jul 2015 20:12:33 +0000",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": phone_number,
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": phone_number,
        "sid": sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "status": "in-use",
        "status_callback": "",
        "status_callback_method": "POST",
        "subresource_uris": {
            "assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json"),
        },
        "trunk_sid": None,
        "uri": uri,
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": "https://demo.twilio.com/welcome/voice/",
    }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class FakeTwilio:
    """State of the imitation Twilio API: accounts, their numbers, recorded requests."""

    url: str = ""
    credentials: set[tuple[str, str]] = field(
        default_factory=lambda: {(ACCOUNT_SID, AUTH_TOKEN), (API_KEY, API_SECRET)}
    )
    numbers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    #: (status, JSON body) to answer every update with, instead of applying it.
    fail_update: tuple[int, dict[str, Any]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_number(
        self, phone_number: str, sid: str | None = None, account_sid: str = ACCOUNT_SID
    ) -> dict[str, Any]:
        owned = self.numbers.setdefault(account_sid, [])
        sid = sid or "PN" + f"{len(owned) + 0xA0:032x}"
        resource = number_resource(account_sid, sid, phone_number)
        owned.append(resource)
        return resource

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]


def _error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilioHandler(BaseHTTPRequestHandler):
    server: FakeTwilioServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self) -> Recorded:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            form=parse_qs(raw, keep_blank_values=True),
        )
        with self.server.fake.lock:
            self.server.fake.requests.append(recorded)
        return recorded

    def _authorised(self, recorded: Recorded) -> bool:
        if recorded.basic_auth in self.server.fake.credentials:
            return True
        self._send(401, _error_body(401, 20003, "Authenticate"))
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        fake = self.server.fake
        recorded = self._record()
        if not self._authorised(recorded):
            return
        match = LIST_PATH.match(recorded.path)
        if match is None:
            self._send(404, _error_body(404, 20404, "The requested resource was not found"))
            return
        account = match["account"]
        if account not in fake.numbers:
            self._send(
                404,
                _error_body(404, 20404, f"The requested resource {recorded.path} was not found"),
            )
            return
        records = fake.numbers[account]
        wanted = recorded.query.get("PhoneNumber", [None])[0]
        if wanted is not None:  # Twilio matches partial numbers
            records = [r for r in records if wanted in r["phone_number"]]
        page_size = int(recorded.query.get("PageSize", ["50"])[0])
        page = records[:page_size]
        uri = recorded.path + "?" + urlsplit(self.path).query
        self._send(
            200,
            {
                "end": max(len(page) - 1, 0),
                "first_page_uri": uri,
                "incoming_phone_numbers": page,
                "next_page_uri": None,
                "page": 0,
                "page_size": page_size,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        fake = self.server.fake
        recorded = self._record()
        if not self._authorised(recorded):
            return
        match = ITEM_PATH.match(recorded.path)
        owned = fake.numbers.get(match["account"], []) if match else []
        resource = next((r for r in owned if match and r["sid"] == match["sid"]), None)
        if resource is None:
            self._send(
                404,
                _error_body(404, 20404, f"The requested resource {recorded.path} was not found"),
            )
            return
        if fake.fail_update is not None:
            self._send(*fake.fail_update)
            return
        for key, values in recorded.form.items():
            if key in FORM_TO_FIELD:
                resource[FORM_TO_FIELD[key]] = values[-1]
        resource["date_updated"] = "Fri, 31 Jul 2015 10:00:00 +0000"
        self._send(200, resource)


class FakeTwilioServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeTwilio) -> None:
        super().__init__(("127.0.0.1", 0), FakeTwilioHandler)
        self.fake = fake


class LocalTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Twilio's own HTTP client, with https://api.twilio.com rewritten to a local server."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        assert self.session is not None
        self.session.trust_env = False  # no proxies from the environment for 127.0.0.1
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        assert url.startswith(TWILIO_API + "/"), url
        return super().request(method, self.base_url + url[len(TWILIO_API) :], *args, **kwargs)


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    server = FakeTwilioServer(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="fake-twilio", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_client(
    fake: FakeTwilio,
    username: str = ACCOUNT_SID,
    password: str = AUTH_TOKEN,
    account_sid: str | None = None,
) -> Client:
    return Client(
        username,
        password,
        account_sid,
        http_client=LocalTwilioHttpClient(fake.url),
        environment={"TWILIO_NOTHING": ""},
    )


def configure_error(client: Client, phone: str = NUMBER, base: str = "https://ivr.example.com") -> str:
    with pytest.raises(ConfigureError) as info:
        configure_number(client, phone, base)
    message = str(info.value)
    for secret in SECRETS:
        assert secret not in message
    return message


# --------------------------------------------------------------------------- happy paths


def test_configures_all_three_webhooks_in_one_post(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    client = make_client(twilio_api)

    config = configure_number(client, "+1 (555) 010-0000", "https://ivr.example.com/")

    assert config == NumberConfig(
        sid=NUMBER_SID,
        phone_number=NUMBER,
        voice_url="https://ivr.example.com/voice",
        status_callback="https://ivr.example.com/voice/status",
        fallback_url="https://ivr.example.com/voice/fallback",
        insecure_http=False,
        warnings=(),
    )

    get, post = twilio_api.requests
    assert get.method == "GET"
    assert get.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
    assert get.query["PhoneNumber"] == [NUMBER]

    assert post.method == "POST"
    assert post.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{NUMBER_SID}.json"
    assert post.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert {key: values for key, values in post.form.items()} == {
        key: [value] for key, value in EXPECTED_FORM.items()
    }

    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    for request in twilio_api.requests:
        assert request.headers["authorization"] == expected_auth

    stored = twilio_api.numbers[ACCOUNT_SID][0]
    assert stored["voice_url"] == EXPECTED_FORM["VoiceUrl"]
    assert stored["status_callback"] == EXPECTED_FORM["StatusCallback"]
    assert stored["voice_fallback_url"] == EXPECTED_FORM["VoiceFallbackUrl"]


def test_number_config_is_frozen(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    config = configure_number(make_client(twilio_api), NUMBER, "https://ivr.example.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.voice_url = "https://elsewhere.example.com/voice"  # type: ignore[misc]


def test_exact_match_wins_over_partial_matches(twilio_api: FakeTwilio) -> None:
    # Twilio's PhoneNumber filter is a partial match: both come back for +15550100000.
    twilio_api.add_number("+155501000001", sid="PN" + "9" * 32)
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)

    config = configure_number(make_client(twilio_api), NUMBER, "https://ivr.example.com")

    assert config.sid == NUMBER_SID
    (post,) = twilio_api.posts()
    assert post.path.endswith(f"/IncomingPhoneNumbers/{NUMBER_SID}.json")
    assert twilio_api.numbers[ACCOUNT_SID][0]["voice_url"] == "https://demo.twilio.com/welcome/voice/"


def test_http_base_url_is_allowed_with_a_warning_and_path_kept(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)

    config = configure_number(make_client(twilio_api), NUMBER, "  http://Tunnel.example.com/ivr//")

    assert config.insecure_http is True
    assert config.voice_url == "http://Tunnel.example.com/ivr/voice"
    assert config.status_callback == "http://Tunnel.example.com/ivr/voice/status"
    assert config.fallback_url == "http://Tunnel.example.com/ivr/voice/fallback"
    assert len(config.warnings) == 1
    assert "https" in config.warnings[0]
    (post,) = twilio_api.posts()
    assert post.form["VoiceUrl"] == ["http://Tunnel.example.com/ivr/voice"]


def test_warns_when_a_voice_application_overrides_the_urls(twilio_api: FakeTwilio) -> None:
    resource = twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    resource["voice_application_sid"] = "AP" + "3" * 32

    config = configure_number(make_client(twilio_api), NUMBER, "https://ivr.example.com")

    assert config.insecure_http is False
    assert len(config.warnings) == 1
    assert "AP" + "3" * 32 in config.warnings[0]
    assert "overrides" in config.warnings[0]


def test_client_from_env_with_auth_token(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}

    client = client_from_env(env, http_client=LocalTwilioHttpClient(twilio_api.url))
    configure_number(client, NUMBER, "https://ivr.example.com")

    assert {r.basic_auth for r in twilio_api.requests} == {(ACCOUNT_SID, AUTH_TOKEN)}


def test_client_from_env_with_api_key(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
        "TWILIO_AUTH_TOKEN": "",
    }

    client = client_from_env(env, http_client=LocalTwilioHttpClient(twilio_api.url))
    config = configure_number(client, NUMBER, "https://ivr.example.com")

    assert config.sid == NUMBER_SID
    assert {r.basic_auth for r in twilio_api.requests} == {(API_KEY, API_SECRET)}
    assert all(f"/Accounts/{ACCOUNT_SID}/" in r.path for r in twilio_api.requests)
    assert [r.form for r in twilio_api.posts()] == [{k: [v] for k, v in EXPECTED_FORM.items()}]


def test_no_secret_in_log_lines(twilio_api: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    caplog.set_level(logging.DEBUG)
    for env in (
        {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_KEY": API_KEY,
            "TWILIO_API_SECRET": API_SECRET,
        },
    ):
        client = client_from_env(env, http_client=LocalTwilioHttpClient(twilio_api.url))
        configure_number(client, NUMBER, "http://user:pass-in-url@ivr.example.com")
    bad = make_client(twilio_api, password=WRONG_TOKEN)
    with pytest.raises(ConfigureError):
        configure_number(bad, NUMBER, "https://ivr.example.com")

    assert any(r.name == "ivr.twilio_number" for r in caplog.records)
    for secret in (*SECRETS, "pass-in-url"):
        assert secret not in caplog.text


# --------------------------------------------------------------------------- error cases


def test_number_not_on_account_lists_at_most_ten_numbers(twilio_api: FakeTwilio) -> None:
    owned = [f"+1555010{n:04d}" for n in range(1, 13)]
    for phone in owned:
        twilio_api.add_number(phone)

    message = configure_error(make_client(twilio_api), "+1 555 010 9999")

    assert "+15550109999 is not on account " + ACCOUNT_SID in message
    for phone in owned[:10]:
        assert phone in message
    for phone in owned[10:]:
        assert phone not in message
    assert "(and more)" in message
    assert "TWILIO_ACCOUNT_SID" in message
    assert twilio_api.posts() == []
    lookups = [r.query for r in twilio_api.requests]
    assert lookups[0]["PhoneNumber"] == ["+15550109999"]
    assert "PhoneNumber" not in lookups[1]


def test_number_not_on_account_with_few_numbers(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number("+15550100001")
    twilio_api.add_number("+442071838750")

    message = configure_error(make_client(twilio_api), NUMBER)

    assert "Its numbers are: +15550100001, +442071838750." in message
    assert "(and more)" not in message
    assert twilio_api.posts() == []


def test_number_not_found_on_account_without_numbers(twilio_api: FakeTwilio) -> None:
    twilio_api.numbers[ACCOUNT_SID] = []

    message = configure_error(make_client(twilio_api), NUMBER)

    assert "has no incoming phone numbers" in message
    assert "Buy or port" in message


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("", "not absolute"),
        ("ivr.example.com", "not absolute"),
        ("ivr.example.com:8443/app", "not absolute"),
        ("/voice", "not absolute"),
        ("ftp://ivr.example.com", "scheme is 'ftp'"),
        ("https://", "no host name"),
        ("https://ivr.example.com/?token=1", "query string"),
        ("https://ivr.example.com/#top", "query string or fragment"),
        ("http://localhost:5000", "cannot reach localhost"),
        ("http://127.0.0.1:5000/", "cannot reach 127.0.0.1"),
        ("https://ivr.example.com:99999", "Bad base URL"),
    ],
)
def test_bad_base_url(twilio_api: FakeTwilio, base_url: str, fragment: str) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)

    message = configure_error(make_client(twilio_api), NUMBER, base_url)

    assert message.startswith("Bad base URL")
    assert fragment in message
    assert twilio_api.requests == []  # checked before any call to Twilio


def test_bad_base_url_message_hides_url_password(twilio_api: FakeTwilio) -> None:
    message = configure_error(make_client(twilio_api), NUMBER, "https://me:hunter2@x.example/?a")
    assert "hunter2" not in message
    assert "***@x.example" in message


@pytest.mark.parametrize(
    ("phone", "fragment"),
    [
        ("5550100000", "no country code"),
        ("", "empty"),
        ("+1 555 CALL NOW", "+15550100000"),
        ("+0123456789", "country code"),
        ("+1234", "7 to 15 digits"),
        ("+1234567890123456", "7 to 15 digits"),
    ],
)
def test_bad_phone_number(twilio_api: FakeTwilio, phone: str, fragment: str) -> None:
    message = configure_error(make_client(twilio_api), phone)

    assert message.startswith(f"Bad phone number {phone!r}")
    assert fragment in message
    assert twilio_api.requests == []


def test_wrong_credentials_give_401_message(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)

    message = configure_error(make_client(twilio_api, password=WRONG_TOKEN), NUMBER)

    assert "HTTP 401" in message
    assert "20003" in message
    assert "Authenticate" in message
    assert "TWILIO_AUTH_TOKEN" in message
    (request,) = twilio_api.requests
    assert request.basic_auth == (ACCOUNT_SID, WRONG_TOKEN)  # Basic auth was sent


def test_unknown_account_gives_404_message(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    client = make_client(twilio_api, API_KEY, API_SECRET, account_sid=OTHER_ACCOUNT_SID)

    message = configure_error(client, NUMBER)

    assert "HTTP 404" in message
    assert "TWILIO_ACCOUNT_SID" in message


def test_update_rejected_by_twilio(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    twilio_api.fail_update = (
        400,
        _error_body(400, 21402, "VoiceUrl is not valid: https://ivr.example.com/voice"),
    )

    message = configure_error(make_client(twilio_api), NUMBER)

    assert message.startswith(f"Twilio refused to update the webhooks of {NUMBER}")
    assert "HTTP 400" in message
    assert "Twilio error 21402" in message
    assert "VoiceUrl is not valid" in message
    assert "base URL" in message
    assert len(twilio_api.posts()) == 1


def test_update_server_error(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    twilio_api.fail_update = (503, _error_body(503, 20503, "Service unavailable"))

    message = configure_error(make_client(twilio_api), NUMBER)

    assert "HTTP 503" in message
    assert "Service unavailable" in message
    assert "try again later" in message


def test_update_rfc9457_error(twilio_api: FakeTwilio) -> None:
    twilio_api.add_number(NUMBER, sid=NUMBER_SID)
    twilio_api.fail_update = (
        429,
        {
            "type": "https://www.twilio.com/docs/errors/20429",
            "title": "Too Many Requests",
            "status": 429,
            "code": 20429,
            "detail": "Rate limit exceeded",
        },
    )

    message = configure_error(make_client(twilio_api), NUMBER)

    assert "HTTP 429" in message
    assert "Too Many Requests: Rate limit exceeded" in message
    assert "rate limiting" in message


def test_unreachable_api() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(
        ACCOUNT_SID,
        AUTH_TOKEN,
        http_client=LocalTwilioHttpClient(f"http://127.0.0.1:{port}"),
        environment={"TWILIO_NOTHING": ""},
    )

    message = configure_error(client, NUMBER)

    assert message.startswith(f"Could not reach the Twilio API to look up {NUMBER}")


# --------------------------------------------------------------------------- client_from_env


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_AUTH_TOKEN": AUTH_TOKEN}, "TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_ACCOUNT_SID": "  ", "TWILIO_AUTH_TOKEN": AUTH_TOKEN}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "TWILIO_AUTH_TOKEN is not set"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": API_KEY},
            "TWILIO_API_SECRET is not set",
        ),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_SECRET": API_SECRET},
            "TWILIO_API_KEY is not set",
        ),
        (
            {"TWILIO_API_KEY": API_KEY, "TWILIO_API_SECRET": API_SECRET},
            "TWILIO_ACCOUNT_SID is not set",
        ),
        (
            {"TWILIO_ACCOUNT_SID": API_KEY, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
            "TWILIO_ACCOUNT_SID is malformed",
        ),
        (
            {
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_API_KEY": API_SECRET,
                "TWILIO_API_SECRET": AUTH_TOKEN,
            },
            "TWILIO_API_KEY is malformed",
        ),
    ],
)
def test_client_from_env_names_the_missing_variable(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigureError) as info:
        client_from_env(env)
    message = str(info.value)
    assert missing in message
    for secret in SECRETS:
        assert secret not in message
    assert API_SECRET[:6] not in message  # not even the start of a mis-filed secret


def test_client_from_env_ignores_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with pytest.raises(ConfigureError, match="TWILIO_ACCOUNT_SID is not set"):
        client_from_env({})


def test_client_from_env_builds_the_client_without_network() -> None:
    client = client_from_env({"TWILIO_ACCOUNT_SID": f" {ACCOUNT_SID} ", "TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    assert isinstance(client, Client)
    assert client.account_sid == ACCOUNT_SID
    assert client.username == ACCOUNT_SID


# --------------------------------------------------------------------------- normalisers


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+1 (555) 010-0000", "+15550100000"),
        ("+15550100000", "+15550100000"),
        (" +44 20 7183 8750 ", "+442071838750"),
        ("0044 20.7183.8750", "+442071838750"),
        ("tel:+1-555-010-0000", "+15550100000"),
    ],
)
def test_normalise_phone_number(raw: str, e164: str) -> None:
    assert normalise_phone_number(raw) == e164


@pytest.mark.parametrize(
    ("raw", "clean", "insecure"),
    [
        ("https://ivr.example.com", "https://ivr.example.com", False),
        ("https://ivr.example.com/", "https://ivr.example.com", False),
        ("HTTPS://ivr.example.com:8443/a/b/", "https://ivr.example.com:8443/a/b", False),
        ("http://ivr.example.com", "http://ivr.example.com", True),
    ],
)
def test_normalise_base_url(raw: str, clean: str, insecure: bool) -> None:
    assert normalise_base_url(raw) == (clean, insecure)
