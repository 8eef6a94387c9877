"""Who may use the trainer page: this app's hosts only, same-origin JSON with a CSRF token bound to
the session, a strict session cookie, and a password when one is set.

Every check runs in one app-level hook for the trainer's blueprints (the page, its API, the login
views); the webhooks are left alone: they are Twilio's, and the signature covers the URL Twilio
requested, Host included (README, "The trainer page's threat model"). CSRF tokens are
flask-wtf's (signed, bound to the session), checked here for the trainer only: `<meta
name="csrf-token">` in the page, the `X-CSRF-Token` header on every state-changing request (or
`csrf_token` in a form or a JSON beacon, which cannot carry headers).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, abort, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect, validate_csrf
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse
from wtforms.validators import ValidationError

from ivr import ConfigError, Engine, signs_webhooks

#: The blueprints these checks guard: the page and its static files, its API, login and logout.
TRAINER_BLUEPRINTS = frozenset(["trainer", "trainer_api", "trainer_auth"])
UNSAFE_METHODS = frozenset(["POST", "PUT", "PATCH", "DELETE"])
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "[::1]")
SESSION_COOKIE = "ivr_trainer"
#: Paths that are not the trainer's: Twilio's webhooks (webhooks/voice.py) and the health checks.
SESSIONLESS_PATHS = ("/voice", "/healthz", "/readyz")
#: Failed logins from one address within LOGIN_WINDOW seconds before it must wait.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW = 15 * 60
MIN_PASSWORD = 8

csrf = CSRFProtect()
#: The identity-lockout sources of the page request being served (its browser, its address), read
#: by the engine when a page call it places starts (Engine.page_sources): the call runs in this
#: thread, in-process, so no other request sees them.
_PAGE_SOURCES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("page_sources", default=None)
_TOKEN = "ivr.page_sources"


def init_app(app: Flask) -> None:
    """Configure sessions and CSRF and install the checks; refuse to start a real number's
    trainer without a password."""
    config = app.config
    password = str(config.get("TRAINER_PASSWORD") or "")
    if not password and signs_webhooks(config):
        raise ConfigError(
            "TWILIO_AUTH_TOKEN or TWILIO_WEBHOOK_SHARED_KEY is set, so this app answers a real "
            "number, and its trainer page can place calls the app signs itself: set "
            "IVR_TRAINER_PASSWORD to a long passphrase (the page then asks for it), or turn the "
            "page off with IVR_TRAINER=0"
        )
    if password and len(password) < MIN_PASSWORD:
        raise ConfigError(f"IVR_TRAINER_PASSWORD is too short: use at least {MIN_PASSWORD} characters")
    engine: Engine = app.extensions["ivr"]
    # Never the member key itself: a key derived from it (the same on every worker and host).
    key = config.get("SESSION_SECRET_KEY") or engine.keyed_hash("trainer-session", "v1")
    config["SESSION_SECRET_KEY"] = key
    config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_CHECK_DEFAULT=False,  # the webhooks take none: checked here, for the trainer only
        WTF_CSRF_HEADERS=["X-CSRF-Token"],
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: a page stays open through a class
        WTF_CSRF_SECRET_KEY=hmac.new(key.encode(), b"csrf", hashlib.sha256).hexdigest(),
    )
    app.config["ALLOWED_HOSTS"] = allowed_hosts(config)
    app.session_interface = TrainerSessionInterface()
    csrf.init_app(app)
    engine.page_sources = _PAGE_SOURCES.get
    # Scoped to the trainer's blueprints (Flask's hooks keyed by blueprint name), ahead of their
    # own hooks: the webhooks, which are most requests, never call them.
    for name in TRAINER_BLUEPRINTS:
        app.before_request_funcs.setdefault(name, []).insert(0, _check_trainer_request)
        app.teardown_request_funcs.setdefault(name, []).insert(0, _forget_page_sources)


def allowed_hosts(config: Any) -> tuple[str, ...]:
    """IVR_ALLOWED_HOSTS (comma- or space-separated), else the loopback names; plus the host of
    IVR_PUBLIC_BASE_URL. `.example.com` allows every subdomain of example.com."""
    given = config.get("ALLOWED_HOSTS")
    if isinstance(given, (list, tuple)):
        hosts = [str(h) for h in given]
    elif given:
        hosts = str(given).replace(",", " ").split()
    else:
        hosts = list(DEFAULT_HOSTS)
    public = config.get("PUBLIC_BASE_URL")
    if public:
        hosts.append(_hostname(urlsplit(str(public)).netloc))
    return tuple(dict.fromkeys(h.strip().lower().rstrip(".") for h in hosts if h.strip()))


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether a Host header (port ignored) names one of the allowed hosts."""
    name = _hostname(host)
    if not name:
        return False
    for entry in allowed:
        if name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:])):
            return True
    return False


def same_origin(origin: str, own: tuple[str, ...]) -> bool:
    """Whether an Origin (or a Referer's scheme and host) is one of this app's origins."""
    theirs = _origin(origin)
    return bool(theirs) and theirs in {_origin(o) for o in own}


def password_fingerprint(password: str) -> str:
    """What a session keeps to show it logged in with this password (keyed: no offline guessing;
    a changed password ends every session)."""
    key = str(current_app.config["SESSION_SECRET_KEY"]).encode()
    return hmac.new(key, b"trainer-password:" + password.encode(), hashlib.sha256).hexdigest()[:32]


def password_matches(given: str) -> bool:
    """Constant-time comparison with IVR_TRAINER_PASSWORD (digests first: lengths stay hidden)."""
    expected = str(current_app.config.get("TRAINER_PASSWORD") or "")
    ours = hashlib.sha256(expected.encode()).digest()
    theirs = hashlib.sha256(given.encode()).digest()
    return bool(expected) and hmac.compare_digest(ours, theirs)


def logged_in() -> bool:
    password = str(current_app.config.get("TRAINER_PASSWORD") or "")
    if not password:
        return True
    mark = session.get("trainer")
    return isinstance(mark, str) and hmac.compare_digest(mark, password_fingerprint(password))


def browser_id() -> str:
    """A random id for this browser's session (made on first use): the lockout's page source."""
    value = session.get("browser")
    if not isinstance(value, str):
        value = secrets.token_hex(16)
        session["browser"] = value
    return value


def client_address() -> str:
    return request.remote_addr or "unknown"


def masked_address(address: str) -> str:
    """An address fit for a log line: the network part only (203.0.113.x, 2001:db8:…)."""
    if ":" in address:
        return ":".join(address.split(":")[:3]) + ":…"
    parts = address.split(".")
    return ".".join(parts[:3] + ["x"]) if len(parts) == 4 else "…"


class TrainerSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, signed with the trainer's own key (never IVR_SECRET_KEY, which
    Flask would take as its SECRET_KEY) and Secure whenever the request came over https."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = app.config.get("SESSION_SECRET_KEY")
        if not key:
            return None
        return URLSafeTimedSerializer(
            str(key),
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Twilio's webhooks and the health checks never use a session: no cookie to verify,
        # no serializer to build (Flask gives them its null session, which cannot be written).
        if request.path.startswith(SESSIONLESS_PATHS):
            return None
        return super().open_session(app, request)


# -- the checks, in order: host, origin, login, JSON, CSRF ----------------------------------------


def _check_trainer_request() -> BaseResponse | None:
    config = current_app.config
    if not host_allowed(request.host, config["ALLOWED_HOSTS"]):
        # DNS rebinding: a page of another site, its name now pointing at this app.
        abort(
            400,
            f"Host {_hostname(request.host)!r} is not one of this app's names; add it to "
            "IVR_ALLOWED_HOSTS (or set IVR_PUBLIC_BASE_URL) if this app really is reached by it",
        )
    unsafe = request.method in UNSAFE_METHODS
    if unsafe:
        origin = request.headers.get("Origin") or _referrer_origin()
        own = (f"{request.scheme}://{request.host}", str(config.get("PUBLIC_BASE_URL") or ""))
        if not origin or not same_origin(origin, own):
            abort(403, f"cross-origin request refused: {request.method} must come from this app's own page")
    if request.endpoint != "trainer.static" and request.blueprint != "trainer_auth" and not logged_in():
        if request.blueprint == "trainer_api":
            abort(401, "log in to the trainer page first (IVR_TRAINER_PASSWORD is set)")
        return redirect(url_for("trainer_auth.login", next=request.full_path.rstrip("?")))
    if not unsafe:
        return None
    if request.blueprint == "trainer_api" and request.mimetype != "application/json":
        abort(403, "send JSON with Content-Type: application/json (forms and uploads are refused)")
    try:
        validate_csrf(request.headers.get("X-CSRF-Token") or _body_token())
    except ValidationError as exc:
        abort(403, f"CSRF check failed: {exc} Reload the page to get a new token.")
    if request.blueprint == "trainer_api":
        engine: Engine = current_app.extensions["ivr"]
        sources = [
            engine.keyed_hash("page-browser", browser_id()),
            engine.keyed_hash("page-address", client_address()),
        ]
        request.environ[_TOKEN] = _PAGE_SOURCES.set(sources)
    return None


def _forget_page_sources(exc: BaseException | None) -> None:
    token = request.environ.pop(_TOKEN, None)
    if token is not None:
        _PAGE_SOURCES.reset(token)


def _body_token() -> str | None:
    """The token in the body, where a request cannot carry headers: a login form's field, or
    `{"csrf_token": ...}` in a JSON beacon (navigator.sendBeacon on leaving the page)."""
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        token = body.get("csrf_token") if isinstance(body, dict) else None
    else:
        token = request.form.get("csrf_token")
    return token if isinstance(token, str) else None


def _referrer_origin() -> str | None:
    referrer = request.headers.get("Referer")
    if not referrer:
        return None
    parts = urlsplit(referrer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _origin(value: str) -> str:
    parts = urlsplit(value.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    default = ":443" if parts.scheme == "https" else ":80"
    if netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{parts.scheme}://{netloc}"


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else ""
    return host.split(":", 1)[0].rstrip(".")
