"""The trainer page against a hostile web page, a rebinding DNS name and a password guesser.

The app is served over real HTTP (tests/servers.py: werkzeug in a thread, or gunicorn with the
repo's config); requests are raw http.client ones, so every header is the test's own: a
browser's Origin, a foreign Host, a missing token.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from ivr import ConfigError

from .conftest import TRAINER_PASSWORD
from .servers import Gunicorn, served
from .test_store_contract import MEMBER_ID

API = "/trainer/api"
EVIL = "http://evil.example"
TOKEN_IN_PAGE = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
TOKEN_IN_FORM = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Browser:
    """A client over real HTTP that keeps its cookies and sends exactly the headers it is given
    (plus Host, which a test may also choose)."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.base

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        host: str | None = None,
    ) -> Answer:
        parts = urlsplit(self.base)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        sent = {"Host": host or parts.netloc, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return Answer(response.status, response.headers, text)

    def token(self) -> str:
        """The CSRF token of the trainer page, as its script reads it."""
        page = self.request("GET", "/")
        found = TOKEN_IN_PAGE.search(page.text)
        assert page.status == 200 and found is not None, (page.status, page.text[:300])
        return found.group(1)

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Answer:
        """What the page's api() sends: same-origin JSON with the token."""
        headers = {"Origin": self.origin, "Content-Type": "application/json"}
        headers["X-CSRF-Token"] = token if token is not None else self.token()
        return self.request(method, API + path, json.dumps(body if body is not None else {}), headers)

    def log_in(self, password: str) -> Answer:
        form = self.request("GET", "/trainer/login")
        found = TOKEN_IN_FORM.search(form.text)
        assert found is not None, form.text[:300]
        fields = urlencode({"password": password, "csrf_token": found.group(1), "next": "/"})
        headers = {"Origin": self.origin, "Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", "/trainer/login", fields, headers)


@pytest.fixture
def serve(make_app: Callable[..., Flask]) -> Iterator[Callable[..., tuple[Flask, Browser]]]:
    """Serve an app built with these settings over HTTP; returns it and a browser for it."""
    stack: list[Any] = []

    def start(**config: Any) -> tuple[Flask, Browser]:
        app = make_app(**config)
        context = served(app)
        url = context.__enter__()
        stack.append((context, app))
        return app, Browser(url)

    yield start
    for context, app in reversed(stack):
        context.__exit__(None, None, None)
        app.extensions["ivr"].store.close()


def _calls(app: Flask) -> int:
    return len(app.extensions["ivr"].store.recent_calls(500))


# -- cross-origin pages ----------------------------------------------------------------------

MULTIPART = (
    '--b0undary\r\nContent-Disposition: form-data; name="line"\r\n\r\nmain\r\n--b0undary--\r\n',
    "multipart/form-data; boundary=b0undary",
)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param("line=main", "application/x-www-form-urlencoded", id="form"),
        pytest.param(*MULTIPART, id="multipart"),
        pytest.param(None, None, id="empty"),
        pytest.param('{"line": "main"}', "text/plain", id="text-plain-json"),
        pytest.param('{"line": "main"}', "application/json", id="json"),
    ],
)
def test_a_cross_origin_post_places_no_call(
    serve: Callable[..., tuple[Flask, Browser]], body: str | None, content_type: str | None
) -> None:
    """What a hostile page can send with a form or fetch(): refused, and nothing happens."""
    app, browser = serve()
    token = browser.token()  # even with the victim's cookie and token (a page cannot read them)
    headers = {"Origin": EVIL, "X-CSRF-Token": token}
    if content_type:
        headers["Content-Type"] = content_type
    answer = browser.request("POST", f"{API}/calls", body, headers)
    assert answer.status == 403, answer.text
    assert "cross-origin" in answer.json()["error"]
    assert _calls(app) == 0


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-origin-no-referer"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({"Referer": EVIL + "/page"}, id="foreign-referer"),
        pytest.param({"Origin": "https://127.0.0.1"}, id="other-scheme"),
    ],
)
def test_a_post_must_say_it_comes_from_this_app(
    serve: Callable[..., tuple[Flask, Browser]], headers: dict[str, str]
) -> None:
    app, browser = serve()
    sent = {"Content-Type": "application/json", "X-CSRF-Token": browser.token(), **headers}
    answer = browser.request("POST", f"{API}/calls", '{"line": "main"}', sent)
    assert answer.status == 403, answer.text
    assert _calls(app) == 0


def test_a_same_origin_referer_stands_in_for_a_missing_origin(
    serve: Callable[..., tuple[Flask, Browser]],
) -> None:
    app, browser = serve()
    sent = {
        "Content-Type": "application/json",
        "X-CSRF-Token": browser.token(),
        "Referer": browser.base + "/",
    }
    assert browser.request("POST", f"{API}/calls", '{"line": "main"}', sent).status == 201
    assert _calls(app) == 1


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param("", "missing", id="missing"),
        pytest.param("IjAwMDAi.wrong.token", "invalid", id="wrong"),
    ],
)
def test_a_same_origin_post_without_the_sessions_token_is_refused(
    serve: Callable[..., tuple[Flask, Browser]], token: str, reason: str
) -> None:
    app, browser = serve()
    browser.token()  # the session exists; the request just lacks its token
    answer = browser.api("POST", "/calls", {"line": "main"}, token=token)
    assert answer.status == 403, answer.text
    assert "CSRF" in answer.json()["error"] and reason in answer.json()["error"]
    assert _calls(app) == 0


def test_a_token_works_only_with_its_own_session(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, mine = serve()
    theirs = Browser(mine.base)
    stolen = theirs.token()
    mine.token()
    assert mine.api("POST", "/calls", {"line": "main"}, token=stolen).status == 403
    assert _calls(app) == 0


def test_the_pages_own_request_places_and_drives_a_call(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve()
    token = browser.token()
    placed = browser.api("POST", "/calls", {"line": "main"}, token=token)
    assert placed.status == 201, placed.text
    sid = placed.json()["call"]["call_sid"]
    pressed = browser.api("POST", f"/calls/{sid}/press", {"keys": "2"}, token=token)
    assert pressed.status == 200 and pressed.json()["call"]["state"] == "billing_menu"
    # An empty action is sent as JSON too ("{}"), never as an empty or form body.
    assert browser.api("POST", f"/calls/{sid}/hangup", token=token).status == 200


def test_a_beacon_may_carry_its_token_in_the_json_body(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    """navigator.sendBeacon (hang up when the tab closes) cannot set headers."""
    app, browser = serve()
    token = browser.token()
    sid = browser.api("POST", "/calls", {"line": "main"}, token=token).json()["call"]["call_sid"]
    beacon = {"Origin": browser.origin, "Content-Type": "application/json"}
    body = json.dumps({"csrf_token": token})
    assert browser.request("POST", f"{API}/calls/{sid}/hangup", body, beacon).status == 200
    assert browser.request("POST", f"{API}/calls/{sid}/hangup", "{}", beacon).status == 403


def test_a_same_origin_form_is_refused_too(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve()
    headers = {
        "Origin": browser.origin,
        "X-CSRF-Token": browser.token(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = browser.request("POST", f"{API}/calls", "line=main", headers)
    assert answer.status == 403 and "application/json" in answer.json()["error"]
    assert _calls(app) == 0


# -- DNS rebinding: a foreign Host -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", f"{API}/lines"), ("GET", "/trainer/static/trainer.js"), ("POST", f"{API}/calls")],
)
def test_a_foreign_host_is_refused(
    serve: Callable[..., tuple[Flask, Browser]], method: str, path: str
) -> None:
    app, browser = serve()
    headers = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    answer = browser.request(method, path, "{}" if method == "POST" else None, headers, host="evil.example")
    assert answer.status == 400, answer.text
    assert "evil.example" in answer.text and "IVR_ALLOWED_HOSTS" in answer.text


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_the_loopback_names_are_this_apps_by_default(
    serve: Callable[..., tuple[Flask, Browser]], host: str
) -> None:
    app, browser = serve()
    port = urlsplit(browser.base).port
    assert browser.request("GET", f"{API}/lines", host=f"{host}:{port}").status == 200


def test_allowed_hosts_and_the_public_url_name_the_app(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve(ALLOWED_HOSTS="trainer.lan, .example.org", PUBLIC_BASE_URL="https://ivr.example.com")
    statuses = {
        host: browser.request("GET", f"{API}/lines", host=host).status
        for host in [
            "trainer.lan",
            "a.example.org",
            "example.org",
            "ivr.example.com",
            "localhost",
            "evil.example",
        ]
    }
    assert statuses == {
        "trainer.lan": 200,
        "a.example.org": 200,
        "example.org": 200,
        "ivr.example.com": 200,
        "localhost": 400,  # IVR_ALLOWED_HOSTS replaces the loopback names
        "evil.example": 400,
    }


def test_webhooks_do_not_check_the_host(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    """The decision (README): Twilio's requests are checked by their signature, which covers
    the URL Twilio requested, Host included; unsigned apps are local simulations."""
    app, browser = serve()
    fields = urlencode({"CallSid": "CA" + "7" * 32, "To": "+18002372765", "From": "+15551230000"})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = browser.request("POST", "/voice", fields, headers, host="tunnel.example")
    assert answer.status == 200 and "<Gather" in answer.text


# -- the session cookie ------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_strict_and_not_secure_over_http(
    serve: Callable[..., tuple[Flask, Browser]],
) -> None:
    app, browser = serve()
    cookie = browser.request("GET", "/").headers["Set-Cookie"]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=strict" in flags
    assert "secure" not in flags


def test_the_session_cookie_is_secure_over_https_behind_a_trusted_proxy(
    serve: Callable[..., tuple[Flask, Browser]],
) -> None:
    app, browser = serve(TRUST_PROXY=1)
    cookie = browser.request("GET", "/", headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    assert "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


def test_a_session_signed_with_the_member_key_is_not_accepted(
    serve: Callable[..., tuple[Flask, Browser]],
) -> None:
    """Flask would sign sessions with IVR_SECRET_KEY (its SECRET_KEY): the trainer's key is
    derived from it instead, so the member hash key signs nothing a browser holds."""
    member_key = "m" * 64
    app, browser = serve(SECRET_KEY=member_key, TRAINER_PASSWORD="correct horse battery")
    assert app.config["SESSION_SECRET_KEY"] != member_key
    plain = SecureCookieSessionInterface().get_signing_serializer(app)
    assert plain is not None
    from web.security import password_fingerprint

    with app.test_request_context():
        forged = plain.dumps({"trainer": password_fingerprint("correct horse battery")})
    browser.cookies["ivr_trainer"] = forged
    assert browser.request("GET", f"{API}/lines").status == 401


# -- the trainer password ------------------------------------------------------------------------


def test_with_a_password_the_page_and_api_need_a_login(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve(TRAINER_PASSWORD="correct horse battery")
    page = browser.request("GET", "/")
    assert page.status == 302 and page.headers["Location"].startswith("/trainer/login")
    assert browser.request("GET", f"{API}/lines").status == 401
    assert browser.request("GET", "/trainer/static/trainer.css").status == 200  # code, no data
    logged = browser.log_in("correct horse battery")
    assert logged.status == 302 and logged.headers["Location"] == "/"
    assert browser.request("GET", f"{API}/lines").status == 200
    assert browser.api("POST", "/calls", {"line": "main"}).status == 201
    token = browser.token()
    out = browser.request(
        "POST",
        "/trainer/logout",
        json.dumps({}),
        {
            "Origin": browser.origin,
            "Content-Type": "application/json",
            "X-CSRF-Token": token,
        },
    )
    assert out.status == 200
    assert browser.request("GET", f"{API}/lines").status == 401


def test_the_pages_log_out_button_ends_the_session(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    """The page shows a Log out form only behind a password; posting it as a browser does
    (same origin, the form's own token) ends the session."""
    _, open_browser = serve()
    assert "/trainer/logout" not in open_browser.request("GET", "/").text  # no login, nothing to end
    _, browser = serve(TRAINER_PASSWORD="correct horse battery")
    browser.log_in("correct horse battery")
    page = browser.request("GET", "/").text
    form = re.search(
        r'<form method="post" action="(/trainer/logout)" class="logout">(.*?)</form>', page, re.S
    )
    assert form is not None, page[:2000]
    found = TOKEN_IN_FORM.search(form.group(2))
    assert found is not None and ">Log out</button>" in form.group(2)
    fields = urlencode({"csrf_token": found.group(1)})
    headers = {"Origin": browser.origin, "Content-Type": "application/x-www-form-urlencoded"}
    out = browser.request("POST", form.group(1), fields, headers)
    assert out.status == 302 and out.headers["Location"].startswith("/trainer/login")
    assert browser.request("GET", f"{API}/lines").status == 401


def test_a_wrong_password_is_refused_and_never_logged(
    serve: Callable[..., tuple[Flask, Browser]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, browser = serve(TRAINER_PASSWORD="correct horse battery")
    wrong = browser.log_in("wrong horse battery")
    assert wrong.status == 401 and "not the trainer password" in wrong.text
    assert browser.request("GET", f"{API}/lines").status == 401
    assert browser.log_in("correct horse battery").status == 302
    assert "trainer login failed" in caplog.text
    assert "horse" not in caplog.text


def test_failed_logins_are_limited_per_address(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve(TRAINER_PASSWORD="correct horse battery")
    assert [browser.log_in(f"guess {n}").status for n in range(5)] == [401] * 5
    limited = browser.log_in("correct horse battery")  # even the right one, until the window passes
    assert limited.status == 429 and "Too many wrong passwords" in limited.text
    assert int(limited.headers["Retry-After"]) > 0
    assert browser.request("GET", f"{API}/lines").status == 401


def test_a_login_from_another_site_is_refused(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve(TRAINER_PASSWORD="correct horse battery")
    form = browser.request("GET", "/trainer/login")
    found = TOKEN_IN_FORM.search(form.text)
    assert found is not None
    fields = urlencode({"password": "correct horse battery", "csrf_token": found.group(1)})
    headers = {"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"}
    assert browser.request("POST", "/trainer/login", fields, headers).status == 403


def test_a_login_goes_back_only_to_a_page_of_this_app(serve: Callable[..., tuple[Flask, Browser]]) -> None:
    app, browser = serve(TRAINER_PASSWORD="correct horse battery")
    form = browser.request("GET", "/trainer/login")
    found = TOKEN_IN_FORM.search(form.text)
    assert found is not None
    fields = urlencode(
        {"password": "correct horse battery", "csrf_token": found.group(1), "next": "//evil.example/x"}
    )
    headers = {"Origin": browser.origin, "Content-Type": "application/x-www-form-urlencoded"}
    answer = browser.request("POST", "/trainer/login", fields, headers)
    assert answer.status == 302 and answer.headers["Location"] == "/"


# -- a real number's app needs the password ------------------------------------------------------


@pytest.mark.parametrize("secret", ["TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_SHARED_KEY"])
def test_a_real_numbers_trainer_refuses_to_start_without_a_password(
    make_app: Callable[..., Flask], secret: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        make_app(**{secret: "a-real-secret", "TRAINER_PASSWORD": ""})
    assert "IVR_TRAINER_PASSWORD" in str(refused.value) and "IVR_TRAINER=0" in str(refused.value)
    make_app(**{secret: "a-real-secret", "TRAINER_PASSWORD": "", "TRAINER": "0"})  # no page: fine
    make_app(**{secret: "a-real-secret", "TRAINER_PASSWORD": TRAINER_PASSWORD})


def test_a_short_password_is_refused(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigError, match="too short"):
        make_app(TRAINER_PASSWORD="1234")


def test_gunicorn_for_a_real_number_without_a_password_says_why(tmp_path: Path) -> None:
    settings = {
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
        "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "TWILIO_AUTH_TOKEN": "a-real-token",
    }
    server = Gunicorn(settings, tmp_path)
    try:
        assert server.proc.wait(60) != 0  # a setting to mend: it stops and says why
    finally:
        server.stop()
    assert "ConfigError" in server.text() and "IVR_TRAINER_PASSWORD" in server.text()


def test_gunicorn_with_a_password_serves_the_trainer_after_login_and_logs_no_password(tmp_path: Path) -> None:
    password = "gunicorn-trainer-passphrase"
    settings = {
        "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"),
        "IVR_SECRET_KEY_FILE": str(tmp_path / "member.key"),
        "TWILIO_AUTH_TOKEN": "a-real-token",
        "IVR_TRAINER_PASSWORD": password,
        "IVR_LOG_LEVEL": "debug",
    }
    server = Gunicorn(settings, tmp_path)
    try:
        server.wait_for_workers(2)
        browser = Browser(server.url)
        assert browser.request("GET", f"{API}/lines").status == 401
        assert browser.log_in("not the passphrase").status == 401
        assert browser.log_in(password).status == 302
        # Two workers, one session: any worker accepts the cookie and the token.
        token = browser.token()
        for _ in range(4):
            assert browser.request("GET", f"{API}/lines").status == 200
        placed = browser.api("POST", "/calls", {"line": "main"}, token=token)
        assert placed.status == 201, placed.text
        sid = placed.json()["call"]["call_sid"]
        assert browser.api("POST", f"/calls/{sid}/press", {"keys": "1"}, token=token).status == 200
        entered = browser.api("POST", f"/calls/{sid}/press", {"keys": MEMBER_ID + "#"}, token=token)
        assert entered.status == 200, entered.text
    finally:
        server.stop()
    log = server.text()
    assert "trainer login failed" in log
    assert password not in log and "not the passphrase" not in log


# -- in a real browser: Debian's Chromium, the page's own script, a hostile page ------------------

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]

HOSTILE = """<!doctype html><html><body>
<form id="form" method="post" action="{api}/calls"><input name="line" value="main"></form>
<form id="multipart" method="post" enctype="multipart/form-data" action="{api}/calls" target="sink">
  <input name="line" value="main"></form>
<iframe name="sink"></iframe>
<script>
  fetch("{api}/calls", {{method: "POST", mode: "no-cors", credentials: "include"}});
  fetch("{api}/calls", {{method: "POST", mode: "no-cors", credentials: "include",
                        headers: {{"Content-Type": "text/plain"}}, body: '{{"line": "main"}}'}});
  document.getElementById("multipart").submit();
  setTimeout(() => document.getElementById("form").submit(), 300);
</script></body></html>"""


def _hostile_site(target: str) -> Callable[..., Any]:
    page = HOSTILE.format(api=target + API).encode()

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [page]

    return wsgi


@pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium"
)
def test_in_chromium_a_hostile_page_places_no_call_and_the_trainer_page_does(
    serve: Callable[..., tuple[Flask, Browser]],
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    app, client = serve()
    statuses: list[tuple[str, int]] = []
    with served(_hostile_site(client.base)) as hostile, sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context()
            tab = context.new_page()
            tab.set_default_timeout(10000)
            tab.on(
                "response",
                lambda r: statuses.append((r.request.method, r.status)) if API in r.url else None,
            )
            tab.goto(client.base + "/")  # the trainer's session cookie is in this browser
            # Another origin, same site (only the port differs): the session cookie goes along,
            # so SameSite alone would not stop these; Origin and the token do.
            tab.goto(hostile + "/")
            tab.wait_for_url(client.base + API + "/calls")  # the form, posted last, is answered
            posts = [status for method, status in statuses if method == "POST"]
            for _ in range(100):  # the no-cors fetches may be answered after the form
                if len(posts) >= 4:
                    break
                tab.wait_for_timeout(50)
                posts = [status for method, status in statuses if method == "POST"]
            assert posts and all(status == 403 for status in posts), statuses
            assert len(posts) == 4, statuses
            assert _calls(app) == 0
            # The page's own script, from its own origin, with the token in its meta tag.
            tab.goto(client.base + "/")
            with tab.expect_response(
                lambda r: r.request.method == "POST" and r.url.endswith("/calls")
            ) as placed:
                tab.locator("#call").click()
            assert placed.value.status == 201, placed.value.text()
            assert _calls(app) == 1
        finally:
            chromium.close()


def test_webhooks_and_health_checks_open_no_session(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio's webhooks never use the trainer's session: no cookie read, no serializer built."""
    from web.security import TrainerSessionInterface

    built: list[str] = []
    real = TrainerSessionInterface.get_signing_serializer

    def counting(self: TrainerSessionInterface, app: Flask) -> Any:
        from flask import request

        built.append(request.path)
        return real(self, app)

    monkeypatch.setattr(TrainerSessionInterface, "get_signing_serializer", counting)
    client = make_app().test_client()
    client.set_cookie("ivr_trainer", "anything")
    fields = {"CallSid": "CA" + "0" * 32, "From": "+15005550006", "To": "+18002372765"}
    assert client.post("/voice", data=fields).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert built == []
    assert client.get("/").status_code == 200
    assert built and set(built) == {"/"}  # the page opens (and saves) its session
