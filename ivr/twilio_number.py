"""Point a Twilio phone number at this app's voice webhooks.

``configure_number`` finds one of the account's incoming phone numbers and sets, in a
single update call, its voice URL (``/voice``), status callback (``/voice/status``) and
voice fallback URL (``/voice/fallback``), all with method POST.

``client_from_env`` builds a ``twilio.rest.Client`` from environment variables.

Every failure is a :class:`ConfigureError` whose message says what is wrong and how to
mend it. No secret (auth token, API secret, or a password inside a URL) is ever put in
a message or a log line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ivr import IvrError

__all__ = [
    "ConfigureError",
    "NumberConfig",
    "client_from_env",
    "configure_number",
    "normalise_base_url",
    "normalise_phone_number",
]

log = logging.getLogger(__name__)

VOICE_PATH = "/voice"
STATUS_PATH = "/voice/status"
FALLBACK_PATH = "/voice/fallback"

#: How many of the account's numbers a "number not found" message lists.
MAX_LISTED_NUMBERS = 10

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SEPARATORS = re.compile(r"[\s().\-/]")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "::"})


class ConfigureError(IvrError):
    """Configuring the Twilio number failed; the message says why and how to mend it."""


@dataclass(frozen=True)
class NumberConfig:
    """The webhook configuration of a Twilio number, as Twilio reported it after the update."""

    sid: str
    phone_number: str
    voice_url: str
    status_callback: str
    fallback_url: str
    #: True when the base URL is plain http: Twilio will call it, but without TLS.
    insecure_http: bool = False
    #: Human-readable warnings (http rather than https, an app or trunk overriding the URLs).
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- input checks


def normalise_phone_number(phone_number: str) -> str:
    """Return ``phone_number`` in E.164 form ("+1 (555) 010-0000" -> "+15550100000").

    Spaces, dashes, dots, slashes and parentheses are dropped; a leading "00" international
    prefix becomes "+". The country code is required.
    """
    raw = phone_number.strip()
    if raw.lower().startswith("tel:"):
        raw = raw[4:]
    compact = _SEPARATORS.sub("", raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if _E164.fullmatch(compact):
        return compact
    if compact.isdigit():
        hint = (
            "it has no country code: write it in E.164 form with a leading '+', "
            "e.g. +15550100000 for a US number"
        )
    elif not compact:
        hint = "it is empty: pass the Twilio number in E.164 form, e.g. +15550100000"
    else:
        hint = (
            "it must be '+', a country code and the number (7 to 15 digits in all), "
            "e.g. +15550100000; only spaces, dashes, dots and parentheses may separate digits"
        )
    raise ConfigureError(f"Bad phone number {phone_number!r}: {hint}.")


def _redact(url: str) -> str:
    """``url`` with any user:password part replaced, for use in messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc="***@" + host))


def normalise_base_url(base_url: str) -> tuple[str, bool]:
    """Check ``base_url`` and return it without trailing slashes, plus an "is http" flag."""
    url = base_url.strip()
    shown = _redact(url)
    mend = "pass the public address of this app, e.g. https://ivr.example.com"
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigureError(f"Bad base URL {shown!r}: {exc}; {mend}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not scheme or "://" not in url:
            what = "it is not absolute (no http:// or https:// in front)"
        else:
            what = f"its scheme is {scheme!r}"
        raise ConfigureError(f"Bad base URL {shown!r}: {what}; it must start with https://; {mend}.")
    if not hostname:
        raise ConfigureError(f"Bad base URL {shown!r}: it has no host name; {mend}.")
    if parts.query or parts.fragment:
        raise ConfigureError(
            f"Bad base URL {shown!r}: it has a query string or fragment, so the webhook paths "
            f"cannot be appended; drop everything from '?' or '#'."
        )
    if hostname.lower() in _LOCAL_HOSTS or hostname.startswith("127."):
        raise ConfigureError(
            f"Bad base URL {shown!r}: Twilio cannot reach {hostname}, which is this machine; "
            f"expose the app through a public tunnel (e.g. ngrok) and pass its https:// URL."
        )
    path = parts.path.rstrip("/")
    clean = urlunsplit((scheme, parts.netloc, path, "", ""))
    return clean, scheme == "http"


# --------------------------------------------------------------------------- Twilio errors


def _status_hint(status: int | None) -> str:
    if status == 401:
        return (
            "check that TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and "
            "TWILIO_API_SECRET) are right and belong to the same account"
        )
    if status == 403:
        return "the credentials may not change this number; use the owning account's credentials"
    if status == 404:
        return (
            "the account or number was not found; check TWILIO_ACCOUNT_SID names the "
            "(sub)account that owns the number"
        )
    if status == 429:
        return "Twilio is rate limiting this account; wait a little and run the command again"
    if status is not None and status >= 500:
        return "Twilio had a server error; try again later (see https://status.twilio.com)"
    if status == 400:
        return "Twilio refused a value; check the base URL is a valid public http(s) URL"
    return "see the Twilio console's error log for details"


def _twilio_error(exc: TwilioException, action: str) -> ConfigureError:
    """Translate any Twilio library exception into a ConfigureError."""
    status: int | None = None
    code: object = None
    text = ""
    if isinstance(exc, TwilioRestException):
        status = int(exc.status)
        code = exc.code
        text = str(exc.msg)
    elif hasattr(exc, "status") and hasattr(exc, "title"):  # TwilioServiceException
        status = int(exc.status)
        code = getattr(exc, "code", None)
        detail = getattr(exc, "detail", None)
        text = str(exc.title) + (f": {detail}" if detail else "")
    else:
        # The page reader raises a bare TwilioException("Unable to fetch page", response).
        args: tuple[Any, ...] = exc.args
        text = str(args[0]) if args else type(exc).__name__
        response = args[1] if len(args) > 1 else None
        if response is not None and hasattr(response, "status_code"):
            status = int(response.status_code)
            try:
                body = json.loads(str(response.text))
            except ValueError:
                body = None
            if isinstance(body, dict):
                if body.get("message"):
                    text = f"{text}: {body['message']}"
                code = body.get("code")
    where = f"HTTP {status}" if status is not None else "no HTTP status"
    if code is not None and code != status:
        where += f", Twilio error {code}"
    return ConfigureError(f"Twilio refused to {action} ({where}): {text}. To fix: {_status_hint(status)}.")


# --------------------------------------------------------------------------- the API


def _str(value: object, default: str = "") -> str:
    return default if value is None else str(value)


def _not_found(client: Client, e164: str) -> ConfigureError:
    account = _str(getattr(client, "account_sid", None), "this account")
    try:
        numbers = client.incoming_phone_numbers.list(limit=MAX_LISTED_NUMBERS + 1)
    except TwilioException as exc:
        return _twilio_error(exc, "list the account's phone numbers")
    owned = [_str(n.phone_number) for n in numbers]
    if not owned:
        return ConfigureError(
            f"Phone number {e164} is not on account {account}, which has no incoming phone "
            f"numbers. Buy or port a number in the Twilio console, or set TWILIO_ACCOUNT_SID "
            f"to the account that owns {e164}."
        )
    shown = ", ".join(owned[:MAX_LISTED_NUMBERS])
    more = " (and more)" if len(owned) > MAX_LISTED_NUMBERS else ""
    return ConfigureError(
        f"Phone number {e164} is not on account {account}. Its numbers are: {shown}{more}. "
        f"Pass one of these, or set TWILIO_ACCOUNT_SID to the account that owns {e164}."
    )


def configure_number(client: Client, phone_number: str, base_url: str) -> NumberConfig:
    """Point ``phone_number`` (one of the client's account's numbers) at ``base_url``.

    Sets VoiceUrl = base_url + "/voice", StatusCallback = base_url + "/voice/status" and
    VoiceFallbackUrl = base_url + "/voice/fallback", each with method POST, in one update.
    Raises :class:`ConfigureError` on a bad number, a bad base URL, a number the account
    does not own, or any error Twilio returns.
    """
    e164 = normalise_phone_number(phone_number)
    base, insecure = normalise_base_url(base_url)
    voice_url = base + VOICE_PATH
    status_url = base + STATUS_PATH
    fallback_url = base + FALLBACK_PATH

    try:
        candidates = client.incoming_phone_numbers.list(phone_number=e164)
    except TwilioException as exc:
        raise _twilio_error(exc, f"look up {e164}") from None
    except OSError as exc:  # requests' connection errors are OSErrors
        raise ConfigureError(
            f"Could not reach the Twilio API to look up {e164} ({type(exc).__name__}); "
            f"check the network connection and any HTTPS proxy settings."
        ) from None
    # The PhoneNumber filter matches partial numbers, so insist on an exact match.
    matches = [n for n in candidates if _str(n.phone_number) == e164]
    if not matches:
        raise _not_found(client, e164)
    number = matches[0]

    try:
        updated = number.update(
            voice_url=voice_url,
            voice_method="POST",
            status_callback=status_url,
            status_callback_method="POST",
            voice_fallback_url=fallback_url,
            voice_fallback_method="POST",
        )
    except TwilioException as exc:
        raise _twilio_error(exc, f"update the webhooks of {e164}") from None
    except OSError as exc:
        raise ConfigureError(
            f"Could not reach the Twilio API to update {e164} ({type(exc).__name__}); "
            f"check the network connection and run the command again."
        ) from None

    warnings: list[str] = []
    if insecure:
        warnings.append(
            f"The base URL {_redact(base)} is http, not https: call data will cross the "
            f"internet unencrypted and Twilio request signatures can be replayed; use https."
        )
    if getattr(updated, "voice_application_sid", None):
        warnings.append(
            f"{e164} has a voice application ({updated.voice_application_sid}) set, which "
            f"overrides the voice URLs; clear it in the Twilio console."
        )
    if getattr(updated, "trunk_sid", None):
        warnings.append(
            f"{e164} is attached to SIP trunk {updated.trunk_sid}, which overrides the voice "
            f"URLs; detach it in the Twilio console."
        )

    config = NumberConfig(
        sid=_str(updated.sid, _str(number.sid)),
        phone_number=_str(updated.phone_number, e164),
        voice_url=_str(updated.voice_url, voice_url),
        status_callback=_str(updated.status_callback, status_url),
        fallback_url=_str(updated.voice_fallback_url, fallback_url),
        insecure_http=insecure,
        warnings=tuple(warnings),
    )
    log.info(
        "configured %s (%s): voice_url=%s status_callback=%s fallback_url=%s",
        config.phone_number,
        config.sid,
        _redact(config.voice_url),
        _redact(config.status_callback),
        _redact(config.fallback_url),
    )
    for warning in warnings:
        log.warning("%s", warning)
    return config


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def client_from_env(environ: Mapping[str, str], *, http_client: Any = None) -> Client:
    """Build a Twilio client from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or from
    TWILIO_API_KEY + TWILIO_API_SECRET + TWILIO_ACCOUNT_SID.

    ``http_client`` (a ``twilio.http.HttpClient``) is passed through, e.g. for tests.
    Raises :class:`ConfigureError` naming the missing or malformed variable; never echoes
    a secret.
    """
    account_sid = _get(environ, "TWILIO_ACCOUNT_SID")
    api_key = _get(environ, "TWILIO_API_KEY")
    api_secret = _get(environ, "TWILIO_API_SECRET")
    auth_token = _get(environ, "TWILIO_AUTH_TOKEN")
    console = "find it in the Twilio console (Account Info)"

    if not account_sid:
        raise ConfigureError(
            f"TWILIO_ACCOUNT_SID is not set; set it to your account SID (AC followed by "
            f"32 hex digits); {console}."
        )
    if not _ACCOUNT_SID.fullmatch(account_sid):
        prefix = account_sid[:2]
        raise ConfigureError(
            f"TWILIO_ACCOUNT_SID is malformed (starts with {prefix!r}, "
            f"{len(account_sid)} characters); it must be AC followed by 32 hex digits; "
            f"{console}. An API key SID (SK...) goes in TWILIO_API_KEY instead."
        )

    if api_key or api_secret:
        if not api_key:
            raise ConfigureError(
                "TWILIO_API_KEY is not set but TWILIO_API_SECRET is; set TWILIO_API_KEY to "
                "the key's SID (SK...), or unset TWILIO_API_SECRET to use TWILIO_AUTH_TOKEN."
            )
        if not api_secret:
            raise ConfigureError(
                "TWILIO_API_SECRET is not set but TWILIO_API_KEY is; set it to the secret "
                "shown when the API key was created (create a new key if it was lost)."
            )
        if not _API_KEY_SID.fullmatch(api_key):
            raise ConfigureError(
                f"TWILIO_API_KEY is malformed (starts with {api_key[:2]!r}, {len(api_key)} "
                f"characters); it must be the key's SID, SK followed by 32 hex digits."
            )
        log.debug("Twilio client for account %s using API key %s", account_sid, api_key)
        return Client(
            api_key,
            api_secret,
            account_sid,
            http_client=http_client,
            environment=dict(environ),
        )

    if not auth_token:
        raise ConfigureError(
            "TWILIO_AUTH_TOKEN is not set; set it to the account's auth token "
            f"({console}), or set TWILIO_API_KEY and TWILIO_API_SECRET instead."
        )
    log.debug("Twilio client for account %s using its auth token", account_sid)
    return Client(
        account_sid,
        auth_token,
        http_client=http_client,
        environment=dict(environ),
    )
