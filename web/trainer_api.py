"""JSON API of the trainer page: simulated calls through the real webhooks, history, analytics.

A page call is a `SimulatedCall` run in-process against this very app (WsgiTransport): it posts
to /voice exactly as Twilio does, signed when the app checks signatures (ivr.signing.Signer), so
the page shows the same state machine a phone reaches. Live page calls stay in this process
(web/live_calls.py): run the trainer with one worker.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr import (
    TRAINER_CALL_TTL,
    ConfigError,
    Engine,
    Flow,
    Signer,
    SimulatedCall,
    SimulationError,
    WsgiTransport,
    call_to_scenario,
    frozen_clock,
    line_analytics,
    scenario_yaml,
    signs_webhooks,
    to_svg,
)

from . import call_views
from .live_calls import InputError, LiveCall, LiveCalls

log = logging.getLogger(__name__)

bp = Blueprint("trainer_api", __name__, url_prefix="/trainer/api")

#: The caller's number on page calls (Twilio's test number; stored masked as ***0006).
PAGE_CALLER = "+15005550006"
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EXTENSION = "trainer_calls"


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    ttl = float(state.app.config.get("TRAINER_CALL_TTL", TRAINER_CALL_TTL))
    state.app.extensions[_EXTENSION] = LiveCalls(ttl=ttl)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr"]
    return engine


def _live_calls() -> LiveCalls:
    calls: LiveCalls = current_app.extensions[_EXTENSION]
    return calls


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


@bp.get("/lines/<line>/analytics")
def analytics(line: str) -> ResponseReturnValue:
    flow = _flow(line)
    limit = _int_arg("limit", 500, 1, 5000)
    store = _engine().store
    records = [store.get_call(r.call_sid) for r in store.recent_calls(limit) if r.line == line]
    return jsonify(
        line=line, title=flow.title, analytics=line_analytics([r for r in records if r is not None], flow)
    )


# -- calls -----------------------------------------------------------------------------------


@bp.get("/calls")
def history() -> ResponseReturnValue:
    """Recent calls, real and simulated, newest first, each with its path."""
    limit = _int_arg("limit", 50, 1, 500)
    line = request.args.get("line") or None
    store, live = _engine().store, _live_calls()
    rows = []
    for summary in store.recent_calls(limit):
        if line and summary.line != line:
            continue
        record = store.get_call(summary.call_sid) or summary
        rows.append(call_views.call_summary(record, page_call=record.call_sid in live))
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
        WsgiTransport(current_app._get_current_object()),  # type: ignore[attr-defined]
        to=number,
        caller=PAGE_CALLER,
        base_url=config.get("PUBLIC_BASE_URL") or "http://localhost",
        signer=Signer.from_config(config),
        simulated_now=now,
    )
    live = _live_calls().add(LiveCall(sim, line, clock=now))
    live.dial()
    log.info("trainer page placed call %s on line %s", sim.call_sid, line)
    return jsonify(_detail(sim.call_sid)), 201


@bp.get("/calls/<sid>")
def call_detail(sid: str) -> ResponseReturnValue:
    """A call with its path and steps; a page call of this process adds its exact transcript."""
    return jsonify(_detail(_sid(sid)))


@bp.post("/calls/<sid>/press")
def press(sid: str) -> ResponseReturnValue:
    keys = _json_body().get("keys")
    if not isinstance(keys, str):
        abort(400, 'send the keys pressed as a string, e.g. {"keys": "1"}')
    _page_call(sid).press(keys)
    return jsonify(_detail(sid))


@bp.post("/calls/<sid>/say")
def say(sid: str) -> ResponseReturnValue:
    text = _json_body().get("text")
    if not isinstance(text, str):
        abort(400, 'send the words as a string, e.g. {"text": "billing"}')
    _page_call(sid).say(text)
    return jsonify(_detail(sid))


@bp.post("/calls/<sid>/silence")
def silence(sid: str) -> ResponseReturnValue:
    _page_call(sid).silence()
    return jsonify(_detail(sid))


@bp.post("/calls/<sid>/hangup")
def hangup(sid: str) -> ResponseReturnValue:
    _page_call(sid).hangup()
    return jsonify(_detail(sid))


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


@bp.errorhandler(SimulationError)
def simulation_error(exc: SimulationError) -> ResponseReturnValue:
    return jsonify(error=str(exc), status=409), 409


@bp.errorhandler(Exception)
def unexpected(exc: Exception) -> ResponseReturnValue:
    log.exception("trainer API %s failed", request.path)
    return jsonify(error=f"the trainer API failed: {type(exc).__name__}; see the server log", status=500), 500


# -- helpers ---------------------------------------------------------------------------------


def _detail(sid: str) -> dict[str, Any]:
    live = _live_calls().get(sid)
    record = _engine().store.get_call(sid)
    if record is None and live is None:
        abort(404, f"no call {sid}: it was never placed, or its record is gone")
    line = record.line if record is not None else live.line if live is not None else ""
    flow = _flow(line)
    view: dict[str, Any] | None = None
    if live is not None:
        with live.lock:
            view = call_views.live_view(live, flow)
    return {
        "call": call_views.call_summary(record, page_call=live is not None) if record else None,
        "steps": call_views.call_steps(record, flow) if record else [],
        "live": view,
    }


def _page_call(sid: str) -> LiveCall:
    live = _live_calls().get(_sid(sid))
    if live is None:
        abort(
            404,
            f"call {sid} is not a live page call of this server: calls from a phone or "
            "another process can be watched (GET) but not driven",
        )
    return live


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
