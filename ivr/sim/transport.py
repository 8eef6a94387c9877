"""How a simulated caller reaches a TwiML app over HTTP; in-process over WSGI is ivr.sim.wsgi."""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit


@dataclass(frozen=True)
class HttpReply:
    """What a webhook answered."""

    status: int
    headers: dict[str, str]
    body: str
    #: Every Set-Cookie header of the answer (`headers` keeps one value per name).
    set_cookies: tuple[str, ...] = ()

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Transport(Protocol):
    """Sends one webhook request; `url` is absolute, `fields` form-encoded (POST) or in the query."""

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply: ...


@lru_cache(maxsize=1024)
def join_url(base: str, url: str) -> str:
    """urljoin, kept: calls resolve the same few action and wait URLs against the same documents."""
    return urljoin(base, url)


def url_with_query(url: str, fields: Mapping[str, str]) -> str:
    """Append fields to a URL's query, as Twilio does for GET webhooks."""
    if not fields:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(dict(fields))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as it is: the caller follows it the way Twilio does, with its fields."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())

#: Twilio "will wait for a total of 15 seconds to receive an HTTP response" (error 11205).
TWILIO_TIMEOUT = 15.0


class HttpTransport:
    """Calls any URL over HTTP(S): our server, or someone else's TwiML app.

    A request gives up after `timeout` seconds (Twilio's 15 by default), raising TimeoutError;
    3xx answers are returned, not followed.
    """

    def __init__(self, timeout: float = TWILIO_TIMEOUT) -> None:
        self.timeout = timeout

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        data = None
        if method == "GET":
            url = url_with_query(url, fields)
        else:
            data = urlencode(dict(fields)).encode()
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                return HttpReply(
                    resp.status,
                    {k.lower(): v for k, v in resp.headers.items()},
                    resp.read().decode("utf-8", "replace"),
                    tuple(resp.headers.get_all("Set-Cookie") or ()),
                )
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", "replace") if err.fp else ""
            cookies = tuple(err.headers.get_all("Set-Cookie") or ()) if err.headers else ()
            return HttpReply(err.code, {k.lower(): v for k, v in err.headers.items()}, body, cookies)


class PooledHttpTransport:
    """Calls over HTTP(S) with keep-alive: one open connection per thread and host, reused.

    For load runs: a new TCP connection per request (HttpTransport) costs the caller's side
    more than the request itself. Share one instance between threads; each thread keeps its own
    connections, so a thread's requests go out one at a time, in order.
    """

    def __init__(self, timeout: float = TWILIO_TIMEOUT) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        body = None
        if method == "GET":
            url = url_with_query(url, fields)
        else:
            body = urlencode(dict(fields)).encode()
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = dict(headers)
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            conn, reused = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionResetError, BrokenPipeError) as exc:
                # RemoteDisconnected is a ConnectionResetError: the server closed an idle
                # keep-alive connection before reading the request, so sending it again is safe.
                self._drop(parts.scheme, parts.netloc)
                if reused and attempt == 1:
                    continue
                raise ConnectionError(f"{method} {url}: {exc}") from exc
            except http.client.HTTPException as exc:
                self._drop(parts.scheme, parts.netloc)
                raise ConnectionError(f"{method} {url}: {exc!r}") from exc
            except OSError:
                self._drop(parts.scheme, parts.netloc)
                raise
            if response.will_close:
                self._drop(parts.scheme, parts.netloc)
            return HttpReply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                data.decode("utf-8", "replace"),
                tuple(response.msg.get_all("Set-Cookie") or ()),
            )
        raise AssertionError("unreachable")  # the loop returns or raises

    def close(self) -> None:
        """Close this thread's connections (other threads' close when they end)."""
        for conn in self._pool().values():
            conn.close()
        self._pool().clear()

    def _pool(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        pool: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def _connection(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._pool()
        conn = pool.get((scheme, netloc))
        if conn is not None:
            return conn, True
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=self.timeout)
        elif scheme == "http":
            conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
        else:
            raise ValueError(f"{scheme!r} URLs cannot be called over HTTP; use http:// or https://")
        pool[(scheme, netloc)] = conn
        return conn, False

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self._pool().pop((scheme, netloc), None)
        if conn is not None:
            conn.close()
