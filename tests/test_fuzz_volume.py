"""Fuzzing at volume: over ten thousand random webhook requests in-process, and not one 5xx.

A seeded random loop sends 10,000 requests (same seed, same requests: a failure replays) that
mix well-formed calls walked through the menus with junk: unknown and blank CallSids, junk
digits and speech, odd numbers, stray steps and raw query strings, garbage bodies under any
content type, and bodies over the 64 KiB limit. A hypothesis test then sends whole random
requests (method, path, query, content type, body). Every answer must be:

- /voice/status: 204 with an empty body;
- every other webhook: valid TwiML (ivr.twiml_rules.validate_twiml), 200, or 400 when the
  request has no CallSid;
- any webhook, body over the limit: 413 as TwiML;

and nothing may be logged at ERROR level (the catch-all handler would turn a crash into a
polite 200). Raw WSGI through werkzeug's Client: no sockets.

    IVR_FUZZ_VOLUME=50000 .venv/bin/pytest tests/test_fuzz_volume.py    # a longer run
"""

from __future__ import annotations

import os
import random
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client, TestResponse

from ivr.sim.twiml_rules import validate_twiml

from .logged_errors import LoggedErrors
from .phone import MAIN, SPECIALTY, TTY
from .twilio_fields import answers_call

REQUESTS = int(os.environ.get("IVR_FUZZ_VOLUME", "10000"))
EXAMPLES = int(os.environ.get("IVR_FUZZ_VOLUME_EXAMPLES", "1500"))
SEED = int(os.environ.get("IVR_FUZZ_SEED", "20261124"))
MAX_BODY = 64 * 1024
STATIC = ("/voice/fallback", "/voice/hold", "/voice/after-transfer")
LINES = (MAIN, SPECIALTY, TTY)
KEYS = "0123456789*#"
#: Look like digits to str.isdigit() but int() refuses them; full-width and Arabic-Indic digits.
LOOKALIKES = "²³¹①٣߃０\u0660\u06f3"
SPEECH = ("refill", "representative", "billing", "español", "agent", "main menu", "goodbye", "", "   ")
#: The Digits Twilio posts (finish key stripped) for a caller who knows the answer at an entry prompt.
GOOD_ENTRIES = {
    "verify_id": ("10203040", "55501234", "123456789012"),
    "verify_dob": ("03071956", "11231948", "07041976"),
    "refill_request": ("7654321", "123456"),
}


@pytest.fixture
def wsgi(make_app: Callable[..., Flask]) -> Iterator[Client]:
    app = make_app()
    yield Client(app)
    app.extensions["ivr"].store.close()


@dataclass
class Sender:
    """Sends requests, checks every answer, counts them; valid documents are checked once each."""

    client: Client
    errors: LoggedErrors
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)  # X-IVR-State of the answers
    _valid: set[bytes] = field(default_factory=set)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        form: dict[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> TestResponse:
        target = path + (f"?{query}" if query else "")
        headers = {"Content-Type": content_type} if content_type else {}
        data: Any = body if body is not None else form
        response = self.client.open(target, method=method, data=data, headers=headers)
        self.sent += 1
        self.statuses[response.status_code] += 1
        self.states[response.headers.get("X-IVR-State", "")] += 1
        shown = f"{method} {target} form={form!r:.300} body={body!r:.300} type={content_type!r}"
        crashed = [r.getMessage() for r in self.errors.records]
        self.errors.records.clear()
        assert response.status_code < 500, (shown, response.data[:500])
        assert not crashed, (shown, crashed)
        oversized = len(body or b"") > MAX_BODY or _form_size(form) > MAX_BODY
        # A form we built says whether the call webhooks must see a CallSid; a raw body may or may not.
        has_sid = None if body is not None else answers_call(form or {})
        self.check(path, response, shown, oversized=oversized, has_sid=has_sid)
        return response

    def check(
        self, path: str, response: TestResponse, shown: str, *, oversized: bool, has_sid: bool | None
    ) -> None:
        status = response.status_code
        if oversized and path in ("/voice", "/voice/input", "/voice/status"):
            assert status == 413, (shown, status)
        elif path == "/voice/status":
            assert (status, response.data) == (204, b""), (shown, status, response.data[:300])
            return
        elif path in STATIC:
            assert status in (200, 413), (shown, status)  # they never read the body
        elif has_sid is None:
            assert status in (200, 400), (shown, status)
        else:
            assert status == (200 if has_sid else 400), (shown, status)
        assert response.mimetype == "text/xml", (shown, response.mimetype)
        if response.data not in self._valid:
            validate_twiml(response.data)
            self._valid.add(response.data)


def _form_size(form: dict[str, str] | None) -> int:
    return sum(len(quote(k)) + len(quote(v)) + 2 for k, v in (form or {}).items())


def _action(response: TestResponse) -> str | None:
    """The Gather's action URL of a TwiML answer, if it waits for input."""
    gather = validate_twiml(response.data).find("Gather")
    return gather.get("action") if gather is not None else None


# --------------------------------------------------------------------------- the seeded loop


class Junk:
    """Seeded random values, from plausible to hostile."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self, low: int = 0, high: int = 40) -> str:
        rng = self.rng
        size = rng.randint(low, high)
        pool = rng.choice(
            [
                string.printable,
                LOOKALIKES + "0123456789",
                "\x00\r\n\t %&=+;#?",
                "".join(chr(rng.randint(0x80, 0x2FFF)) for _ in range(20)),
            ]
        )
        return "".join(rng.choice(pool) for _ in range(size))

    def sid(self) -> str:
        choice = self.rng.randrange(10)
        if choice < 6:
            return "CA" + "".join(self.rng.choice("0123456789abcdef") for _ in range(32))
        return self.rng.choice(["", " ", "\t\n", "\u3000", "\x00", self.text(1, 80), "CA" + "a" * 600])

    def number(self) -> str:
        if self.rng.random() < 0.6:
            return self.rng.choice([*LINES, "+15005550006", "1 (800) 237-2765", "18006734828"])
        return self.rng.choice(["", "+", "anonymous", self.text(0, 30)])

    def digits(self) -> str:
        rng = self.rng
        choice = rng.randrange(10)
        if choice < 5:
            return rng.choice(KEYS)
        if choice < 7:
            return rng.choice(["10203040#", "03071956", "55501234#", "11231948", "7654321#", "12#"])
        if choice < 8:
            return "".join(rng.choice(KEYS) for _ in range(rng.randint(2, 900)))
        return self.text(0, 60)

    def extra(self) -> dict[str, str]:
        fields = {self.text(1, 20): self.text(0, 60) for _ in range(self.rng.randint(0, 4))}
        for name in ("Confidence", "CallDuration", "AccountSid", "Direction", "ApiVersion", "SimulatedNow"):
            if self.rng.random() < 0.15:
                fields[name] = self.rng.choice(
                    [self.text(0, 30), "0.92", "42", "-1", "1e999", "2026-11-23T21:30"]
                )
        return fields


def _garbage(junk: Junk) -> tuple[bytes, str | None]:
    rng = junk.rng
    body = rng.choice(
        [
            bytes(rng.randrange(256) for _ in range(rng.randint(0, 400))),
            f"CallSid=CA{'%zz' * rng.randint(0, 5)}&Digits=%E9%{junk.text(0, 10)}".encode("utf-8", "replace"),
            "&".join(junk.text(0, 10) for _ in range(rng.randint(0, 30))).encode("utf-8", "replace"),
            b'{"CallSid": "CA123", "Digits": "1"}',
            b'--x\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\nCA1\r\n--x--\r\n',
        ]
    )
    content_type = rng.choice(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "multipart/form-data",
            None,
        ]
    )
    return body, content_type


def test_ten_thousand_seeded_random_requests(wsgi: Client, errors: LoggedErrors) -> None:
    rng = random.Random(SEED)
    junk = Junk(rng)
    sender = Sender(wsgi, errors)
    live: dict[str, tuple[dict[str, str], str, str]] = {}  # sid -> (fields, next action, state)
    walked = 0
    while sender.sent < REQUESTS:
        roll = rng.random()
        if roll < 0.12 or (roll < 0.45 and not live):
            # A new call on a line (or on junk numbers), answered by its first menu.
            sid = "CA" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
            fields = {"CallSid": sid, "To": junk.number(), "From": junk.number(), "CallStatus": "ringing"}
            response = sender.send("POST", "/voice", form={**junk.extra(), **fields})
            action = _action(response)
            if action and len(live) < 40:
                live[sid] = (fields, action, response.headers.get("X-IVR-State", ""))
        elif roll < 0.45:
            # A live call walked on: keys, speech, silence, or Twilio re-posting a stale step.
            sid = rng.choice(list(live))
            fields, action, state = live[sid]
            form = dict(fields, CallStatus="in-progress")
            kind = rng.randrange(10)
            if kind < 3:
                form["Digits"] = rng.choice(GOOD_ENTRIES.get(state, tuple(KEYS)))
            elif kind < 7:
                form["Digits"] = junk.digits()
            elif kind < 9:
                form.update(SpeechResult=rng.choice([*SPEECH, junk.text(0, 300)]), Confidence="0.9")
            if rng.random() < 0.1:
                action = (
                    f"/voice/input?step={rng.choice(['0', '1', '7', '-1', '99999999999', junk.text(0, 8)])}"
                )
            path, _, query = action.partition("?")
            response = sender.send("POST", path, query=query, form=form)
            walked += 1
            following = _action(response)
            if following:
                live[sid] = (fields, following, response.headers.get("X-IVR-State", ""))
            else:
                live.pop(sid)
                sender.send(
                    "POST", "/voice/status", form={**fields, "CallStatus": "completed", "CallDuration": "61"}
                )
        elif roll < 0.62:
            # Gather results for any CallSid at all, with any step.
            form = {**junk.extra(), "CallSid": junk.sid(), "To": junk.number(), "Digits": junk.digits()}
            if rng.random() < 0.3:
                form["SpeechResult"] = junk.text(0, 2000)
            query = rng.choice(
                ["", f"step={rng.randint(-5, 40)}", f"step={quote(junk.text(0, 10))}", junk.text(0, 40)]
            )
            sender.send("POST", "/voice/input", query=query, form=form)
        elif roll < 0.72:
            # Status callbacks: live calls ended mid-menu, unknown calls, junk statuses.
            sid = rng.choice([*live, junk.sid()]) if live else junk.sid()
            status = rng.choice(
                ["completed", "busy", "failed", "no-answer", "canceled", "in-progress", junk.text()]
            )
            form = {
                "CallSid": sid,
                "CallStatus": status,
                "CallDuration": rng.choice(["", "3", junk.text(0, 12)]),
            }
            sender.send("POST", "/voice/status", form=form)
            if status in ("completed", "canceled"):
                live.pop(sid, None)
        elif roll < 0.80:
            # The static webhooks, by GET or POST, with any language.
            query = rng.choice(
                ["", "lang=en", "lang=es", f"lang={quote(junk.text(0, 12))}", junk.text(0, 30)]
            )
            sender.send(rng.choice(["GET", "POST"]), rng.choice(STATIC), query=query, form=junk.extra())
        elif roll < 0.88:
            # No CallSid, or a blank one: a 400 spoken as TwiML.
            form = {**junk.extra(), "To": junk.number(), "Digits": junk.digits()}
            form.pop("CallSid", None)  # junk.extra() may have drawn it as a random name
            if rng.random() < 0.5:
                form["CallSid"] = rng.choice(["", " ", "\t", "\u3000"])
            sender.send("POST", rng.choice(["/voice", "/voice/input"]), form=form)
        elif roll < 0.98:
            # Garbage bodies under any content type.
            body, content_type = _garbage(junk)
            path = rng.choice(["/voice", "/voice/input", "/voice/status", *STATIC])
            sender.send("POST", path, body=body, content_type=content_type)
        else:
            # Bodies over the limit.
            form = {"CallSid": junk.sid() or "CA1", "SpeechResult": "a" * (MAX_BODY + rng.randint(1, 4096))}
            sender.send("POST", rng.choice(["/voice", "/voice/input", "/voice/status"]), form=form)
    assert sender.sent >= 10_000, sender.sent
    # The mix reached what it aims at: calls walked deep, every kind of answer seen.
    assert walked >= 2_000, walked
    assert {200, 204, 400, 413} <= set(sender.statuses), sender.statuses
    assert len(sender.states) >= 20, sorted(sender.states)


# --------------------------------------------------------------------------- hypothesis

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(max_size=40)
forms = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["CallSid", "To", "From", "Digits", "SpeechResult", "CallStatus", "CallDuration", "SimulatedNow"]
        ),
        st.text(min_size=1, max_size=12),
    ),
    st.one_of(text, st.sampled_from(["CA" + "1" * 32, *LINES, "1", "0", "#", "completed", "refill"])),
    max_size=8,
)
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["POST", "POST", "POST", "GET"]),
        "path": st.sampled_from(["/voice", "/voice/input", "/voice/status", *STATIC]),
        "query": st.one_of(
            st.just(""), st.integers(-3, 30).map(lambda n: f"step={n}"), text.map(quote), text
        ),
        "form": forms,
        "raw": st.one_of(st.none(), st.binary(max_size=300)),
        "content_type": st.sampled_from(
            [
                None,
                "application/x-www-form-urlencoded",
                "text/plain",
                "application/json",
                "multipart/form-data; boundary=b",
            ]
        ),
    }
)


@fuzz
@given(request=requests)
def test_random_whole_requests(wsgi: Client, errors: LoggedErrors, request: dict[str, Any]) -> None:
    """Any method, path, query, content type and body: the same rules as the loop above."""
    sender = Sender(wsgi, errors)
    method, path = request["method"], request["path"]
    if method == "GET" and path not in STATIC:
        method = "POST"  # the call webhooks take POST only (a GET is routing's 405, not ours)
    if method == "GET":
        sender.send("GET", path, query=request["query"])
    elif request["raw"] is not None:
        sender.send(
            "POST", path, query=request["query"], body=request["raw"], content_type=request["content_type"]
        )
    else:
        sender.send("POST", path, query=request["query"], form=request["form"])
    assert sender.sent == 1
