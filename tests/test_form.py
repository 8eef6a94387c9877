"""webhooks/form.py: the one-pass decoder gives what werkzeug's parse_qsl call gives, always."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import urls  # noqa: F401 - the "werkzeug.url_quote" error handler
from werkzeug.datastructures import ImmutableMultiDict

from webhooks.form import FormRequest, fields_of


def _werkzeug(text: str) -> list[tuple[str, list[str]]]:
    """Each field and its values, in order, as werkzeug's form dict holds them."""
    pairs = parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")
    return list(ImmutableMultiDict(pairs).lists())


def _ours(text: str) -> list[tuple[str, list[str]]]:
    return list(fields_of(text).lists())


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
    assert _ours(text) == _werkzeug(text)


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=30))
def test_encoded_fields_come_back_as_they_were_sent(fields: dict[str, str]) -> None:
    body = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in fields.items())
    assert fields_of(body).to_dict() == fields  # every field is a part with an `=`


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("From=%2B15005550006&To=%2B18002372765", [("From", ["+15005550006"]), ("To", ["+18002372765"])]),
        ("SpeechResult=refill+my+prescription", [("SpeechResult", ["refill my prescription"])]),
        ("FromCity=&Digits=1", [("FromCity", [""]), ("Digits", ["1"])]),
        ("a&&b=", [("a", [""]), ("b", [""])]),
        ("Caller=S%C3%A3o+Paulo", [("Caller", ["São Paulo"])]),
        ("bad=%C3&worse=%ZZ", [("bad", ["%C3"]), ("worse", ["%ZZ"])]),
        ("x=1;y=2", [("x", ["1;y=2"])]),
        ("a=1&b=2&a=3", [("a", ["1", "3"]), ("b", ["2"])]),
    ],
)
def test_twilio_like_fields(body: str, expected: list[tuple[str, list[str]]]) -> None:
    assert _ours(body) == expected == _werkzeug(body)


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


_CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-URLEncoded ;charset=utf-8",
        " application/x-www-form-urlencoded",
        "application/x-url-encoded",  # not the urlencoded type to werkzeug 3 either
        "text/plain",
        "application/json",
        "",
    ]
)
_RAW = st.lists(
    _PIECES.map(str.encode) | st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82\xac", b"x" * 40]), max_size=12
).map(b"".join)


class _Trickle(io.RawIOBase):
    """A server's input that hands over at most `piece` bytes a read, as a socket may."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data, self._piece = data, piece

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._piece, len(self._data))
        buffer[:size], self._data = self._data[:size], self._data[size:]
        return size


def _stock_and_ours(
    body: bytes,
    content_type: str,
    *,
    limit: int,
    read_first: bool,
    declared: int | None = None,
    terminated: bool = False,
    piece: int = 0,
    touched: bool = False,
) -> list[object]:
    """The form, files and rest of the stream as Flask's own Request and FormRequest read them.

    `declared` is a Content-Length other than the body's (a body that stops short, or has more
    after it); `terminated` is a server that ends the input itself (gunicorn sets
    wsgi.input_terminated); `piece` a server input that gives so many bytes a read; `touched`
    a request whose `stream` was asked for before its form.
    """
    from flask import Request
    from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
    from werkzeug.test import EnvironBuilder

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = limit
    headers = [("Content-Type", content_type)] if content_type else []
    answers: list[object] = []
    for cls in (Request, FormRequest):
        environ = EnvironBuilder(method="POST", data=body, headers=headers).get_environ()
        if not content_type:
            environ.pop("CONTENT_TYPE", None)
        if declared is not None:
            environ["CONTENT_LENGTH"] = str(declared)
        if terminated:
            environ["wsgi.input_terminated"] = True
        if piece:
            environ["wsgi.input"] = _Trickle(body, piece)
        with app.app_context():
            req = cls(environ)
            try:
                if read_first:
                    req.get_data()
                if touched:
                    req.stream  # noqa: B018 - asked for, not read
                answers.append(
                    (list(req.form.items(multi=True)), list(req.files.items(multi=True)), req.stream.read())
                )
            except RequestEntityTooLarge:
                answers.append("413")
            except ClientDisconnected:
                answers.append("400: the client went away")
    return answers


@given(_RAW, _CONTENT_TYPES, st.booleans(), st.sampled_from([16, 64 * 1024]))
def test_a_request_reads_its_form_as_flasks_own_request_does(
    body: bytes, content_type: str, read_first: bool, limit: int
) -> None:
    """The fast path for urlencoded bodies answers as werkzeug does: bodies not UTF-8, other
    content types, a body read before its form, a body over MAX_CONTENT_LENGTH (413)."""
    stock, ours = _stock_and_ours(body, content_type, limit=limit, read_first=read_first)
    assert ours == stock


@given(
    _RAW,
    st.integers(-3, 3),
    st.booleans(),
    st.sampled_from([0, 1, 7]),
    st.booleans(),
    st.sampled_from([16, 64 * 1024]),
)
def test_a_body_off_its_declared_length_reads_as_werkzeug_reads_it(
    body: bytes, off: int, terminated: bool, piece: int, touched: bool, limit: int
) -> None:
    """The body read straight off the server's input: a Content-Length short of the body (the
    rest never read), past it (the client went away: 400), a server that ends the input itself
    (read to its end, as werkzeug reads it), an input that gives a few bytes a read, a stream
    asked for before the form."""
    declared = max(len(body) + off, 0)
    stock, ours = _stock_and_ours(
        body,
        _URLENCODED,
        limit=limit,
        read_first=False,
        declared=declared,
        terminated=terminated,
        piece=piece,
        touched=touched,
    )
    assert ours == stock


_URLENCODED = "application/x-www-form-urlencoded"


def test_a_sized_body_is_read_to_its_length_and_no_further() -> None:
    """A keep-alive server's next request may follow the body: not a byte of it is taken."""
    from werkzeug.test import EnvironBuilder

    body = b"CallSid=CA1&Digits=1"
    headers = [("Content-Type", _URLENCODED)]
    environ = EnvironBuilder(method="POST", data=body + b"POST /next", headers=headers).get_environ()
    environ["CONTENT_LENGTH"] = str(len(body))
    req = FormRequest(environ)
    assert req.form.to_dict() == {"CallSid": "CA1", "Digits": "1"}
    assert environ["wsgi.input"].read() == b"POST /next"


@given(st.lists(_PIECES | st.text(alphabet="abcXYZ019-_.~", max_size=4), max_size=20).map("".join))
def test_a_query_string_reads_as_flasks_own_request_reads_it(query: str) -> None:
    """`args` decoded in one pass: the same fields, in the same order, as werkzeug's."""
    from flask import Request
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(method="POST", path="/voice/input").get_environ()
    environ["QUERY_STRING"] = query.encode().decode("latin-1")  # as a WSGI server carries it
    stock, ours = Request(environ).args, FormRequest(environ).args
    assert list(ours.items(multi=True)) == list(stock.items(multi=True))
    assert isinstance(ours, type(stock))


def test_flasks_debug_mode_still_gets_its_files_wrapper() -> None:
    """In debug mode Flask swaps `files` for a dict whose KeyError explains the enctype."""
    from werkzeug.test import EnvironBuilder

    app = Flask(__name__)
    app.debug = True
    environ = EnvironBuilder(method="POST", data={"Digits": "1"}).get_environ()
    with app.app_context():
        req = FormRequest(environ)
        assert req.form.to_dict() == {"Digits": "1"}
        with pytest.raises(KeyError, match="enctype"):
            req.files["Digits"]  # a field the form has: the message names the enctype


def test_a_request_outside_an_app_context_reads_its_form() -> None:
    """As Flask's own Request does (no app: no limit, no debug mode), never a RuntimeError."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(method="POST", data={"Digits": "1", "From": "+15005550006"}).get_environ()
    assert FormRequest(environ).form.to_dict() == {"Digits": "1", "From": "+15005550006"}
