"""Voice webhooks: request in, one engine call, TwiML out. Nothing here knows the menu."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ivr import ConfigError, Engine, Reply, StoreError, frozen_clock

from .limits import limit_unsized_body
from .signature import require_twilio_signature
from .twiml import CALL_SID, call_params, spoken_error, twiml

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__, url_prefix="/voice")
# Every request of the app: a chunked body is held to MAX_CONTENT_LENGTH before anything reads it.
bp.before_app_request(limit_unsized_body)
bp.before_request(require_twilio_signature)


def _engine() -> Engine:
    engine: Engine = current_app.extensions["ivr"]
    return engine


def _step(value: str) -> int | None:
    """The step in an action URL; anything but a plain small number means 'not given'."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _answer(reply: Reply) -> Response:
    """TwiML, plus where the call now is: simulated callers put it in their transcripts."""
    where: tuple[tuple[str, str], ...] = (
        ("X-IVR-Line", reply.line),
        ("X-IVR-State", reply.state),
        ("X-IVR-Language", reply.lang),
    )
    if reply.trigger:
        where += (("X-IVR-Trigger", reply.trigger),)
    return twiml(reply.twiml, headers=where)


def _refused(engine: Engine) -> Response | None:
    """A 400 for fields no Twilio call sends: no CallSid, an implausible one, a clock out of range."""
    form = request.form
    sid = form.get("CallSid", "").strip()
    if not sid:
        return spoken_error(
            "This is a Twilio voice webhook. The request has no CallSid, so it did not come from "
            "a Twilio call. Post the fields Twilio sends, such as CallSid, From and To.",
            400,
        )
    if not CALL_SID.fullmatch(sid):
        # Never cut to fit: two long SIDs that share a prefix would share one call's session.
        return spoken_error(
            "This is a Twilio voice webhook. The CallSid is not a Twilio call SID, which is CA "
            "and 32 hexadecimal digits, so the request did not come from a Twilio call.",
            400,
        )
    return _clock_out_of_range(engine, form.get("SimulatedNow", ""))


def _clock_out_of_range(engine: Engine, value: str) -> Response | None:
    """SimulatedNow that reads as a time the clock cannot show: 400, never a step that crashes.

    A malformed one is left to the engine, which ignores it with a warning.
    """
    if not value or not engine.config.allow_simulated_clock:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    try:
        frozen_clock(value, source="SimulatedNow")
    except ConfigError as exc:
        return spoken_error(f"Request refused: {exc}", 400)
    return None


@bp.post("")
def incoming() -> Response:
    """A new call: answer with the first menu of the line chosen by `To`."""
    engine = _engine()
    return _refused(engine) or _answer(engine.start_call(call_params(request)))


@bp.post("/input")
def gather_input() -> Response:
    """A Gather's result: keys, speech, or nothing at all."""
    engine = _engine()
    step = request.args.get("step", "")
    return _refused(engine) or _answer(engine.handle_input(call_params(request), _step(step)))


@bp.post("/status")
def status() -> Response:
    """Twilio's status callback: 204, and a final status closes the call's record.

    Nobody hears its answer: a CallSid that is not a Twilio one is left alone, with no 400.
    """
    if CALL_SID.fullmatch(request.form.get("CallSid", "").strip()):
        _engine().call_status(call_params(request))
    return Response(status=204)


@bp.route("/fallback", methods=["GET", "POST"])
def fallback() -> Response:
    """Twilio's fallback URL: static, safe TwiML that apologises and offers a representative."""
    return twiml(_engine().fallback())


@bp.route("/hold", methods=["GET", "POST"])
def hold() -> Response:
    """Wait-URL of the simulated queues: a hold message, repeated by Twilio while waiting."""
    return twiml(_engine().hold(request.args.get("lang", "en")))


@bp.route("/after-transfer", methods=["GET", "POST"])
def after_transfer() -> Response:
    """Where a caller lands after leaving a queue or a dialled transfer."""
    return twiml(_engine().after_transfer(request.args.get("lang", "en")))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    code = exc.code or 400
    return spoken_error(f"Request refused: {exc.description}", code)


@bp.errorhandler(StoreError)
def store_error(exc: StoreError) -> Response:
    # The store is away (down, read-only, full): one line, not a trace per call; /readyz says so too.
    log.error("store unavailable for %s: %s; the caller hears the fallback", request.path, exc)
    return twiml(_engine().fallback())


@bp.errorhandler(Exception)
def engine_error(exc: Exception) -> Response:
    # A caller cannot hear an HTML 500: apologise and hand the call to a representative.
    log.exception("webhook %s failed; the caller hears the fallback", request.path)
    try:
        return twiml(_engine().fallback())
    except Exception:  # noqa: BLE001 - even the flows are broken: still speak
        log.exception("fallback failed too")
        return spoken_error("Sorry, this line is not working right now. Please call again.", 200)
