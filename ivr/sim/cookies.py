"""One call's cookies: what the app sets on one webhook response comes back on the next request.

Twilio keeps cookies for the length of a call and not beyond, so each SimulatedCall holds its
own jar, over whichever transport it uses (transports themselves keep no cookies).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit


@dataclass
class _Cookie:
    value: str
    host: str
    path: str


class CallCookies:
    """A small cookie jar: host-only cookies by name and path, deleted by Max-Age=0 or Expires."""

    def __init__(self) -> None:
        self._jar: dict[tuple[str, str, str], _Cookie] = {}

    def take(self, url: str, set_cookies: Iterable[str]) -> None:
        """Store the cookies of a response to `url`."""
        if not set_cookies:
            return  # most answers set none: no need to look at the URL
        host = _host_and_path(url)[0]
        for header in set_cookies:
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(header)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                path = morsel["path"] or "/"
                key = (host, path, name)
                if morsel["max-age"] in ("0", "-1") or _expired(morsel["expires"]):
                    self._jar.pop(key, None)
                else:
                    self._jar[key] = _Cookie(morsel.value, host, path)

    def header(self, url: str) -> str | None:
        """The Cookie header for a request to `url`, or None when no cookie applies."""
        if not self._jar:
            return None
        host, path = _host_and_path(url)
        pairs = [
            f"{name}={cookie.value}"
            for (_, _, name), cookie in self._jar.items()
            if cookie.host == host and (path == cookie.path or path.startswith(cookie.path.rstrip("/") + "/"))
        ]
        return "; ".join(pairs) or None


@lru_cache(maxsize=1024)
def _host_and_path(url: str) -> tuple[str, str]:
    """The host (lower case) and path cookies are matched on: a call asks for the same few URLs."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.path or "/"


def _expired(expires: str) -> bool:
    if not expires:
        return False
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(expires) <= datetime.now(UTC)
    except (TypeError, ValueError):
        return False
