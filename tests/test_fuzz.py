"""Property-based fuzzing of every webhook: whatever Twilio (or anyone) posts, no 5xx, no crash.

The webhooks catch every exception and answer with the fallback TwiML, so a crash would not
show as a 5xx: each example also asserts that nothing was logged at ERROR level (the
"webhook ... failed" line written by the catch-all handler).

Examples per test come from IVR_FUZZ_EXAMPLES (default 200). For a long run, e.g. when
working on an issue:

    IVR_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/test_fuzz.py
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from ivr.sim.twiml_rules import validate_twiml

from .logged_errors import LoggedErrors
from .phone import MAIN, SPECIALTY, TTY
from .twilio_fields import answers_call

EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "200"))
MAX_BODY = 64 * 1024

#: The "fuzz" profile: every test here uses it; only the example count varies by env var.
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("fuzz", fuzz)

# --------------------------------------------------------------------------- strategies

#: Characters that look like digits to str.isdigit() but that int() refuses, and friends.
DIGIT_LOOKALIKES = "²³¹①٣߃０\u0660\u06f3"
non_ascii = st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=1, max_size=40)
junk = st.one_of(
    st.text(max_size=30),
    non_ascii,
    st.text(alphabet=DIGIT_LOOKALIKES + "0123456789-+. ", max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", " ", "\x00", "NaN", "inf", "-1", "1e999", "0x10", "%zz", "\r\n"]),
)

call_sids = st.one_of(
    st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True),
    st.just(""),
    st.sampled_from([" ", "\t\n", "\u3000", "\x00"]),
    st.text(max_size=40),
    non_ascii,
    st.text(min_size=200, max_size=600),
)
numbers = st.one_of(
    st.sampled_from(
        [MAIN, SPECIALTY, TTY, "+15005550006", "", "+", "anonymous", "1 (800) 237-2765", "18002372765"]
    ),
    st.text(max_size=40),
    st.text(alphabet="+0123456789 ()-" + DIGIT_LOOKALIKES, max_size=30),
)
keys = st.text(alphabet="0123456789*#", min_size=1, max_size=20)
digits = st.one_of(
    st.sampled_from(["0", "1", "2", "3", "4", "5", "9", "*", "#", "10203040", "03071956"]),
    keys,
    junk,
    st.text(alphabet="0123456789*#", min_size=60, max_size=800),
    st.text(min_size=100, max_size=800),
)
speech = st.one_of(
    st.sampled_from(["refill", "representative", "billing", "español", "agent", "", "   "]),
    st.text(max_size=2000),
)
confidence = st.one_of(junk, st.floats().map(str), st.sampled_from(["0.92", "0", "1", ""]))
statuses = st.one_of(
    st.sampled_from(
        ["completed", "busy", "failed", "no-answer", "canceled", "in-progress", "ringing", "queued"]
    ),
    junk,
)
standard_fields = st.fixed_dictionaries(
    {"CallSid": call_sids},
    optional={
        "To": numbers,
        "From": numbers,
        "Called": numbers,
        "Caller": numbers,
        "Digits": digits,
        "SpeechResult": speech,
        "Confidence": confidence,
        "CallStatus": statuses,
        "CallDuration": junk,
        "AccountSid": junk,
        "Direction": junk,
        "ApiVersion": junk,
    },
)
extra_fields = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=60), max_size=5)


@st.composite
def forms(draw: st.DrawFn) -> dict[str, str]:
    """Random extra fields, then the standard ones (or leave CallSid out altogether)."""
    form = {**draw(extra_fields), **draw(standard_fields)}
    if draw(st.integers(0, 9)) == 0:
        form.pop("CallSid")
    return form


steps = st.one_of(st.integers(min_value=-5, max_value=40).map(str), junk)
languages = st.one_of(st.sampled_from(["en", "es", "fr", ""]), junk)
raw_queries = st.text(max_size=60)  # passed as the raw QUERY_STRING, escapes and all

# --------------------------------------------------------------------------- checks


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> Iterator[FlaskClient]:
    """One app per test function; every hypothesis example reuses it."""
    app = make_app()
    yield app.test_client()
    app.extensions["ivr"].store.close()


def _post(
    client: FlaskClient, errors: LoggedErrors, path: str, data: dict[str, str], query: Any = None
) -> TestResponse:
    errors.records.clear()
    response = client.post(path, data=data, query_string=query)
    crashes = [
        f"{record.getMessage()}\n{logging.Formatter().formatException(record.exc_info)}"
        if record.exc_info
        else record.getMessage()
        for record in errors.records
    ]
    assert response.status_code < 500, response.data
    assert not crashes, f"POST {path} query={query!r} data={data!r} crashed:\n" + "\n".join(crashes)
    return response


def _assert_twiml(response: TestResponse, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.data)
    assert response.mimetype == "text/xml"
    validate_twiml(response.get_data(as_text=True))


def _expected_call_status(form: dict[str, str]) -> int:
    return 200 if answers_call(form) else 400


# --------------------------------------------------------------------------- one request


@fuzz
@given(form=forms())
def test_first_request(client: FlaskClient, errors: LoggedErrors, form: dict[str, str]) -> None:
    response = _post(client, errors, "/voice", form)
    _assert_twiml(response, _expected_call_status(form))


@fuzz
@given(form=forms(), step=st.one_of(st.none(), steps))
def test_gather_input(
    client: FlaskClient, errors: LoggedErrors, form: dict[str, str], step: str | None
) -> None:
    query = None if step is None else {"step": step}
    response = _post(client, errors, "/voice/input", form, query)
    _assert_twiml(response, _expected_call_status(form))


@fuzz
@given(form=forms(), query=raw_queries)
def test_gather_input_raw_query(
    client: FlaskClient, errors: LoggedErrors, form: dict[str, str], query: str
) -> None:
    response = _post(client, errors, "/voice/input", form, query)
    _assert_twiml(response, _expected_call_status(form))


@fuzz
@given(form=forms())
def test_status_callback(client: FlaskClient, errors: LoggedErrors, form: dict[str, str]) -> None:
    response = _post(client, errors, "/voice/status", form)
    assert response.status_code == 204, response.data
    assert response.data == b""


@pytest.mark.parametrize(
    ("path", "query"),
    [
        pytest.param("/voice/fallback", st.none(), id="fallback"),
        pytest.param(
            "/voice/hold",
            st.one_of(st.none(), languages.map(lambda lang: {"lang": lang}), raw_queries),
            id="hold",
        ),
        pytest.param(
            "/voice/after-transfer",
            st.one_of(st.none(), languages.map(lambda lang: {"lang": lang}), raw_queries),
            id="after-transfer",
        ),
    ],
)
def test_static_webhooks(
    client: FlaskClient, errors: LoggedErrors, path: str, query: st.SearchStrategy[Any]
) -> None:
    @fuzz
    @given(form=forms(), query=query)
    def run(form: dict[str, str], query: Any) -> None:
        _assert_twiml(_post(client, errors, path, form, query), 200)

    run()


# --------------------------------------------------------------------------- whole calls

inputs = st.one_of(
    keys.map(lambda k: ("press", k)),
    st.sampled_from(["1", "2", "3", "9", "0", "#", "*"]).map(lambda k: ("press", k)),
    speech.map(lambda s: ("say", s)),
    st.just(("silence", "")),
    digits.map(lambda d: ("press", d)),
    st.tuples(st.just("retry"), st.just("")),  # Twilio re-posts the previous action URL
    st.tuples(st.just("stale"), steps),  # an action URL with any step
    st.tuples(st.just("status"), statuses),  # a status callback in the middle of the call
    st.tuples(st.just("redial"), st.just("")),  # Twilio retries the first request
)


@fuzz
@given(
    to=st.one_of(st.sampled_from([MAIN, SPECIALTY, TTY]), numbers),
    script=st.lists(inputs, max_size=15),
    sid=st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True),
)
def test_random_call(
    client: FlaskClient, errors: LoggedErrors, to: str, script: list[tuple[str, str]], sid: str
) -> None:
    fields = {"CallSid": sid, "To": to, "From": "+15551230000", "CallStatus": "in-progress"}
    response = _post(client, errors, "/voice", fields)
    _assert_twiml(response, 200)
    action = previous = "/voice/input"
    for kind, value in script:
        root = validate_twiml(response.get_data(as_text=True))
        gather = root.find("Gather")
        if gather is not None:
            previous, action = action, gather.attrib["action"]
        if kind == "status":
            status = _post(client, errors, "/voice/status", {**fields, "CallStatus": value})
            assert status.status_code == 204 and status.data == b""
            continue
        data, path = dict(fields), action
        if kind == "press":
            data["Digits"] = value
        elif kind == "say":
            data.update(SpeechResult=value, Confidence="0.9")
        elif kind == "retry":
            path = previous
        elif kind == "stale":
            path = f"/voice/input?step={value}"
        elif kind == "redial":
            path = "/voice"
        response = _post(client, errors, path, data)
        _assert_twiml(response, 200)


# --------------------------------------------------------------------------- signatures

TOKEN = "fuzz-token"
#: What a request line can carry in its query: printable, no spaces, no fragment.
url_text = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp"], exclude_characters="#"),
    min_size=1,
    max_size=40,
)
forged = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


@pytest.fixture
def signed_client(make_app: Callable[..., Flask]) -> Iterator[FlaskClient]:
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN)
    yield app.test_client()
    app.extensions["ivr"].store.close()


@fuzz
@given(
    path=st.sampled_from(["/voice/hold", "/voice/after-transfer", "/voice/fallback"]),
    query=url_text,
    form=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=60), max_size=6),
    forgery=forged,
)
def test_signatures_over_random_urls_and_forms(
    signed_client: FlaskClient,
    errors: LoggedErrors,
    path: str,
    query: str,
    form: dict[str, str],
    forgery: str,
) -> None:
    """A true signature passes whatever the query and fields; anything else is a TwiML 403."""
    url = f"{path}?{query}"
    signature = RequestValidator(TOKEN).compute_signature("http://localhost" + url, form)
    errors.records.clear()
    response = signed_client.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert not errors.records
    _assert_twiml(response, 200)
    header = forgery if forgery != signature else forgery + "x"
    response = signed_client.post(url, data=form, headers={"X-Twilio-Signature": header})
    assert not errors.records
    _assert_twiml(response, 403)
    assert TOKEN not in response.get_data(as_text=True)


# --------------------------------------------------------------------------- oversized


@pytest.mark.parametrize("path", ["/voice", "/voice/input?step=0", "/voice/status"])
def test_oversized_body_is_a_clean_413(client: FlaskClient, errors: LoggedErrors, path: str) -> None:
    data = {"CallSid": "CA" + "1" * 32, "SpeechResult": "a" * MAX_BODY}
    _assert_twiml(_post(client, errors, path, data), 413)


@pytest.mark.parametrize("path", ["/voice/fallback", "/voice/hold", "/voice/after-transfer"])
def test_oversized_body_to_a_static_webhook_is_not_a_5xx(
    client: FlaskClient, errors: LoggedErrors, path: str
) -> None:
    """These never read the body, so they may answer normally; they must not fail."""
    data = {"CallSid": "CA" + "1" * 32, "SpeechResult": "a" * MAX_BODY}
    _assert_twiml(_post(client, errors, path, data), 200, 413)
