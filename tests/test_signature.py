"""X-Twilio-Signature: real signatures pass, anything else gets a 403 the caller can hear.

Signatures are computed with Twilio's own RequestValidator over the URL Twilio would have
requested, then posted through the test client the way Twilio posts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from ivr.engine.ssml import spoken_text
from ivr.sim.twiml_rules import validate_twiml
from webhooks.signature import url_as_requested

from .flow_text import confirm, prompt
from .phone import MAIN

TOKEN = "test-token"
HEADER = "X-Twilio-Signature"
LOCAL = "http://localhost"
PUBLIC = "https://ivr.example.com"
ESCAPED = "/voice/input?step=0&note=a%20b%2Fc"

CALL = {
    "CallSid": "CA" + "5" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+15551230000",
    "To": MAIN,
    "Caller": "+15551230000",
    "Called": MAIN,
    "CallStatus": "in-progress",
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
}


def sign(url: str, params: Mapping[str, Any], token: str = TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def assert_refused(response: TestResponse, status: int = 403) -> None:
    """A refusal is still TwiML a caller can hear, and never echoes the auth token."""
    assert response.status_code == status, response.data
    assert response.mimetype == "text/xml"
    text = response.get_data(as_text=True)
    root = validate_twiml(text)
    assert root.find("Say") is not None and root.find("Hangup") is not None
    assert TOKEN not in text
    assert all(TOKEN not in value for _, value in response.headers.items())


def assert_answered(response: TestResponse) -> None:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    validate_twiml(response.get_data(as_text=True))


@pytest.fixture
def build(make_app: Callable[..., Flask]) -> Iterator[Callable[..., FlaskClient]]:
    """A signing app (auth token set) with extra config, as a test client."""
    apps: list[Flask] = []

    def client(**config: Any) -> FlaskClient:
        app = make_app(**{"TWILIO_AUTH_TOKEN": TOKEN, **config})
        apps.append(app)
        return app.test_client()

    yield client
    for app in apps:
        app.extensions["ivr"].store.close()


@pytest.fixture
def client(build: Callable[..., FlaskClient]) -> FlaskClient:
    return build()


def signed_post(
    client: FlaskClient,
    path: str,
    data: Mapping[str, Any],
    *,
    base_url: str = LOCAL,
    signed_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> TestResponse:
    """Post as Twilio does: sign `signed_url` (default: the URL requested) over `data`."""
    signature = sign(signed_url or base_url + path, data)
    return client.post(
        path,
        data=data,
        base_url=base_url,
        headers={HEADER: signature, **(headers or {})},
        **kwargs,
    )


# --------------------------------------------------------------------------- accepted


def test_signed_first_request_is_answered(client: FlaskClient) -> None:
    response = signed_post(client, "/voice", CALL)
    assert_answered(response)
    assert validate_twiml(response.data).find("Gather") is not None


def test_signed_call_follows_its_gather_actions(client: FlaskClient) -> None:
    """Every step of a call is signed over the action URL the previous answer gave."""
    root = validate_twiml(signed_post(client, "/voice", CALL).data)
    for keys in ("2", "3", "#"):
        gather = root.find("Gather")
        assert gather is not None
        action = gather.attrib["action"]
        assert "?step=" in action
        response = signed_post(client, action, {**CALL, "Digits": keys})
        assert_answered(response)
        root = validate_twiml(response.data)
    heard = " ".join(spoken_text(s) for s in root.iter("Say"))
    assert heard.startswith(f"{confirm('main_menu')} {prompt('main_menu')}")


def test_repeated_form_fields_are_signed_value_by_value(client: FlaskClient) -> None:
    data = MultiDict([*CALL.items(), ("Digits", "2"), ("Extra", "b"), ("Extra", "a")])
    assert_answered(signed_post(client, "/voice/input", data))


def test_signed_status_callback_is_204_with_empty_body(client: FlaskClient) -> None:
    assert_answered(signed_post(client, "/voice", CALL))
    data = {**CALL, "CallStatus": "completed", "CallDuration": "42"}
    response = signed_post(client, "/voice/status", data)
    assert response.status_code == 204
    assert response.data == b""


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/voice/fallback", id="fallback-post"),
        pytest.param("GET", "/voice/fallback", id="fallback-get"),
        pytest.param("GET", "/voice/hold?lang=es", id="hold-get"),
        pytest.param("POST", "/voice/after-transfer?lang=en", id="after-transfer-post"),
    ],
)
def test_signed_static_webhooks_are_answered(client: FlaskClient, method: str, path: str) -> None:
    data = CALL if method == "POST" else {}
    response = client.open(path, method=method, data=data, headers={HEADER: sign(LOCAL + path, data)})
    assert_answered(response)


def test_without_a_token_unsigned_requests_pass(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    try:
        client = app.test_client()
        assert_answered(client.post("/voice", data=CALL))
        assert_answered(client.post("/voice", data=CALL, headers={HEADER: "not-a-signature"}))
        assert client.post("/voice/status", data=CALL).status_code == 204
    finally:
        app.extensions["ivr"].store.close()


# --------------------------------------------------------------------------- refused


@dataclass(frozen=True)
class Bad:
    """A request that must be refused: what is sent, and what the signature covered."""

    path: str = "/voice"
    sent: Mapping[str, str] = field(default_factory=lambda: CALL)
    signed: Mapping[str, str] | None = None  # None: the fields sent
    signed_url: str | None = None  # None: the URL requested
    base_url: str = LOCAL
    header: str | None = None  # a literal header instead of a computed signature
    token: str = TOKEN


REFUSED = [
    pytest.param(Bad(header=""), id="unsigned"),
    pytest.param(Bad(header="   "), id="blank-header"),
    pytest.param(Bad(header="bm90IGEgc2lnbmF0dXJl"), id="forged-base64"),
    pytest.param(Bad(header="é" * 28), id="forged-latin1"),
    pytest.param(Bad(header="A" * 4096), id="forged-huge"),
    pytest.param(Bad(token="other-token"), id="signed-with-another-token"),
    pytest.param(
        Bad(path="/voice/input?step=0", sent={**CALL, "Digits": "2"}, signed={**CALL, "Digits": "1"}),
        id="tampered-digits",
    ),
    pytest.param(Bad(sent={**CALL, "Digits": "1"}, signed=CALL), id="field-added"),
    pytest.param(Bad(signed={**CALL, "Digits": "1"}), id="field-removed"),
    pytest.param(Bad(sent={**CALL, "To": "+18006734828"}, signed=CALL), id="field-changed"),
    pytest.param(Bad(signed_url="https://localhost/voice"), id="signed-https-seen-http"),
    pytest.param(
        Bad(base_url="https://localhost", signed_url="http://localhost/voice"), id="signed-http-seen-https"
    ),
    pytest.param(Bad(signed_url="http://evil.example.com/voice"), id="other-host"),
    pytest.param(Bad(signed_url="http://localhost/voice/status"), id="other-path"),
    pytest.param(
        Bad(path="/voice/input?step=1", signed_url="http://localhost/voice/input?step=0"), id="other-query"
    ),
    pytest.param(
        Bad(path="/voice/input?step=0", signed_url="http://localhost/voice/input"), id="query-dropped"
    ),
    pytest.param(
        Bad(base_url="http://localhost:5000", signed_url="http://localhost:5001/voice"), id="other-port"
    ),
    pytest.param(Bad(base_url=PUBLIC, signed_url=PUBLIC + ":80/voice"), id="wrong-default-port"),
    pytest.param(
        Bad(path=ESCAPED, signed_url=LOCAL + "/voice/input?step=0&note=a%20b/c"), id="escapes-requoted"
    ),
]


@pytest.mark.parametrize("bad", REFUSED)
def test_bad_signatures_are_refused(client: FlaskClient, bad: Bad) -> None:
    signed = bad.sent if bad.signed is None else bad.signed
    url = bad.signed_url or bad.base_url + bad.path
    header = bad.header if bad.header is not None else sign(url, signed, bad.token)
    response = client.post(bad.path, data=bad.sent, base_url=bad.base_url, headers={HEADER: header})
    assert_refused(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/voice", id="voice"),
        pytest.param("POST", "/voice/input?step=0", id="input"),
        pytest.param("POST", "/voice/status", id="status"),
        pytest.param("POST", "/voice/fallback", id="fallback-post"),
        pytest.param("GET", "/voice/fallback", id="fallback-get"),
        pytest.param("GET", "/voice/hold?lang=en", id="hold"),
        pytest.param("POST", "/voice/after-transfer", id="after-transfer"),
    ],
)
def test_every_webhook_is_protected(client: FlaskClient, method: str, path: str) -> None:
    data = {**CALL, "CallStatus": "completed"} if method == "POST" else {}
    assert_refused(client.open(path, method=method, data=data))


def test_refused_requests_do_not_touch_the_call(build: Callable[..., FlaskClient]) -> None:
    client = build()
    assert_refused(client.post("/voice", data=CALL))
    engine = client.application.extensions["ivr"]
    assert engine.store.get_call(CALL["CallSid"]) is None


def test_oversized_signed_body_is_a_clean_413(client: FlaskClient) -> None:
    data = {**CALL, "SpeechResult": "a" * (64 * 1024)}
    assert_refused(signed_post(client, "/voice/input", data), status=413)


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize(
    ("base_url", "signed_url"),
    [
        pytest.param(PUBLIC, PUBLIC + "/voice", id="https-host-signed-bare"),
        pytest.param(PUBLIC, PUBLIC + ":443/voice", id="https-host-signed-443"),
        pytest.param(PUBLIC + ":443", PUBLIC + "/voice", id="https-host-443-signed-bare"),
        pytest.param(PUBLIC + ":443", PUBLIC + ":443/voice", id="https-host-443-signed-443"),
        pytest.param(LOCAL, LOCAL + "/voice", id="http-host-signed-bare"),
        pytest.param(LOCAL, LOCAL + ":80/voice", id="http-host-signed-80"),
        pytest.param(LOCAL + ":80", LOCAL + "/voice", id="http-host-80-signed-bare"),
        pytest.param(LOCAL + ":80", LOCAL + ":80/voice", id="http-host-80-signed-80"),
        pytest.param(LOCAL + ":5000", LOCAL + ":5000/voice", id="custom-port-signed-with-it"),
        pytest.param(PUBLIC + ":8443", PUBLIC + ":8443/voice", id="https-custom-port"),
    ],
)
def test_explicit_or_implicit_default_port_both_pass(
    client: FlaskClient, base_url: str, signed_url: str
) -> None:
    assert_answered(signed_post(client, "/voice", CALL, base_url=base_url, signed_url=signed_url))


# --------------------------------------------------------------------------- proxies


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com"}
PROXIED = "https://public.example.com/voice"
INTERNAL = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("config", "headers", "signed_url", "accepted"),
    [
        pytest.param({"TRUST_PROXY": 1}, FORWARDED, PROXIED, True, id="trusted-proxy"),
        pytest.param(
            {"TRUST_PROXY": 1},
            {**FORWARDED, "X-Forwarded-Port": "443"},
            PROXIED,
            True,
            id="trusted-proxy-with-port",
        ),
        pytest.param({}, FORWARDED, PROXIED, False, id="untrusted-forwarded-headers"),
        pytest.param({}, FORWARDED, INTERNAL + "/voice", True, id="untrusted-sees-internal-url"),
        pytest.param(
            {"TRUST_PROXY": 1}, FORWARDED, INTERNAL + "/voice", False, id="trusted-proxy-refuses-internal-url"
        ),
        pytest.param(
            {"TRUST_PROXY": 1},
            {"X-Forwarded-Proto": "https"},
            "https://127.0.0.1:8000/voice",
            True,
            id="trusted-proto-only",
        ),
        pytest.param(
            {"TRUST_PROXY": 1},
            {"X-Forwarded-Host": "public.example.com"},
            PROXIED,
            False,
            id="trusted-host-but-http",
        ),
    ],
)
def test_tls_terminating_proxy(
    build: Callable[..., FlaskClient],
    config: dict[str, Any],
    headers: dict[str, str],
    signed_url: str,
    accepted: bool,
) -> None:
    client = build(**config)
    response = signed_post(client, "/voice", CALL, base_url=INTERNAL, signed_url=signed_url, headers=headers)
    if accepted:
        assert_answered(response)
    else:
        assert_refused(response)


@pytest.mark.parametrize("base", [PUBLIC, PUBLIC + "/"], ids=["bare", "trailing-slash"])
@pytest.mark.parametrize(
    ("path", "signed_url", "accepted"),
    [
        pytest.param("/voice", PUBLIC + "/voice", True, id="public-url"),
        pytest.param("/voice", PUBLIC + ":443/voice", True, id="public-url-443"),
        pytest.param(ESCAPED, PUBLIC + ESCAPED, True, id="public-escaped-query"),
        pytest.param("/voice", LOCAL + "/voice", False, id="local-url"),
        pytest.param("/voice", "http://ivr.example.com/voice", False, id="public-host-http"),
    ],
)
def test_public_base_url(
    build: Callable[..., FlaskClient], base: str, path: str, signed_url: str, accepted: bool
) -> None:
    client = build(PUBLIC_BASE_URL=base)
    response = signed_post(client, path, CALL, signed_url=signed_url)
    if accepted:
        assert_answered(response)
    else:
        assert_refused(response)


def test_public_base_url_wins_over_forwarded_headers(build: Callable[..., FlaskClient]) -> None:
    client = build(PUBLIC_BASE_URL=PUBLIC, TRUST_PROXY=1)
    response = signed_post(
        client, "/voice", CALL, base_url=INTERNAL, signed_url=PUBLIC + "/voice", headers=FORWARDED
    )
    assert_answered(response)


# --------------------------------------------------------------------------- the URL itself


def test_escaped_action_url_signed_as_requested_passes(client: FlaskClient) -> None:
    assert_answered(signed_post(client, ESCAPED, {**CALL, "Digits": "1"}))


@pytest.mark.parametrize(
    ("path", "environ", "expected"),
    [
        pytest.param(ESCAPED, {}, LOCAL + ESCAPED, id="raw-request-line"),
        pytest.param(
            ESCAPED, {"RAW_URI": "", "REQUEST_URI": ""}, LOCAL + ESCAPED, id="no-raw-uri-keeps-raw-query"
        ),
        pytest.param(
            ESCAPED, {"RAW_URI": "", "REQUEST_URI": ESCAPED}, LOCAL + ESCAPED, id="request-uri-only"
        ),
        pytest.param(
            "/voice/hold?lang=%C3%A9", {}, LOCAL + "/voice/hold?lang=%C3%A9", id="utf8-escapes-kept"
        ),
        pytest.param("/voice/hold?lang=é", {}, LOCAL + "/voice/hold?lang=é", id="raw-utf8-decoded"),
        pytest.param(
            "/voice/hold?lang=é",
            {"RAW_URI": "", "REQUEST_URI": ""},
            LOCAL + "/voice/hold?lang=é",
            id="raw-utf8-query-without-raw-uri",
        ),
        pytest.param(
            "/voice/fallback",
            {"RAW_URI": "http://localhost/voice/fallback", "REQUEST_URI": ""},
            LOCAL + "/voice/fallback",
            id="absolute-form-request-line-ignored",
        ),
    ],
)
def test_url_as_requested_uses_the_raw_request_line(
    client: FlaskClient, path: str, environ: dict[str, str], expected: str
) -> None:
    app = client.application
    with app.test_request_context(path, method="POST", environ_overrides=environ):
        assert url_as_requested(request, None) == expected
        assert url_as_requested(request, PUBLIC + "/") == PUBLIC + expected[len(LOCAL) :]


def test_request_url_would_have_broken_the_escaped_signature(client: FlaskClient) -> None:
    """The reason url_as_requested exists: werkzeug's request.url decodes %2F."""
    with client.application.test_request_context(ESCAPED, method="POST"):
        assert request.url != LOCAL + ESCAPED
        assert url_as_requested(request, None) == LOCAL + ESCAPED


def test_signed_raw_utf8_query_passes(client: FlaskClient) -> None:
    path = "/voice/hold?lang=é"
    response = client.post(path, data=CALL, headers={HEADER: sign(LOCAL + path, CALL)})
    assert_answered(response)


def test_a_signature_check_that_cannot_parse_the_url_refuses(make_app: Callable[..., Flask]) -> None:
    app = make_app(TWILIO_AUTH_TOKEN="test-token", PUBLIC_BASE_URL="https://ivr.example.com:99999")
    response = app.test_client().post(
        "/voice",
        data={"CallSid": "CA" + "f" * 32, "To": "+18002372765"},
        headers={"X-Twilio-Signature": "x"},
    )
    assert response.status_code == 403 and response.mimetype == "text/xml"


# --------------------------------------------------------------------------- shared keys

SHARED = "test-shared-key-secret"
OLD_SHARED = "test-retiring-shared-key"
SETTINGS = "X-Twilio-Webhooks-Signature-Settings"
KEY_ID = "KS" + "1" * 32


def shared_post(
    client: FlaskClient,
    data: Mapping[str, Any] = CALL,
    *,
    secret: str = SHARED,
    algorithm: str = "HMAC_SHA256",
    settings: str | None = None,
    path: str = "/voice",
) -> TestResponse:
    """Post as Twilio does under a Webhook Rule: signed with a shared key, and says so."""
    signature = RequestValidator(secret).compute_signature(LOCAL + path, data, algorithm)
    header = settings if settings is not None else f"key={KEY_ID},algorithm={algorithm}"
    return client.post(path, data=data, headers={HEADER: signature, SETTINGS: header})


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1", "hmac_sha256"])
@pytest.mark.parametrize("token", [TOKEN, None], ids=["with-auth-token", "shared-key-only"])
def test_a_shared_key_signature_passes(
    build: Callable[..., FlaskClient], algorithm: str, token: str | None
) -> None:
    client = build(TWILIO_AUTH_TOKEN=token, TWILIO_WEBHOOK_SHARED_KEY=SHARED)
    assert_answered(shared_post(client, algorithm=algorithm))
    step = shared_post(client, {**CALL, "Digits": "2"}, algorithm=algorithm, path="/voice/input?step=0")
    assert_answered(step)
    assert step.headers["X-IVR-State"] == "billing_menu"


def test_both_keys_pass_while_rotating(build: Callable[..., FlaskClient]) -> None:
    client = build(TWILIO_WEBHOOK_SHARED_KEY=f" {SHARED} , {OLD_SHARED} ")
    assert_answered(shared_post(client, secret=SHARED))
    assert_answered(shared_post(client, secret=OLD_SHARED))
    assert_refused(shared_post(client, secret="a-key-already-retired"))


SHARED_REFUSED = [
    pytest.param({}, dict(secret=TOKEN), id="auth-token-signature-under-settings-header"),
    pytest.param({}, dict(secret="another-shared-key"), id="another-shared-key"),
    pytest.param(
        {},
        dict(algorithm="HMAC_SHA1", settings=f"key={KEY_ID},algorithm=HMAC_SHA256"),
        id="algorithm-other-than-named",
    ),
    pytest.param({}, dict(settings=f"key={KEY_ID},algorithm=HMAC_MD5"), id="unknown-algorithm"),
    pytest.param(
        {},
        dict(algorithm="HMAC_SHA1", settings=f"key={KEY_ID},algorithm=HMAC_MD5"),
        id="unknown-algorithm-signed-with-the-default",
    ),
    pytest.param({"TWILIO_AUTH_TOKEN": None}, dict(secret=TOKEN), id="shared-key-only-auth-token-used"),
]


@pytest.mark.parametrize(("config", "post"), SHARED_REFUSED)
def test_bad_shared_key_signatures_are_refused(
    build: Callable[..., FlaskClient], config: dict[str, Any], post: dict[str, Any]
) -> None:
    client = build(TWILIO_WEBHOOK_SHARED_KEY=SHARED, **config)
    response = shared_post(client, **post)
    assert_refused(response)
    assert SHARED not in response.get_data(as_text=True)


def test_a_field_changed_after_shared_key_signing_is_refused(build: Callable[..., FlaskClient]) -> None:
    client = build(TWILIO_WEBHOOK_SHARED_KEY=SHARED)
    path = "/voice/input?step=0"
    signed = {**CALL, "Digits": "1"}
    signature = RequestValidator(SHARED).compute_signature(LOCAL + path, signed, "HMAC_SHA256")
    headers = {HEADER: signature, SETTINGS: f"key={KEY_ID},algorithm=HMAC_SHA256"}
    assert_refused(client.post(path, data={**CALL, "Digits": "9"}, headers=headers))


def test_a_shared_key_signature_without_its_header_is_checked_as_the_auth_token(
    build: Callable[..., FlaskClient],
) -> None:
    client = build(TWILIO_WEBHOOK_SHARED_KEY=SHARED)
    signature = RequestValidator(SHARED).compute_signature(LOCAL + "/voice", CALL, "HMAC_SHA256")
    assert_refused(client.post("/voice", data=CALL, headers={HEADER: signature}))
    sha1 = RequestValidator(SHARED).compute_signature(LOCAL + "/voice", CALL)
    assert_refused(client.post("/voice", data=CALL, headers={HEADER: sha1}))


def test_with_only_a_shared_key_auth_token_signatures_and_unsigned_requests_are_refused(
    build: Callable[..., FlaskClient],
) -> None:
    client = build(TWILIO_AUTH_TOKEN=None, TWILIO_WEBHOOK_SHARED_KEY=SHARED)
    assert_refused(client.post("/voice", data=CALL))
    response = signed_post(client, "/voice", CALL)  # a valid auth-token signature: no token here
    assert_refused(response)
    assert "auth token" in response.get_data(as_text=True)
    assert client.get("/healthz").get_json()["signed"] is True


def test_a_shared_key_request_to_an_app_without_one_is_refused_and_logged(
    build: Callable[..., FlaskClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = build()  # the auth token only
    with caplog.at_level("WARNING", logger="webhooks.signature"):
        response = shared_post(client, settings=f"key={KEY_ID},algorithm=HMAC_SHA256\x1b[2J")
    assert_refused(response)
    assert "shared key" in response.get_data(as_text=True)
    (record,) = [r for r in caplog.records if r.name == "webhooks.signature"]
    message = record.getMessage()
    assert "TWILIO_WEBHOOK_SHARED_KEY" in message and KEY_ID in message
    assert "\x1b" not in message  # the header is quoted: no terminal escapes in the log
    assert client.application.extensions["ivr"].store.get_call(CALL["CallSid"]) is None
