"""The in-process transport: a WSGI app called directly, with the environ a test client would build.

werkzeug's test client builds each request through EnvironBuilder, a MultiDict form and a
fresh `urlencode` of every field; a simulated call sends the same forty fields on every step,
so that was most of a step's cost. WsgiTransport builds the same environ itself (the same
keys, values and order; tests/test_transport_lean.py compares the two) and keeps the encoded
`name=value` pairs it has seen, so a call's constant fields are encoded once. Requests it
cannot build exactly as werkzeug would (a non-ASCII URL, a Content-Type header, a field that
is not a string) go through werkzeug's client instead.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from io import BytesIO
from typing import Any
from urllib.parse import quote_plus, unquote, urlsplit

from werkzeug.test import Client

from .transport import HttpReply, url_with_query

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: A path that werkzeug's iri_to_uri leaves as it is (ASCII, nothing it would quote).
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_.~%!$&'()*+,/:;=@-]*\Z")
#: A host iri_to_uri would not change: lower case, ASCII, a port without leading zeros.
_PLAIN_HOST = re.compile(r"[a-z0-9.-]+(:[1-9][0-9]{0,3})?\Z")
#: What werkzeug leaves unquoted in a form body (the WHATWG percent-encode set it follows).
_FORM_SAFE = "!$'()*,/:;?@"
_FORM = "application/x-www-form-urlencoded"
_MAX_PAIRS = 16_384
#: Fields seen, encoded: (name, value) -> "name=value". Shared by every transport (a runner
#: makes one per call), and cleared when full: each call's CallSid is new.
_PAIRS: dict[tuple[str, str], str] = {}


class WsgiTransport:
    """Calls a WSGI app in-process: no sockets, and the request line keeps its escapes.

    It cannot time out as Twilio does after 15 seconds: the app runs in this thread, so a slow
    app is simply waited for. Redirects and cookies are left to the caller (ivr.sim.caller).
    One instance may be shared between threads.
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._werkzeug: WerkzeugTransport | None = None

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        if method == "GET":
            url, fields = url_with_query(url, fields), {}
        environ = self.environ(method, url, fields if method == "POST" else {}, headers)
        if environ is None:
            if self._werkzeug is None:
                self._werkzeug = WerkzeugTransport(self.app)
            return self._werkzeug.request(method, url, fields, headers)
        return self._call(environ)

    def environ(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """The environ werkzeug's EnvironBuilder would build, or None when this one cannot be
        built here exactly as it would (then werkzeug's own client sends it)."""
        template = _url_environ(url)
        if template is None:
            return None
        environ = dict(template)  # the same keys in the same order as werkzeug's
        environ["REQUEST_METHOD"] = method
        environ["wsgi.errors"] = sys.stderr
        if form:
            body = self._encode(form)
            if body is None:
                return None
            environ["wsgi.input"] = BytesIO(body)
            environ["CONTENT_TYPE"] = _FORM
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            environ["wsgi.input"] = BytesIO()
        combined: dict[str, str] = {}
        for key, value in headers.items():
            if not isinstance(key, str) or not isinstance(value, str) or "\n" in value or "\r" in value:
                return None  # werkzeug refuses a header value with a line break
            name = _header_key(key)
            if name is None:
                return None  # werkzeug would take it as the body's type or length
            if name in combined:
                combined[name] += ", " + value  # the same header twice: one entry, as werkzeug's
            else:
                combined[name] = value
        environ.update(combined)
        return environ

    def _encode(self, form: Mapping[str, str]) -> bytes | None:
        """The urlencoded body, as werkzeug encodes it; None for a field that is not a string."""
        pairs = _PAIRS
        try:
            return "&".join(map(pairs.__getitem__, form.items())).encode("ascii")  # all seen before
        except KeyError:
            pass  # a field not seen yet (a new CallSid, Digits, ...)
        out = []
        for item in form.items():
            encoded = pairs.get(item)
            if encoded is None:
                key, value = item
                if not isinstance(key, str) or not isinstance(value, str):
                    return None
                if len(pairs) >= _MAX_PAIRS:
                    pairs.clear()
                encoded = pairs[item] = quote_plus(key, _FORM_SAFE) + "=" + quote_plus(value, _FORM_SAFE)
            out.append(encoded)
        return "&".join(out).encode("ascii")

    def _call(self, environ: dict[str, Any]) -> HttpReply:
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info:
                try:
                    raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            started[:] = [status, headers]
            return chunks.append

        result = self.app(environ, start_response)
        try:
            for chunk in result:
                chunks.append(chunk.encode() if isinstance(chunk, str) else chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, header_list = started
        headers: dict[str, str] = {}
        cookies = []
        for key, value in header_list:
            lower = key.lower()
            headers[lower] = value
            if lower == "set-cookie":
                cookies.append(value)
        return HttpReply(_status_code(status), headers, b"".join(chunks).decode(), tuple(cookies))


@lru_cache(maxsize=1024)
def _url_environ(url: str) -> dict[str, Any] | None:
    """The environ entries that come from the URL (and the constant ones), in werkzeug's order;
    None for a URL werkzeug would change on the way (non-ASCII, upper case host, ...)."""
    parts = urlsplit(url)
    scheme, host, path, query = parts.scheme, parts.netloc, parts.path or "/", parts.query
    plain = _PLAIN_HOST.match(host) and _PLAIN_PATH.match(path) and query.isascii()
    if scheme not in ("http", "https") or not plain:
        return None
    target = f"{path}?{query}" if query else path
    name, _, port = host.partition(":")
    return {
        "REQUEST_METHOD": "",
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path).encode().decode("latin1"),  # decoded, as WSGI carries it
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "SERVER_NAME": name,
        "SERVER_PORT": port or ("443" if scheme == "https" else "80"),
        "HTTP_HOST": host,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": None,
        "wsgi.errors": None,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


@lru_cache(maxsize=256)
def _header_key(name: str) -> str | None:
    """`User-Agent` -> `HTTP_USER_AGENT`; None for the headers werkzeug takes for the body's."""
    if name.lower() in ("content-type", "content-length"):
        return None
    return "HTTP_" + name.upper().replace("-", "_")


def _status_code(status: str) -> int:
    code = _CODES.get(status)
    if code is None:
        try:
            code = int(status.strip().partition(" ")[0])
        except ValueError:
            code = 0
        if len(_CODES) < 256:
            _CODES[status] = code
    return code


#: Status lines seen ("200 OK") and their codes: an app answers with a few.
_CODES: dict[str, int] = {}


class WerkzeugTransport:
    """Calls a WSGI app through werkzeug's test client: the reference WsgiTransport matches,
    and the way it sends what it cannot build itself."""

    def __init__(self, app: WsgiApp) -> None:
        self._client = Client(app, use_cookies=False)

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        if method == "GET":
            url = url_with_query(url, fields)
        parts = urlsplit(url)
        # Path and query together, as on a request line: werkzeug then puts both in
        # REQUEST_URI/RAW_URI, as real servers do; with `query_string=` they held the path only.
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response = self._client.open(
            path=target,
            base_url=f"{parts.scheme}://{parts.netloc}",
            method=method,
            data=dict(fields) if method == "POST" else None,
            headers=dict(headers),
        )
        return HttpReply(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.get_data(as_text=True),
            tuple(response.headers.getlist("Set-Cookie")),
        )
