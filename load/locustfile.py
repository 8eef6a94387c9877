"""Load runs on Locust: every simulated user places scenario calls (docs/scenarios.md) over HTTP.

Install once:  .venv/bin/pip install -e '.[load]'

One machine (the app served at --host; the web UI on http://localhost:8089 unless --headless):

    locust -f load/locustfile.py --host http://127.0.0.1:5000 -u 50 -r 10
    locust -f load/locustfile.py --host http://127.0.0.1:5000 -u 50 -r 10 -t 5m --headless \\
        --csv results/run        # results/run_stats.csv, _failures.csv, _stats_history.csv

Many machines (each with this checkout and the scenario files):

    locust -f load/locustfile.py --master --host http://app.internal:5000 -u 500 -r 20
    locust -f load/locustfile.py --worker --master-host <master address>     # on each worker

-u is the number of simultaneous calls, -r how many new callers start per second (ramp-up).
Each user picks a scenario at random, places its call and walks its steps, waiting about
IVR_STEP_SECONDS (default 5, drawn between half and one and a half of it) before each webhook
request of the call, as a caller listens before pressing. Every request is counted by Locust
under its path ("POST /voice", "POST /voice/input", ...); each whole call is counted as type
SCENARIO under the scenario's name, and a failing expectation is a failure of that entry,
with the scenario runner's reason ("step 3 (expect contains 'Billing'): did not hear ...").

Environment:
    IVR_SCENARIOS       scenario files or folders, separated by ':' (default: scenarios/)
    IVR_STEP_SECONDS    think time between the webhook requests of a call (default: 5)
    IVR_KEEPALIVE       the app server's keep-alive idle timeout (gunicorn.conf.py, default 5):
                        a user that waited longer than it, less a second, opens a new
                        connection instead of reusing one the server may be closing right then
    TWILIO_AUTH_TOKEN   sign requests as Twilio does, when the app checks signatures
    TWILIO_WEBHOOK_SHARED_KEY   without an auth token: sign with this webhook shared key
    IVR_VOICE_URL, IVR_VOICE_METHOD          the number's voice URL (a path) and method
    IVR_STATUS_CALLBACK, IVR_STATUS_CALLBACK_METHOD, IVR_STATUS_CALLBACK_EVENTS
                        status callback URL, method and events ("initiated ringing answered completed")
    IVR_FALLBACK_URL, IVR_FALLBACK_METHOD    the fallback URL and its method
    IVR_FIELDS          request fields to add or change, e.g. "FromState=CA,FromCity=Oakland"
    IVR_HOSTS           several app instances sharing one store (Redis), separated by spaces:
                        each webhook request goes to the next one in turn, as a load balancer in
                        front of them would send it, so one call's steps hop between instances
                        (each request signed again for the host it goes to, as Twilio signs the
                        URL it requests).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import gevent
import gevent.monkey
from geventhttpclient.connectionpool import ConnectionPool
from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from ivr import HttpReply, Scenario, ScenarioErrors, Signer, Transport, load_paths, run_scenario

STEP_SECONDS = float(os.environ.get("IVR_STEP_SECONDS", "5"))
#: Longest a user reuses an idle connection: under the server's keep-alive timeout, so the server
#: never closes a connection just as a request goes out on it (RemoteDisconnected, resets).
REUSE_SECONDS = max(float(os.environ.get("IVR_KEEPALIVE", "5")) - 1.0, 0.0)
HOSTS = tuple(h.rstrip("/") for h in os.environ.get("IVR_HOSTS", "").split() if h.strip())

_poll = gevent.monkey.get_original("select", "poll")  # the real one: no limit on descriptors
_POLLIN, _POLLPRI = gevent.monkey.get_original("select", ["POLLIN", "POLLPRI"])


def idle_and_open(pool: ConnectionPool, sock: Any) -> bool:
    """Whether a pooled keep-alive socket can carry the next request: open, nothing to read.

    Replaces geventhttpclient's check (ConnectionPool._is_socket_alive, 2.6.1), which asks
    select.select, and select() refuses a descriptor of 1024 or more (ValueError, which the
    check reads as a dead socket). A worker holding a few thousand users' connections has most
    of its sockets above 1024: every one was closed on its next use and a new connection
    opened, so most requests paid a connect and an accept, and the tail latency showed it.
    poll() has no such limit; what it reports is what select() reported (readable while idle:
    the server closed it, or bytes nobody asked for).
    """
    if sock is None or sock.fileno() < 0:
        return False
    poller = _poll()
    poller.register(sock.fileno(), _POLLIN | _POLLPRI)
    try:
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


ConnectionPool._is_socket_alive = idle_and_open  # type: ignore[method-assign,assignment]
_NUMBER_ENV = {
    "voice_url": "IVR_VOICE_URL",
    "voice_method": "IVR_VOICE_METHOD",
    "status_callback": "IVR_STATUS_CALLBACK",
    "status_callback_method": "IVR_STATUS_CALLBACK_METHOD",
    "status_callback_events": "IVR_STATUS_CALLBACK_EVENTS",
    "fallback_url": "IVR_FALLBACK_URL",
    "fallback_method": "IVR_FALLBACK_METHOD",
}


def number_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The number's settings from the environment (IVR_VOICE_URL, ...), as SimulatedCall keywords."""
    settings: dict[str, Any] = {}
    for name, var in _NUMBER_ENV.items():
        value = env.get(var, "").strip()
        if value:
            settings[name] = tuple(value.replace(",", " ").split()) if name.endswith("events") else value
    return settings


def request_fields(env: Mapping[str, str]) -> dict[str, str]:
    """IVR_FIELDS="FromState=CA,FromCity=Oakland" as a mapping."""
    pairs = [item.partition("=") for item in env.get("IVR_FIELDS", "").split(",") if item.strip()]
    return {key.strip(): value.strip() for key, _, value in pairs}


def _set_cookies(response: Any) -> list[str]:
    getlist = getattr(response.headers, "getlist", None)  # geventhttpclient's Headers
    return list(getlist("set-cookie")) if callable(getlist) else []


class ScenarioFailed(Exception):
    """A scenario's call did not go as its file says: Locust lists it under Failures."""


def _load_scenarios() -> list[Scenario]:
    spec = os.environ.get("IVR_SCENARIOS", "scenarios")
    paths = [Path(p) for p in spec.split(os.pathsep) if p.strip()]
    try:
        suites = load_paths(paths)
    except ScenarioErrors as exc:
        raise SystemExit(f"IVR_SCENARIOS={spec}: cannot load the scenarios:\n{exc}") from exc
    scenarios = [scenario for suite in suites for scenario in suite.scenarios]
    if not scenarios:
        raise SystemExit(f"IVR_SCENARIOS={spec}: no scenarios found")
    return scenarios


SCENARIOS = _load_scenarios()


class LocustTransport:
    """Sends a call's webhooks through the user's Locust session, pacing them like a caller."""

    def __init__(
        self, client: Any, step_seconds: float, hosts: tuple[str, ...] = (), signer: Signer | None = None
    ) -> None:
        self.client = client
        self.signer = signer
        self.step_seconds = step_seconds
        self.slept = 0.0
        self._call_sid: str | None = None
        self._last_sent = time.monotonic()
        # Start each user at a different instance, so the load is even from the first step.
        self._hosts: Iterator[str] | None = None
        if hosts:
            self._hosts = itertools.islice(itertools.cycle(hosts), random.randrange(len(hosts)), None)

    def _route(self, url: str) -> str:
        if self._hosts is None:
            return url
        parts, host = urlsplit(url), urlsplit(next(self._hosts))
        return urlunsplit((host.scheme, host.netloc, parts.path, parts.query, parts.fragment))

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        self._think(fields)
        url = self._route(url)
        if self.signer is not None:  # signed here, once, for the host it goes to
            headers = {**headers, **self.signer.headers(url, fields)}
        body = None
        headers = dict(headers)
        if method != "GET":
            # Encoded here, as Twilio posts it (no charset parameter), not by the client library.
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.client.request(
            method, url, name=urlsplit(url).path or "/", data=body, headers=headers, allow_redirects=False
        )
        self._last_sent = time.monotonic()
        return HttpReply(
            response.status_code or 0,
            {k.lower(): v for k, v in (response.headers or {}).items()},
            response.text or "",
            tuple(_set_cookies(response)),
        )

    def _think(self, fields: Mapping[str, str]) -> None:
        # The call keeps its own cookies (ivr.sim.cookies): none may leak into the next call.
        self.client.cookiejar.clear()
        # The first request of a call (the dial) and its final status callback go at once.
        sid = fields.get("CallSid")
        first = sid != self._call_sid
        self._call_sid = sid
        if not (first or "CallDuration" in fields or self.step_seconds <= 0):
            pause = random.uniform(0.5, 1.5) * self.step_seconds
            gevent.sleep(pause)
            self.slept += pause
        if time.monotonic() - self._last_sent > REUSE_SECONDS:
            self.client.client.clientpool.close()  # idle too long: the next request connects afresh


@dataclass
class _Target:
    """A CallTarget (ivr.scenarios.runner) over HTTP: the Locust host, no app in-process."""

    transport: Transport
    base_url: str
    in_process: bool = False
    app: Any = field(default=None)
    number: dict[str, Any] = field(default_factory=lambda: number_settings(os.environ))
    fields: dict[str, str] = field(default_factory=lambda: request_fields(os.environ))

    def engine(self) -> Any:
        return None


_USERS = itertools.count()


def caller_number(runner: Any) -> str:
    """A calling number no other call of the run has: the worker's index, then a count of the
    calls this process placed (100 workers of 100,000 calls each). Drawn at random, 3,000
    callers among 10^7 numbers share one about every third run, and the two pile up identity
    failures on the same number."""
    worker = max(getattr(runner, "worker_index", 0), 0)  # 0 for a run without workers
    return f"+1555{worker % 100:02d}{next(_USERS) % 100_000:05d}"


class IvrCaller(FastHttpUser):
    """One caller after another on the same line of the load: scenario calls with think time."""

    wait_time = between(0.5 * STEP_SECONDS, 1.5 * STEP_SECONDS)
    #: Whether each call gets a number of its own (IVR_FIELDS gives no From).
    numbered = True

    def on_start(self) -> None:
        # Callers arrive one by one, at random moments: Locust starts each second's new users
        # at once, and their first calls all dialled in the same instant (25 at a time per
        # worker at -r 50), a burst no line sees, which was most of the slow first requests.
        gevent.sleep(random.uniform(0, STEP_SECONDS))
        self.signer = Signer.from_config(os.environ)  # signs when the app checks
        self.transport = LocustTransport(self.client, STEP_SECONDS, HOSTS, self.signer)
        self.target = _Target(self.transport, HOSTS[0] if HOSTS else (self.host or "").rstrip("/"))
        # Each call from a number of its own, as a crowd's calls are (IVR_FIELDS may still set
        # one for all): the app counts failed identity checks per number over all its calls, so
        # a shared From locks callers out after a few scenarios with a wrong date of birth, and
        # one per user did too, now and then, for a user whose calls drew that scenario 3 times.
        self.numbered = "From" not in self.target.fields

    @task
    def place_call(self) -> None:
        scenario = random.choice(SCENARIOS)
        if self.numbered:
            self.target.fields["From"] = caller_number(self.environment.runner)
        self.transport.slept = 0.0
        started = time.perf_counter()
        # No signer for the call itself: the transport signs each request for the instance it
        # goes to (Twilio signs the URL it requests), so no request is signed twice.
        result = run_scenario(scenario, self.target)
        elapsed_ms = (time.perf_counter() - started - self.transport.slept) * 1000
        self.environment.events.request.fire(
            request_type="SCENARIO",
            name=scenario.name,
            response_time=elapsed_ms,  # the app's time, without the caller's think time
            response_length=len(result.transcript.steps),
            exception=None if result.passed else ScenarioFailed(result.message),
            context={"file": str(scenario.file)},
        )
