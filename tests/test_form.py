"""webhooks/form.py: the one-pass decoder gives what werkzeug's parse_qsl call gives, always."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, quote_plus

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import urls  # noqa: F401 - the "werkzeug.url_quote" error handler

from webhooks.form import FormRequest, parse_urlencoded


def _werkzeug(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")


# Bodies made of the characters that matter to a decoder: separators, quotes, escapes (good and
# broken, ASCII and UTF-8), and plain text.
_PIECES = st.sampled_from(
    [
        "&",
        "=",
        "+",
        "%",
        "%2B",
        "%2b",
        "+%2B",
        "%26",
        "%3D",
        "%20",
        "%C3%B1",
        "%C3",
        "%ZZ",
        "%E2%82",
        "a",
        "ñ",
        ";",
        " ",
    ]
)
_BODIES = st.lists(_PIECES | st.text(max_size=4), max_size=30).map("".join)


@given(_BODIES)
def test_any_body_decodes_as_parse_qsl_decodes_it(text: str) -> None:
    assert parse_urlencoded(text) == _werkzeug(text)


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=30))
def test_encoded_fields_come_back_as_they_were_sent(fields: dict[str, str]) -> None:
    body = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in fields.items())
    assert dict(parse_urlencoded(body)) == fields  # every field is a part with an `=`


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("From=%2B15005550006&To=%2B18002372765", [("From", "+15005550006"), ("To", "+18002372765")]),
        ("SpeechResult=refill+my+prescription", [("SpeechResult", "refill my prescription")]),
        ("FromCity=&Digits=1", [("FromCity", ""), ("Digits", "1")]),
        ("a&&b=", [("a", ""), ("b", "")]),
        ("Caller=S%C3%A3o+Paulo", [("Caller", "São Paulo")]),
        ("bad=%C3&worse=%ZZ", [("bad", "%C3"), ("worse", "%ZZ")]),
        ("x=1;y=2", [("x", "1;y=2")]),
    ],
)
def test_twilio_like_fields(body: str, expected: list[tuple[str, str]]) -> None:
    assert parse_urlencoded(body) == expected == _werkzeug(body)


def test_the_app_reads_webhook_forms_with_it(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.request_class is FormRequest
    body = "CallSid=CA" + "0" * 32 + "&From=%2B15005550006&SpeechResult=billing+please&Empty="
    with app.test_request_context(
        "/voice", method="POST", data=body, content_type="application/x-www-form-urlencoded"
    ):
        from flask import request

        assert request.form.to_dict() == {
            "CallSid": "CA" + "0" * 32,
            "From": "+15005550006",
            "SpeechResult": "billing please",
            "Empty": "",
        }


@given(
    st.lists(st.tuples(st.sampled_from(["Digits", "From", "a", ""]), st.text(max_size=5)), max_size=6),
    st.sampled_from(["Digits", "From", "a", "", "Missing"]),
)
def test_fields_get_answers_as_werkzeugs_multidict(items: list[tuple[str, str]], name: str) -> None:
    """Fields.get skips MultiDict's exception for an absent field; its answers are the same."""
    from werkzeug.datastructures import ImmutableMultiDict

    from webhooks.form import Fields

    ours, theirs = Fields(items), ImmutableMultiDict(items)
    assert ours.get(name) == theirs.get(name)
    assert ours.get(name, "none") == theirs.get(name, "none")
    assert ours.get(name, -1, type=int) == theirs.get(name, -1, type=int)
    assert ours.getlist(name) == theirs.getlist(name)


def test_the_app_keeps_the_answer_of_ensure_sync_per_function(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask asks ensure_sync for every hook and view on every request; the app asks Flask once
    per function, and a coroutine function is still handed to Flask's own wrapper."""
    asked: list[object] = []
    original = Flask.ensure_sync

    def counting(self: Flask, func: Callable[..., object]) -> Callable[..., object]:
        asked.append(func)
        return original(self, func)

    monkeypatch.setattr(Flask, "ensure_sync", counting)
    app = make_app(TRAINER="0")
    client = app.test_client()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert asked and len(asked) == len(set(asked))  # each function asked about once

    def plain() -> str:
        return "x"

    assert app.ensure_sync(plain) is plain

    async def coroutine() -> str:
        return "y"

    # Flask's own answer for a coroutine (here without asgiref: its error), every time.
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine)
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine)
