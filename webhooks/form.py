"""Form bodies decoded in one pass: Twilio posts ~25 urlencoded fields on every webhook.

werkzeug decodes `application/x-www-form-urlencoded` with `urllib.parse.parse_qsl`, which calls
`unquote` on every name and value (about 50 calls a request). Most of Twilio's fields hold no
`%` and no `+` (`CallSid=CA…`, `CallStatus=in-progress`, the empty geographic ones), so this
decoder splits once and unquotes only what is quoted. It gives exactly what parse_qsl gives with
werkzeug's options (blank values kept, `&` the only separator, bad UTF-8 escapes kept as
`%XX`): tests/test_form.py checks that against parse_qsl itself. Other bodies (multipart, JSON)
go to werkzeug's own parsers unchanged.
"""

from __future__ import annotations

from io import BytesIO
from typing import IO, Any
from urllib.parse import unquote

from flask import Request, current_app
from werkzeug import urls as _urls  # noqa: F401 - registers the "werkzeug.url_quote" error handler
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import ClientDisconnected
from werkzeug.formparser import FormDataParser
from werkzeug.utils import cached_property


def _unquote(value: str) -> str:
    # A phone number's "+" (%2B) is the one escape in most of Twilio's fields (From, To,
    # Caller, Called, ForwardedFrom): replaced at once; anything else goes to unquote.
    if value.count("%") == value.count("%2B"):
        return value.replace("%2B", "+")
    return unquote(value, errors="werkzeug.url_quote")


class Fields(ImmutableMultiDict[str, str]):
    """werkzeug's form and query dict, whose `get` of an absent field raises no exception.

    MultiDict.get looks the name up through `__getitem__`, which raises (and builds) a
    BadRequestKeyError for every field not sent: a webhook reads about ten of Twilio's optional
    fields (Digits, SpeechResult, CallDuration...) and most are absent on most requests.
    """

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]  # noqa: A002
        if type is not None:
            return super().get(key, default, type)
        values = dict.get(self, key)
        return values[0] if values else default


def fields_of(text: str) -> Fields:
    """A urlencoded text as form fields, as werkzeug decodes it (ImmutableMultiDict of
    `parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")`), in one pass.

    Split once, and only what is quoted unquoted; the pairs grouped here into MultiDict's dict
    of lists, whose constructor would first ask which of its three kinds of argument it was
    given (an ABC isinstance check), then group them itself.
    """
    grouped: dict[str, list[str]] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "+" in part:
            name, value = name.replace("+", " "), value.replace("+", " ")
        if "%" in name:
            name = unquote(name, errors="werkzeug.url_quote")
        if "%" in value:
            value = _unquote(value)
        values = grouped.get(name)
        if values is None:
            grouped[name] = [value]
        else:
            values.append(value)
    fields = Fields()
    dict.update(fields, grouped)  # a MultiDict is a dict of lists, in the order first seen
    return fields


def read_fields(stream: IO[bytes]) -> Fields:
    """The rest of `stream`, a urlencoded body, as form fields (ValueError if it is not UTF-8)."""
    return fields_of(stream.read().decode())


class _Parser(FormDataParser):
    def _parse_urlencoded(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> Any:
        # The stream is already held to MAX_CONTENT_LENGTH (webhooks/limits.py for chunked ones).
        return stream, read_fields(stream), self.cls()


#: Attributes a request has once its body was read, or began to be: then werkzeug's stream reads on.
_BODY_TOUCHED = frozenset(["_cached_data", "stream"])

#: The one body werkzeug's form machinery is bypassed for (its mimetype, as werkzeug reads it).
URLENCODED = "application/x-www-form-urlencoded"


class FormRequest(Request):
    """Flask's request with the one-pass urlencoded decoder (app.request_class).

    A urlencoded body (every Twilio webhook) is decoded here, straight off werkzeug's own input
    stream: werkzeug's parser set-up and mimetype parsing around the decoder cost about as much
    as the decoding. The answer is werkzeug's in every case (tests/test_form.py): the body held
    to MAX_CONTENT_LENGTH by `stream`, a body that is not UTF-8 read as an empty form, as
    werkzeug's silent parser reads it. Other bodies, and Flask's debug mode (which wraps
    `files`), go to werkzeug and Flask unchanged.
    """

    form_data_parser_class = _Parser
    parameter_storage_class = Fields

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        mimetype = self.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if mimetype != URLENCODED or (current_app and current_app.debug):  # as Flask asks it
            super()._load_form_data()
            return
        body = self._sized_body()
        if body is None:
            stream = self._get_stream_for_parsing()
            body = stream.read()
        else:  # read whole: what werkzeug's stream would still give is nothing
            stream = BytesIO()
        try:
            form = fields_of(body.decode())
        except ValueError:  # a body that is not UTF-8
            form = Fields()
        d = self.__dict__
        d["stream"], d["form"], d["files"] = stream, form, Fields()

    def _sized_body(self) -> bytes | None:
        """The body read straight off `wsgi.input`, when it declares a length within the limit
        and nothing read it before; None for werkzeug's stream to read it.

        werkzeug's stream is a LimitedStream around the input, which reads it in 64 KiB pieces
        up to the declared length: a few microseconds a webhook for a body of 1 KiB, as the
        simulated caller sends them in-process. Read here: exactly the declared length, never
        a byte past it, and a body that stops short is a client gone (400), as werkzeug's
        stream answers. A server that ends the input itself (wsgi.input_terminated, as
        gunicorn does) gets werkzeug's reading, which goes by the input's end, not the length.
        """
        environ = self.environ
        declared = environ.get("CONTENT_LENGTH", "")
        if (
            not (declared.isascii() and declared.isdigit())
            or "wsgi.input_terminated" in environ
            or not _BODY_TOUCHED.isdisjoint(self.__dict__)
        ):
            return None
        length = int(declared)
        limit = self.max_content_length
        if limit is not None and length > limit:
            return None  # werkzeug's stream raises the 413
        stream: IO[bytes] = environ["wsgi.input"]
        body = stream.read(length)
        while len(body) < length:
            more = stream.read(length - len(body))
            if not more:
                raise ClientDisconnected()
            body += more
        return body

    @cached_property
    def args(self) -> Fields:
        """The query string's fields, decoded as werkzeug decodes them (parse_qsl, blank values
        kept), in one pass."""
        return fields_of(self.query_string.decode())
