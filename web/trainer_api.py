"""JSON API of the trainer page: simulated calls through the real webhooks, history, analytics.

A page call is a simulated caller run in-process against this very app (WsgiTransport): it posts
to /voice exactly as Twilio does, signed when the app checks signatures (ivr.signing.Signer), so
the page shows the same state machine a phone reaches. Between clicks a page call is kept in the
session store (web/live_calls.py), so any worker of any host serves the next click.

The contract, every endpoint and JSON shape, is docs/trainer-api.md.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr import (
    TRAINER_CALL_TTL,
    ConfigError,
    Engine,
    Flow,
    SessionStore,
    Signer,
    SimulatedCall,
    SimulationError,
    StoreError,
    WsgiTransport,
    call_to_scenario,
    cytoscape_graph,
    frozen_clock,
    line_analytics,
    lint_flow,
    scenario_yaml,
    signs_webhooks,
    to_svg,
)

from . import call_views
from .live_calls import InputError, LineFull, LiveCall, PageCallGone, PageCalls

log = logging.getLogger(__name__)

bp = Blueprint("trainer_api", __name__, url_prefix="/trainer/api")

#: The caller's number on page calls (Twilio's test number; stored masked as ***0006).
PAGE_CALLER = "+15005550006"
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EXTENSION = "trainer_calls"
#: The field of a `navigator.sendBeacon` body that carries the CSRF token (it cannot set headers).
BEACON_TOKEN_FIELD = "csrf_token"
#: Seconds between two looks at the store by one live stream, and between heartbeats.
STREAM_POLL = 1.0
STREAM_HEARTBEAT = 15.0
#: Seconds a live stream lasts at most; the browser's EventSource then reconnects by itself.
STREAM_SECONDS = 300
#: Seconds between two sweeps for expired page calls by one process.
SWEEP_EVERY = 30.0
#: Steps of a call an answer carries at most (the latest): a long call never grows replies.
MAX_STEPS = 200


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    ttl = float(state.app.config.get("TRAINER_CALL_TTL", TRAINER_CALL_TTL))
    engine: Engine = state.app.extensions["ivr"]
    state.app.extensions[_EXTENSION] = PageCalls(engine.store, engine.keyed_hash, ttl=ttl)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr"]
    return engine


def _page_calls() -> PageCalls:
    calls: PageCalls = current_app.extensions[_EXTENSION]
    return calls


_sweep_lock = threading.Lock()
_next_sweep: dict[int, float] = {}


@bp.before_request
def _sweep_expired() -> None:
    """Hang up page calls left idle past their TTL: at most every SWEEP_EVERY s per process."""
    app, now = current_app._get_current_object(), time.monotonic()  # type: ignore[attr-defined]
    with _sweep_lock:
        if now < _next_sweep.get(id(app), 0.0):
            return
        _next_sweep[id(app)] = now + SWEEP_EVERY
    try:
        swept = _page_calls().sweep(_flows(), _transport(), Signer.from_config(app.config))
    except StoreError as exc:
        log.warning("could not look for expired page calls: %s", exc)
        return
    if swept:
        log.info("hung up %d page calls left idle past their TTL", swept)


# -- lines -----------------------------------------------------------------------------------


@bp.get("/lines")
def lines() -> ResponseReturnValue:
    return jsonify(lines=call_views.lines(_engine()), signed=signs_webhooks(current_app.config))


@bp.get("/lines/<line>/diagram.svg")
def diagram(line: str) -> ResponseReturnValue:
    detail = request.args.get("detail", "menu")
    try:
        svg = to_svg(_flow(line), detail=detail)
    except ValueError as exc:
        abort(400, f"cannot draw line {line!r} with detail={detail!r}: {exc}")
    return Response(svg, mimetype="image/svg+xml")


@bp.get("/lines/<line>/graph")
def graph(line: str) -> ResponseReturnValue:
    """The line's menu as Cytoscape.js data, labelled in `lang` (docs/trainer-api.md)."""
    flow = _flow(line)
    lang = request.args.get("lang") or flow.languages[0]
    if lang not in flow.languages:
        abort(400, f"lang={lang[:10]!r}: line {line!r} speaks {', '.join(flow.languages)}")
    return jsonify(cytoscape_graph(flow, lang, _listening(flow, lang)))


def _listening(flow: Flow, lang: str) -> dict[tuple[str, str, str], float]:
    """Seconds of listening per (source, key, dest), as `ivr lint` measures them (words per
    minute: no espeak-ng per request), computed once per flow and language."""
    kept = _LISTENING.get(id(flow))
    if kept is None or kept[0]() is not flow:  # a flow reloaded since: its own seconds
        kept = _LISTENING[id(flow)] = (weakref.ref(flow), {})
    by_lang = kept[1]
    found = by_lang.get(lang)
    if found is None:
        try:
            report = lint_flow(flow, measure="words")
        except Exception:  # noqa: BLE001 - seconds are optional: the graph is drawn without them
            log.warning("no listening seconds for line %s", flow.name, exc_info=True)
            report = None
        edges = report.languages[lang].edges if report and lang in report.languages else []
        found = {(e.source, e.key, e.dest): e.seconds for e in edges}
        by_lang[lang] = found
    return found


#: Per flow (by identity: a reloaded flow gets its own), per language.
_LISTENING: dict[int, tuple[weakref.ref[Flow], dict[str, dict[tuple[str, str, str], float]]]] = {}


@bp.get("/lines/<line>/live.json")
def live_snapshot(line: str) -> ResponseReturnValue:
    """Every live call on the line once: the classroom view's data (docs/trainer-api.md)."""
    flow = _flow(line)
    return jsonify(call_views.classroom(_engine().store, flow, time.time()))


@bp.get("/lines/<line>/live")
def live_stream(line: str) -> ResponseReturnValue:
    """Server-sent events: `calls` whenever the classroom snapshot changes, a comment as a
    heartbeat every STREAM_HEARTBEAT s; the stream ends after `seconds` (at most
    STREAM_SECONDS) and the browser's EventSource reconnects."""
    flow = _flow(line)
    lifetime = _int_arg("seconds", STREAM_SECONDS, 1, STREAM_SECONDS)
    store = _engine().store
    return Response(
        _events(store, flow, lifetime),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


#: Fields of a snapshot that change every second: a new event only when something else does.
_CLOCK_FIELDS = frozenset(["at", "at_local"])


def _events(store: SessionStore, flow: Flow, lifetime: float) -> Iterator[str]:
    # No request context in here: the generator runs after the view returned.
    end = time.monotonic() + lifetime
    last: str | None = None
    beat = time.monotonic()
    yield f"retry: {int(STREAM_POLL * 2000)}\n\n"
    while True:
        try:
            snapshot = call_views.classroom(store, flow, time.time())
        except StoreError as exc:
            log.warning("live stream of line %s: %s", flow.name, exc)
            yield f"event: store-error\ndata: {json.dumps({'error': str(exc)})}\n\n"
            snapshot = None
        if snapshot is not None:
            same = json.dumps({k: v for k, v in snapshot.items() if k not in _CLOCK_FIELDS}, sort_keys=True)
            if same != last:
                last, beat = same, time.monotonic()
                yield f"event: calls\ndata: {json.dumps(snapshot)}\n\n"
        if time.monotonic() - beat >= STREAM_HEARTBEAT:
            beat = time.monotonic()
            yield ": heartbeat\n\n"
        if time.monotonic() + STREAM_POLL > end:
            return
        time.sleep(STREAM_POLL)


@bp.get("/lines/<line>/analytics")
def analytics(line: str) -> ResponseReturnValue:
    flow = _flow(line)
    limit = _int_arg("limit", 500, 1, 5000)
    store = _engine().store
    records = [store.get_call(r.call_sid) for r in store.recent_calls(limit) if r.line == line]
    figures = call_views.worded(line_analytics([r for r in records if r is not None], flow), flow)
    return jsonify(line=line, title=flow.title, analytics=figures)


# -- calls -----------------------------------------------------------------------------------


@bp.get("/calls")
def history() -> ResponseReturnValue:
    """Recent calls, real and simulated, newest first, each with its path."""
    limit = _int_arg("limit", 50, 1, 500)
    line = request.args.get("line") or None
    store = _engine().store
    flows = _flows()
    live = _page_calls().kept_sids([line] if line else list(flows))
    rows = []
    for summary in store.recent_calls(limit):
        if line and summary.line != line:
            continue
        record = store.get_call(summary.call_sid) or summary
        zone = call_views.clock_zone(flows[record.line]) if record.line in flows else call_views.CLOCK_ZONE
        rows.append(call_views.call_summary(record, page_call=record.call_sid in live, zone=zone))
    return jsonify(calls=rows)


@bp.post("/calls")
def start_call() -> ResponseReturnValue:
    """Place a page call: `{"line": "tty", "now": "2026-11-24T21:30"}` (`now` optional)."""
    body = _json_body()
    engine = _engine()
    line = body.get("line", engine.flows.default)
    if not isinstance(line, str) or line not in engine.flows.names():
        abort(400, f"line {line!r} does not exist; choose one of {', '.join(engine.flows.names())}")
    number = call_views.line_numbers(engine).get(line)
    if number is None:
        abort(400, f"no number reaches line {line!r}; set IVR_LINE_{line.upper()} to one")
    now = _clock(body.get("now"))
    config = current_app.config
    sim = SimulatedCall(
        _transport(),
        to=number,
        caller=PAGE_CALLER,
        base_url=config.get("PUBLIC_BASE_URL") or "http://localhost",
        signer=Signer.from_config(config),
        simulated_now=now,
    )
    live = _page_calls().start(sim, line, _flow(line), now)
    log.info("trainer page placed call %s on line %s", sim.call_sid, line)
    return jsonify(_detail(sim.call_sid, live)), 201


@bp.get("/calls/<sid>")
def call_detail(sid: str) -> ResponseReturnValue:
    """A call with its path and steps; a page call adds its exact transcript (any worker)."""
    sid = _sid(sid)
    try:
        with _page_call(sid, write=False) as live:
            return jsonify(_detail(sid, live))
    except PageCallGone:
        return jsonify(_detail(sid, None))


@bp.post("/calls/<sid>/press")
def press(sid: str) -> ResponseReturnValue:
    keys = _json_body().get("keys")
    if not isinstance(keys, str):
        abort(400, 'send the keys pressed as a string, e.g. {"keys": "1"}')
    with _page_call(sid) as live:
        live.press(keys)
        return jsonify(_detail(sid, live))


@bp.post("/calls/<sid>/say")
def say(sid: str) -> ResponseReturnValue:
    text = _json_body().get("text")
    if not isinstance(text, str):
        abort(400, 'send the words as a string, e.g. {"text": "billing"}')
    with _page_call(sid) as live:
        live.say(text)
        return jsonify(_detail(sid, live))


@bp.post("/calls/<sid>/silence")
def silence(sid: str) -> ResponseReturnValue:
    with _page_call(sid) as live:
        live.silence()
        return jsonify(_detail(sid, live))


@bp.post("/calls/<sid>/hangup")
def hangup(sid: str) -> ResponseReturnValue:
    with _page_call(sid) as live:
        if not live.sim.ended:
            live.hangup()
        return jsonify(_detail(sid, live))


@bp.post("/calls/<sid>/beacon-hangup")
def beacon_hangup(sid: str) -> ResponseReturnValue:
    """Hang up from `navigator.sendBeacon` on `pagehide`: a text/plain (or JSON) body
    `{"csrf_token": "..."}`, since a beacon cannot set the X-CSRF-Token header. Answers 204."""
    if beacon_token() is None:
        abort(400, f'send the CSRF token in the body: {{"{BEACON_TOKEN_FIELD}": "..."}}')
    try:
        with _page_call(sid) as live:
            if not live.sim.ended:
                live.hangup()
    except (PageCallGone, SimulationError):
        pass  # already gone or ended: nothing left to hang up
    return Response(status=204)


def beacon_token() -> str | None:
    """The CSRF token a sendBeacon body carries (`csrf_token`, JSON as text/plain or JSON),
    for the CSRF check of `beacon-hangup` (web/security.py) and for this endpoint."""
    raw = request.get_data(cache=True, as_text=True)
    if not raw or len(raw) > 4096:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    token = body.get(BEACON_TOKEN_FIELD) if isinstance(body, dict) else None
    return token if isinstance(token, str) and token else None


@bp.get("/calls/<sid>/scenario.yaml")
def scenario(sid: str) -> ResponseReturnValue:
    """Any call as a scenario file (docs/scenarios.md), to replay it with `ivr test`."""
    record = _engine().store.get_call(_sid(sid))
    if record is None:
        abort(404, f"no call {sid} in the call records")
    try:
        text = scenario_yaml(call_to_scenario(record, _flow(record.line)))
    except ValueError as exc:
        abort(409, f"call {sid} cannot be exported as a scenario: {exc}")
    name = f"call-{record.reference or sid}.yaml"
    return Response(
        text, mimetype="application/x-yaml", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> ResponseReturnValue:
    abort(404, f"{request.method} /trainer/api/{rest} is not part of the trainer API")


# -- errors: always JSON with a message a person can act on ----------------------------------


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> ResponseReturnValue:
    return jsonify(error=exc.description, status=exc.code), exc.code or 400


@bp.errorhandler(InputError)
def input_error(exc: InputError) -> ResponseReturnValue:
    return jsonify(error=str(exc), status=400), 400


@bp.errorhandler(LineFull)
def line_full(exc: LineFull) -> ResponseReturnValue:
    return jsonify(error=str(exc), status=429), 429


@bp.errorhandler(PageCallGone)
def page_call_gone(exc: PageCallGone) -> ResponseReturnValue:
    return jsonify(error=str(exc), status=404), 404


@bp.errorhandler(SimulationError)
def simulation_error(exc: SimulationError) -> ResponseReturnValue:
    return jsonify(error=str(exc), status=409), 409


@bp.errorhandler(Exception)
def unexpected(exc: Exception) -> ResponseReturnValue:
    log.exception("trainer API %s failed", request.path)
    return jsonify(error=f"the trainer API failed: {type(exc).__name__}; see the server log", status=500), 500


# -- helpers ---------------------------------------------------------------------------------


def _detail(sid: str, live: LiveCall | None) -> dict[str, Any]:
    record = _engine().store.get_call(sid)
    if record is None and live is None:
        abort(404, f"no call {sid}: it was never placed, or its record is gone")
    line = record.line if record is not None else live.line if live is not None else ""
    flow = _flow(line)
    steps = call_views.call_steps(record, flow, MAX_STEPS) if record else []
    total = len(record.events) if record else 0
    return {
        "call": call_views.call_summary(record, page_call=live is not None, zone=call_views.clock_zone(flow))
        if record
        else None,
        "steps": steps,
        "omitted_steps": total - len(steps),
        "live": call_views.live_view(live) if live is not None else None,
    }


def _page_call(sid: str, *, write: bool = True) -> AbstractContextManager[LiveCall]:
    """Take a page call up for one click: `with _page_call(sid) as live: ...` (404 if gone);
    `write=False` only reads it (a look does not keep an idle call alive)."""
    signer = Signer.from_config(current_app.config)
    return _page_calls().use(_sid(sid), _flows(), _transport(), signer, write=write)


def _transport() -> WsgiTransport:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return WsgiTransport(app)


def _flows() -> dict[str, Flow]:
    engine = _engine()
    return {name: engine.flows.get(name).machine.flow for name in engine.flows.names()}


def _flow(line: str) -> Flow:
    engine = _engine()
    if line not in engine.flows.names():
        abort(404, f"line {line!r} does not exist; lines: {', '.join(engine.flows.names())}")
    return engine.flows.get(line).machine.flow


def _sid(sid: str) -> str:
    if not _SID.match(sid):
        abort(400, f"{sid[:70]!r} is not a CallSid (letters, digits, - and _, at most 64)")
    return sid


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, 'send a JSON object with Content-Type: application/json, e.g. {"keys": "1"}')
    return body


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        abort(400, f"{name}={value[:20]!r} must be a whole number from {low} to {high}")
    return int(value)


def _clock(value: Any) -> str | None:
    """The call's own clock: None for now, else an ISO 8601 time (naive means Central)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 40:
        abort(400, 'now must be an ISO 8601 time such as "2026-11-24T21:30", or left out')
    try:
        frozen_clock(value, source="now")
    except ConfigError as exc:
        abort(400, str(exc))
    if not _engine().config.allow_simulated_clock:
        abort(400, "this server ignores chosen clocks (IVR_ALLOW_SIMULATED_CLOCK is off); leave now empty")
    return value
