"""The engine: a webhook's fields in, one trigger fired on the call's light model, TwiML out."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ivr.engine.call import Call, CallContext, CallSession
from ivr.engine.config import EngineConfig, normalize_number
from ivr.engine.errors import ConfigError, IvrError
from ivr.engine.flow import FAILURE_TRIGGERS, Flow, StateSpec
from ivr.engine.flow_registry import FlowRegistry, Line
from ivr.engine.hours import frozen_clock
from ivr.engine.inputs import choose_trigger
from ivr.engine.machine import Step
from ivr.engine.placeholders import values_for
from ivr.engine.render import Rendered, document_words
from ivr.engine.ssml import say_as
from ivr.engine.store import CallEvent, CallSlot, Purged, SessionStore

log = logging.getLogger(__name__)

_RETRY_NOTICES = frozenset(["no_input", "invalid", "invalid_entry"])
FINAL_STATUSES = frozenset(["completed", "busy", "failed", "no-answer", "canceled"])
#: Seconds between two purges of old records by one process (the first call of a process runs one).
PURGE_EVERY = 10 * 60
#: What a secret entry becomes in the words kept of a step.
HIDDEN = "[hidden]"


@dataclass(frozen=True)
class CallParams:
    """The webhook fields the engine uses, already read from the request."""

    call_sid: str
    to: str = ""
    caller: str = ""
    digits: str = ""
    speech: str = ""
    call_status: str = ""
    duration: int | None = None
    #: `SimulatedNow`: a clock for this call, sent only by simulated callers (never by Twilio).
    simulated_now: str = ""


@dataclass(frozen=True)
class Reply:
    """The TwiML to answer with, and where the call now is (for headers and transcripts)."""

    twiml: str
    line: str
    state: str
    lang: str
    trigger: str | None = None


def mask_number(number: str) -> str:
    """Keep only the last four digits of a caller's number: '+15551234567' -> '***4567'."""
    digits = "".join(c for c in number if c.isdigit())
    return f"***{digits[-4:]}" if len(digits) >= 4 else ("***" if number else "")


class Engine:
    """One per process: flows built once, calls loaded from and saved to the store per request."""

    def __init__(self, config: EngineConfig, store: SessionStore) -> None:
        self.config = config
        self.store = store
        self.flows = FlowRegistry(config)
        self._purge_lock = threading.Lock()
        #: Set by a face that places calls in this process (the trainer page): the source keys
        #: of the call being placed now, or None when the request is not one of its calls.
        self.page_sources: Callable[[], list[str] | None] | None = None
        self._next_purge = 0.0

    # -- lines -------------------------------------------------------------------------------

    def line_for(self, to: str) -> str:
        """The line a call to `to` reaches; any unknown number reaches the default line."""
        return self.flows.line_for(normalize_number(to)) if to else self.flows.default

    def flow(self, line: str) -> Flow:
        """The validated flow of a line (the default line's for an unknown name)."""
        return self.flows.get(line).flow

    # -- webhooks ----------------------------------------------------------------------------

    def start_call(self, params: CallParams) -> Reply:
        """Answer a new call (or Twilio's retry of the same first request)."""
        reply = self._start_call(params)
        self.housekeeping()
        return reply

    def housekeeping(self, now: float | None = None, *, force: bool = False) -> Purged | None:
        """Purge expired sessions and records older than the retention, at most once per
        PURGE_EVERY seconds per process (always with `force`); None when it was not time, or
        the store failed (logged: a purge never fails a call)."""
        wall = time.time() if now is None else now
        with self._purge_lock:
            if not force and wall < self._next_purge:
                return None
            self._next_purge = wall + PURGE_EVERY
        try:
            purged = self.purge(wall)
        except IvrError as exc:
            log.warning("could not purge old calls: %s", exc)
            return None
        if purged.sessions or purged.records or purged.page_calls:
            log.info(
                "purged %d expired sessions, %d call records older than %d days, %d page calls",
                purged.sessions,
                purged.records,
                self.config.retention_days,
                purged.page_calls,
            )
        return purged

    def purge(self, now: float) -> Purged:
        """Purge expired sessions and the records of calls older than the retention, now
        (`ivr purge`); StoreError when the store fails."""
        return self.store.purge(now, now - self.config.retention_days * 24 * 3600)

    def _start_call(self, params: CallParams) -> Reply:
        wall = time.time()
        with self.store.call(params.call_sid, wall) as slot:
            session = slot.session
            if session is not None and not session.ended and session.last_twiml:
                if session.step == 0:
                    # A retried first request: the same answer, and no second call.
                    return Reply(session.last_twiml, session.line, session.state, session.lang)
                line = self.flows.get(session.line)
                twiml = self._render_heard(line, session, self._spec(line, session), None, False).twiml
                return Reply(twiml, session.line, session.state, session.lang)
            return self._begin(slot, params, wall)

    def handle_input(self, params: CallParams, step: int | None) -> Reply:
        """Apply one Gather result (keys, speech or nothing) to a call in progress."""
        wall = time.time()
        with self.store.call(params.call_sid, wall) as slot:
            session = slot.session
            if session is None and slot.known:
                line = self.flows.get(self.line_for(params.to))
                return Reply(line.renderer.message("en", "ended"), line.name, "ended", "en")
            if session is None:
                log.warning("input for unknown call %s: starting it afresh", params.call_sid)
                return self._begin(slot, params, wall)
            line = self.flows.get(session.line)
            if session.ended:
                twiml = line.renderer.message(session.lang, "ended")
            elif step is not None and step != session.step:
                if step == session.step - 1 and session.last_twiml:
                    twiml = session.last_twiml  # Twilio retried a request we already answered
                else:
                    twiml = self._render_heard(line, session, self._spec(line, session), None, False).twiml
            else:
                spec = self._spec(line, session)
                if spec.terminal:
                    twiml = session.last_twiml or self._render_heard(line, session, spec, None, False).twiml
                else:
                    return self._advance(slot, line, session, spec, params, wall)
            return Reply(twiml, session.line, session.state, session.lang)

    def call_status(self, params: CallParams) -> bool:
        """Record a status callback; a final status closes the call's record."""
        if params.call_status not in FINAL_STATUSES:
            return False
        closed = self.store.end_call(params.call_sid, params.call_status, time.time(), params.duration)
        log.info("call %s ended: %s", params.call_sid, params.call_status)
        return closed

    def keyed_hash(self, purpose: str, value: str) -> str:
        """`value` hashed with the member key for `purpose` (the "purpose:" prefix keeps it apart
        from member IDs, which are digits): identity-lockout sources, never a number in clear,
        and secrets derived for a face (the trainer page's session key)."""
        return self.store.members.hash_member_id(f"{purpose}:{value}")

    def _sources(self, caller: str) -> str:
        """The sources a new call's identity failures count against: the face's, for a call it
        places in this process (the trainer page: its browser and address), else the caller's."""
        placed = self.page_sources() if self.page_sources is not None else None
        if placed is not None:
            return " ".join(placed)
        return self.keyed_hash("from", normalize_number(caller)) if caller else ""

    def fallback(self) -> str:
        """Static, safe TwiML for Twilio's fallback URL: an apology and a representative."""
        return self.flows.get(self.flows.default).renderer.fallback()

    def hold(self, lang: str) -> str:
        return self.flows.get(self.flows.default).renderer.hold(_lang(lang))

    def after_transfer(self, lang: str) -> str:
        return self.flows.get(self.flows.default).renderer.message(_lang(lang), "after_transfer")

    # -- steps -------------------------------------------------------------------------------

    def _begin(self, slot: CallSlot, params: CallParams, wall: float) -> Reply:
        line = self.flows.get(self.line_for(params.to))
        flow = line.machine.flow
        reference = slot.new_reference()
        session = CallSession(
            params.call_sid,
            flow.name,
            flow.initial,
            reference=reference,
            lang=flow.languages[0],
            greeted=flow.languages[0],
            sources=self._sources(params.caller),
        )
        if params.simulated_now and self.config.allow_simulated_clock:
            try:
                frozen_clock(params.simulated_now, source="SimulatedNow")
                session.clock = params.simulated_now
            except ConfigError:
                log.warning("call %s: ignoring a malformed SimulatedNow", params.call_sid)
        slot.create(session, caller=mask_number(params.caller), now=wall)
        call = Call(session, self._context(line, session))
        step = line.machine.fire(call, "start")
        spec = flow.states[session.state]
        twiml, heard = self._render_heard(line, session, spec, None, False, greeting=True)
        session.last_twiml = twiml
        slot.log(CallEvent(wall, 0, "start", "", step.source, step.dest, session.lang, heard))
        slot.save(session, now=wall, outcome=_outcome(spec))
        log.info("call %s started on %s line: %s", params.call_sid, flow.name, step.dest)
        return Reply(twiml, flow.name, session.state, session.lang, "start")

    def _advance(
        self,
        slot: CallSlot,
        line: Line,
        session: CallSession,
        spec: StateSpec,
        params: CallParams,
        wall: float,
    ) -> Reply:
        fm = line.machine
        chosen = choose_trigger(fm, spec, session.lang, params.digits, params.speech)
        call = Call(session, self._context(line, session), chosen.digits)
        step = fm.fire(call, chosen.trigger)
        dest = fm.flow.states[session.state]
        if chosen.trigger.startswith("press_") or step.dest != step.source:
            session.failures = 0
        notice = call.notice or _notice(step, spec, dest)
        session.step += 1
        # A choice that leads somewhere new is confirmed in a few words before what follows.
        confirm = step.dest != step.source and chosen.trigger.startswith("press_")
        twiml, heard = self._render_heard(
            line, session, dest, notice, notice in _RETRY_NOTICES, greeting=call.greet, confirm=confirm
        )
        session.last_twiml = twiml
        entered = (params.digits or params.speech) if spec.secret else ""
        if entered.strip():
            heard = _masked(heard, entered)
        slot.log(
            CallEvent(
                wall, session.step, step.trigger, chosen.shown, step.source, step.dest, session.lang, heard
            )
        )
        slot.save(session, now=wall, outcome=_outcome(dest))
        log.debug("call %s: %s --%s--> %s", session.call_sid, step.source, step.trigger, step.dest)
        return Reply(twiml, session.line, session.state, session.lang, step.trigger)

    def _render_heard(
        self,
        line: Line,
        session: CallSession,
        spec: StateSpec,
        notice: str | None,
        reprompt: bool,
        *,
        greeting: bool = False,
        confirm: bool = False,
    ) -> Rendered:
        """The TwiML, and the words it speaks (worked out once per document that has no
        per-call value in it)."""
        return line.renderer.state(
            spec,
            session.lang,
            step=session.step,
            values=values_for(session),
            notice=notice,
            reprompt=reprompt,
            greeting=greeting,
            confirm=confirm,
        )

    def _spec(self, line: Line, session: CallSession) -> StateSpec:
        flow = line.machine.flow
        if session.state not in flow.states:
            # The flow was edited under a live call and its state is gone: back to the start.
            log.warning("call %s was in '%s', which no longer exists", session.call_sid, session.state)
            session.state = flow.initial
            line.machine.fire(Call(session, self._context(line, session)), "start")
        return flow.states[session.state]

    def _context(self, line: Line, session: CallSession) -> CallContext:
        now = frozen_clock(session.clock, source="SimulatedNow")() if session.clock else self.config.clock()
        config = self.config
        return CallContext(
            line.machine.flow,
            now,
            self.store.members,
            config.max_failures,
            counter=self.store,
            wall=time.time(),
            lockout_attempts=config.identity_lockout_attempts,
            lockout_window=config.identity_lockout_window,
        )


def heard_words(twiml: str, secret: str = "") -> str:
    """The words a caller hears from a TwiML document (every `<Say>`, as a voice reads it),
    with `secret` (what the caller just entered at a secret state) masked wherever the
    document reads it back: as typed, digit by digit, or as the date it spells."""
    words = document_words(twiml)
    return _masked(words, secret) if secret.strip() else words


def _masked(words: str, secret: str) -> str:
    forms = {secret.strip()}
    digits = "".join(c for c in secret if c.isdigit())
    if digits:
        forms |= {digits, say_as("digits", digits, "en")}  # as typed, and as read back
    if len(digits) == 8:  # a date of birth (MMDDYYYY) read back as a date
        date = f"{digits[:2]}/{digits[2:4]}/{digits[4:]}"
        forms |= {say_as("date", date, lang, "mdy") for lang in ("en", "es")}
    for form in sorted((f for f in forms if f), key=len, reverse=True):
        words = re.sub(re.escape(form), HIDDEN, words, flags=re.IGNORECASE)
    return words


def _notice(step: Step, source: StateSpec, dest: StateSpec) -> str | None:
    failed = step.trigger in FAILURE_TRIGGERS or (step.trigger == "entry" and step.dest == step.source)
    if not failed:
        return None
    if source.type == "info" and step.trigger == "no_input" and dest.type == "goodbye":
        return None  # silence after an information leaf: the caller is done ("finished")
    if dest.terminal:
        return "failover"
    if step.trigger == "entry":
        return "invalid_entry"
    return "no_input" if step.trigger == "no_input" else "invalid"


def _outcome(spec: StateSpec) -> str | None:
    if spec.type == "transfer":
        return f"transfer:{spec.desk}"
    if spec.type in ("goodbye", "closed"):
        return spec.type
    return None


def _lang(value: str) -> str:
    return value if value in ("en", "es") else "en"
