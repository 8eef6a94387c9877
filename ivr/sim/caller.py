"""A simulated caller that runs TwiML as Twilio does, on a virtual clock, for tests and tools."""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Self
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from ivr.engine.errors import IvrError
from ivr.engine.flow import PHONE_KEYS
from ivr.engine.ssml import spoken
from ivr.sim.signing import Signer
from ivr.sim.twiml_rules import SIMULATED
from ivr.sim.twiml_rules import problems as twiml_problems

from . import dial, queue, record, snapshot
from .callers import TEST_CALLER
from .cookies import CallCookies
from .fields import geographic, normalised
from .number import CALL_EVENTS
from .switch import Hold, Switch
from .transcript import Heard, Outcome, Step, Transcript, main_language
from .transport import HttpReply, Transport, join_url, url_with_query
from .twilio_errors import (
    APPLICATION_ERROR_MESSAGE,
    DOCUMENT_PARSE_FAILURE,
    HTTP_BAD_HOST_NAME,
    HTTP_CONNECTION_FAILURE,
    HTTP_INVALID_REDIRECT,
    HTTP_RETRIEVAL_FAILURE,
    HTTP_TOO_MANY_REDIRECTS,
    INVALID_CONTENT_TYPE,
    describe,
    verb_error,
)

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "AC" + "5" * 32
WORDS_PER_SECOND = 2.5
MAX_REDIRECTS = 20
#: HTTP redirects Twilio follows ("only ... 301, 302, 303, and 307"; others are error 11216).
FOLLOWED_REDIRECTS = (301, 302, 303, 307)
MAX_HTTP_REDIRECTS = 10
#: "Specifying 0 will cause the <Play> verb to loop until either the call is hung up or 1000
#: iterations are performed" (the Play reference; the Say reference says 1,000 too).
ENDLESS_LOOPS = 1000
DTMF_TONE_SECONDS = 0.25
DTMF_PAUSE_SECONDS = 0.5  # each `w` in <Play digits> and <Number sendDigits>; `W` is a second


def dtmf_seconds(digits: str) -> float:
    """How long DTMF takes to play: a tone each, 0.5 s for each `w`, 1 s for each `W`."""
    tones = [d for d in digits if d not in "wW"]
    return len(tones) * DTMF_TONE_SECONDS + (digits.count("w") + 2 * digits.count("W")) * DTMF_PAUSE_SECONDS


#: A new token for every request, as Twilio sends one. Unique, not secret: drawn from a generator
#: seeded once from the OS (os.urandom per request cost more than the rest of a step's headers).
_tokens = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _tokens.seed(secrets.randbits(128)))  # not the parent's


def _idempotency_token() -> str:
    return _tokens.getrandbits(128).to_bytes(16).hex()  # 32 hex digits, as f"{n:032x}"


#: The last status callback Timestamp: (the second, as Twilio's RFC 2822 date). Formatting a date
#: costs more than the rest of a callback's fields; it changes once a second.
_stamp: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "")


def _timestamp() -> str:
    """`format_datetime(datetime.now(UTC))`, formatted again only when the second changes."""
    global _stamp
    now = datetime.now(UTC)
    second = now.replace(microsecond=0)
    cached = _stamp
    if cached[0] != second:
        cached = _stamp = (second, format_datetime(now))
    return cached[1]


#: No extra request fields (a default that cannot be changed).
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})


class SimulationError(IvrError):
    """The simulated call cannot go on: unsupported TwiML, or input it cannot take now."""


@dataclass
class _Waiting:
    gather: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]


@dataclass
class _Looping:
    """A <Say>/<Play> with loop="0" outside a Gather: it plays on while the caller listens."""

    verb: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]
    step: Step
    seconds: float  # one iteration


class SimulatedCall:
    """One call placed the way Twilio places it: same fields, same verbs, same fall-throughs.

    Example:
        call = SimulatedCall(WsgiTransport(app), to="+18002372765").dial()
        call.press("2"); assert "Billing" in call.heard
    """

    def __init__(
        self,
        transport: Transport,
        to: str,
        *,
        caller: str = TEST_CALLER,
        base_url: str = "http://localhost",
        voice_url: str = "/voice",
        voice_method: str = "POST",
        status_callback: str | None = "/voice/status",
        status_callback_method: str = "POST",
        status_callback_events: Sequence[str] = ("completed",),
        fallback_url: str | None = None,
        fallback_method: str = "POST",
        fields: Mapping[str, str] | None = None,
        auth_token: str | None = None,
        signer: Signer | None = None,
        account_sid: str = DEFAULT_ACCOUNT,
        call_sid: str | None = None,
        validate: bool = True,
        simulated_now: str | None = None,
        switch: Switch | None = None,
    ) -> None:
        self.transport = transport
        self.to = to
        self.caller = caller
        self.base_url = base_url.rstrip("/")
        self.voice_url = self._absolute(voice_url)
        self.voice_method = voice_method.upper()
        self.status_callback = self._absolute(status_callback) if status_callback else None
        self.status_callback_method = status_callback_method.upper()
        bad = [e for e in status_callback_events if e not in CALL_EVENTS]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a call event; use {', '.join(CALL_EVENTS)}")
        self.status_callback_events = tuple(status_callback_events)
        self.fallback_url = self._absolute(fallback_url) if fallback_url else None
        self.fallback_method = fallback_method.upper()
        #: Extra or changed request fields (Twilio names or snake_case: from_state -> FromState).
        self.fields = normalised(fields)
        self.cookies = CallCookies()  # Twilio keeps cookies for the length of one call
        if auth_token and signer is not None:
            raise ValueError("sign with auth_token or with signer, not both")
        # Twilio signs with the auth token, or with a shared key when a Webhook Rule says so.
        self._signer = Signer(auth_token) if auth_token else signer
        self.account_sid = account_sid
        self.call_sid = call_sid or "CA" + _idempotency_token()  # unique, as the tokens are
        self.validate = validate
        # Our app (not Twilio) reads SimulatedNow on the first request: a clock for this call.
        self.simulated_now = simulated_now
        self.clock = 0.0
        self.transcript = Transcript(self.call_sid, to)
        self._waiting: _Waiting | None = None
        #: Far ends, queues and rooms (ivr.sim.switch); share one Switch between calls to meet.
        self.switch = switch if switch is not None else Switch(park=False)
        self._held: Hold | None = None  # at a <Record>, parked in a queue or a conference room
        self._looping: _Looping | None = None
        #: How many <Dial>s this call has run (a far end can be planned for the Nth one).
        self.dials = 0
        self._sequence = 0  # SequenceNumber of the next status callback
        self._since_input: list[Heard] = []
        self._status = "ringing"
        # Twilio answers the call when it runs a document that does not start with <Reject>.
        self._answered = False
        # _fields(), built once: (what it was built from, the fields).
        self._constant_fields: tuple[tuple[object, ...], dict[str, str]] | None = None

    # -- what a caller does ----------------------------------------------------------------

    def dial(self) -> SimulatedCall:
        """Place the call: Twilio requests the number's voice URL."""
        if self.transcript.steps:
            raise SimulationError("this call was already dialled")
        self._status = "initiated"
        self._status_event("initiated", "initiated")
        self._status = "ringing"
        self._status_event("ringing", "ringing")
        extra = {"SimulatedNow": self.simulated_now} if self.simulated_now else {}
        self._fetch("voice", self.voice_method, self.voice_url, extra, None)
        return self

    def press(self, keys: str) -> SimulatedCall:
        """Press keys at the current Gather, as Twilio collects them."""
        bad = [k for k in keys if k not in PHONE_KEYS]
        if self._held is not None and keys and not bad:
            self._held.press(keys)
            return self
        if self._looping is not None and not bad and keys:
            return self._loop_runs_out(f"keys {keys}")
        waiting = self._need_gather(f"press {keys!r}")
        if bad or not keys:
            raise SimulationError(f"{keys!r} is not a sequence of phone keys (0-9, *, #)")
        gather = waiting.gather
        self._since_input = []
        if "dtmf" not in _inputs(gather):
            return self._no_input(waiting, f"keys {keys}")
        finish = gather.get("finishOnKey", "#")
        limit = _int(gather.get("numDigits"), 0)
        digits = ""
        ended_by_key = False
        for key in keys:
            self.clock += 0.3
            if finish and key == finish:
                ended_by_key = True
                break
            digits += key
            if limit and len(digits) >= limit:
                ended_by_key = True
                break
        if not ended_by_key:
            self.clock += _int(gather.get("timeout"), 5)  # Twilio waits for more, then submits
        if not digits:
            return self._empty(waiting, f"keys {keys}")
        return self._submit(waiting, {"Digits": digits}, f"keys {keys}")

    def say(self, words: str, confidence: float = 0.92) -> SimulatedCall:
        """Speak at the current Gather; a keys-only Gather hears nothing."""
        if self._held is not None:
            self._held.say(words)
            return self
        if self._looping is not None:
            return self._loop_runs_out(f"said {words!r}")
        waiting = self._need_gather(f"say {words!r}")
        self._since_input = []
        if "speech" not in _inputs(waiting.gather):
            return self._no_input(waiting, f"said {words!r}")
        self.clock += len(words.split()) / WORDS_PER_SECOND + 1.0
        fields = {"SpeechResult": words, "Confidence": f"{confidence:.2f}"}
        return self._submit(waiting, fields, f"said {words!r}")

    def silence(self) -> SimulatedCall:
        """Say and press nothing until the Gather times out (or an endless prompt runs out)."""
        if self._held is not None:
            self._held.silence()
            return self
        if self._looping is not None:
            return self._loop_runs_out("silence")
        waiting = self._need_gather("stay silent")
        self._since_input = []
        return self._no_input(waiting, "silence")

    def hangup(self) -> SimulatedCall:
        """Hang up now (if the call is still up) and send the final status callback."""
        if self._held is not None and self.transcript.outcome is None:
            self._held.hangup()  # during a <Record>, in a queue or a conference: its action first
            return self
        if self.transcript.outcome is None:
            if self._looping is not None:
                self.clock += self._looping.seconds  # hung up during the endless prompt
                self._looping = None
            self._end(Outcome("caller-hangup"))
        return self

    def redirect(self, url: str, method: str = "POST") -> SimulatedCall:
        """Send the live call to new TwiML, as Twilio's call-update REST API (Url, Method) does:
        what the call was doing stops and `url` is requested. A caller waiting in a queue
        leaves it with QueueResult redirected (the <Enqueue> action is requested, its TwiML is
        not run). The simulator redirects a call at a <Gather> or in a queue."""
        if self.transcript.outcome is not None:
            raise SimulationError("cannot redirect: the call has ended")
        held = self._held
        if held is not None and not isinstance(held, queue.QueueHold):
            raise SimulationError(
                "cannot redirect: the simulator redirects a call only at a <Gather> or in a queue"
            )
        self._held = None
        self._waiting = None
        self._looping = None
        self._since_input = []
        if isinstance(held, queue.QueueHold):
            queue.redirected(held)
        self._fetch("redirect", method.upper(), self._absolute(url), {}, "call update")
        return self

    def record(
        self, words: str = "", seconds: float | None = None, finish: str | None = None
    ) -> SimulatedCall:
        """Leave a message at the current <Record>: `words` spoken over `seconds` (default:
        as long as the words take), ended by `finish` (a key, "hangup") or, without one, by
        the Record's silence timeout; maxLength cuts it short."""
        if self._held is None:
            raise SimulationError("cannot record: the call is not at a <Record>")
        self._held.record(words, seconds, finish)
        return self

    # -- what a caller hears and where the call is ------------------------------------------

    @property
    def heard(self) -> str:
        """Everything spoken since the last input, as one string."""
        return " ".join(h.text for h in self._since_input if h.kind == "say")

    @property
    def heard_all(self) -> list[Heard]:
        return [h for step in self.transcript.steps for h in step.heard]

    @property
    def language(self) -> str | None:
        """The language of what was heard since the last input (most of its words)."""
        return main_language(self._since_input)

    @property
    def state(self) -> str | None:
        """The app's state after the last step, when the app says it (X-IVR-State)."""
        for step in reversed(self.transcript.steps):
            if step.state:
                return step.state
        return None

    @property
    def heard_items(self) -> list[Heard]:
        """Everything heard since the last input (speech, sounds, DTMF, pauses), in order."""
        return list(self._since_input)

    @property
    def waiting(self) -> bool:
        """Waiting for the caller's input: at a <Gather>, or at a <Record>."""
        return self._waiting is not None or isinstance(self._held, record.RecordHold)

    @property
    def looping(self) -> bool:
        """True while a loop="0" <Say>/<Play> outside a Gather plays on (see docs/scenarios.md)."""
        return self._looping is not None

    @property
    def gather(self) -> ElementTree.Element | None:
        return self._waiting.gather if self._waiting else None

    @property
    def ended(self) -> bool:
        return self.transcript.outcome is not None

    @property
    def outcome(self) -> Outcome | None:
        return self.transcript.outcome

    # -- kept between requests --------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The call as JSON-able data, for `resume` to take up in this process or another.

        Kept: the numbers, base URL and SimulatedNow it was placed with, its virtual clock and
        call status, the <Gather> it waits at and the verbs after it, what it heard since the
        last input, where the app last said it was, and how it ended. Not kept: the steps
        before, its cookies, and options beyond those (voice URL, callbacks, fields, switch).
        SimulationError while it is held in a queue, a recording or a loop: those cannot be
        kept, only a call waiting at a <Gather> or ended.
        """
        return snapshot.take(self)

    @classmethod
    def resume(cls, transport: Transport, call_sid: str, data: dict[str, Any], signer: Signer | None) -> Self:
        """Take up a call from `snapshot()`'s data, over `transport`, signing with `signer`.

        It waits at the same <Gather> (its next input goes where the kept call's would), with
        the same clock and what it heard; its transcript starts with one "resumed" step that
        stands for the call so far.
        """
        return snapshot.resume(cls, transport, call_sid, data, signer)

    # -- running TwiML ---------------------------------------------------------------------

    def _need_gather(self, action: str) -> _Waiting:
        if self.transcript.outcome is not None:
            raise SimulationError(f"cannot {action}: the call has ended ({self.transcript.outcome})")
        if self._waiting is None:
            raise SimulationError(f"cannot {action}: the call is not waiting for input")
        return self._waiting

    def _loop_runs_out(self, shown: str) -> SimulatedCall:
        """Outside a Gather nothing takes the caller's input: the endless prompt plays on until
        Twilio's 1000 iterations are done, then the verbs after it run."""
        looping = self._looping
        assert looping is not None
        self._looping = None
        self._since_input = []
        self.clock += looping.seconds * (ENDLESS_LOOPS - 1)
        log.debug("%s while <%s loop=0> played: ignored", shown, looping.verb.tag)
        self._run(looping.rest, looping.doc_url, looping.step)
        return self

    def _no_input(self, waiting: _Waiting, shown: str) -> SimulatedCall:
        self.clock += _int(waiting.gather.get("timeout"), 5)
        return self._empty(waiting, shown)

    def _empty(self, waiting: _Waiting, shown: str) -> SimulatedCall:
        """No input: Twilio calls the action only with actionOnEmptyResult, else falls through."""
        self._waiting = None
        if waiting.gather.get("actionOnEmptyResult", "false") == "true":
            return self._submit(waiting, {}, shown)
        self._run(waiting.rest, waiting.doc_url, self._last_step())
        return self

    def _submit(self, waiting: _Waiting, fields: dict[str, str], shown: str) -> SimulatedCall:
        self._waiting = None
        gather = waiting.gather
        action = join_url(waiting.doc_url, gather.get("action") or waiting.doc_url)
        self._fetch("action", gather.get("method", "POST").upper(), action, fields, shown)
        return self

    def _fetch(
        self,
        kind: str,
        method: str,
        url: str,
        extra: dict[str, str],
        shown: str | None,
        redirects: int = 0,
    ) -> None:
        step, root, doc_url = self._request(kind, method, url, extra, shown)
        if root is None:
            return
        self._run(list(root), doc_url, step, redirects)

    def _request(
        self, kind: str, method: str, url: str, extra: dict[str, str], shown: str | None
    ) -> tuple[Step, ElementTree.Element | None, str]:
        """Fetch a document: (step, root, the URL it came from), or root None when the call ended.

        On failure Twilio requests the fallback URL with ErrorCode and ErrorUrl, and the fallback
        document runs in its place, its relative URLs resolved against the fallback URL.
        """
        step, code = self._send(kind, method, url, extra, shown)
        url = step.url if method == "POST" else url  # after HTTP redirects, the final URL
        if code is None:
            doc = document(step.twiml)
            if doc.root is None:
                step.error, code = doc.error, DOCUMENT_PARSE_FAILURE
            elif doc.error is not None:
                # Twilio would run this TwiML: the limit is the simulator's, so no fallback.
                step.error = doc.error
                self._end(Outcome("error", detail=step.error))
                return step, None, url
            else:
                return step, doc.root, _doc_url(step.url, method)
        step.code = code
        failed_url = _doc_url(step.url, method)
        if self.fallback_url and kind != "fallback":
            fields = {**extra, "ErrorCode": code, "ErrorUrl": failed_url}
            return self._request("fallback", self.fallback_method, self.fallback_url, fields, shown)
        # No fallback (or the fallback failed too): Twilio plays its message and hangs up.
        self._record(step, Heard("say", APPLICATION_ERROR_MESSAGE))
        self.clock += len(APPLICATION_ERROR_MESSAGE.split()) / WORDS_PER_SECOND
        self._end(Outcome("error", detail=step.error, code=code, url=failed_url))
        return step, None, url

    def _send(
        self, kind: str, method: str, url: str, extra: dict[str, str], shown: str | None
    ) -> tuple[Step, str | None]:
        """Send one request, following HTTP redirects as Twilio does.

        Returns the last step and, when the request failed, Twilio's error code. A redirect
        (301, 302, 303, 307) is requested again with the same method and the call's fields,
        signed for the new URL; each hop is a step of its own.
        """
        base = self._fields(extra)
        for hop in range(MAX_HTTP_REDIRECTS + 1):
            # Each hop's step keeps the fields it sent: the first takes `base`, the others a copy.
            fields = base if hop == 0 else dict(base)
            step, reply, code = self._send_once(kind, method, url, fields, shown)
            if reply is None or not 300 <= reply.status < 400 or kind == "status":
                return step, code
            location = reply.headers.get("location")
            if reply.status not in FOLLOWED_REDIRECTS or not location:
                step.error = f"HTTP {reply.status} from {step.url} is not a redirect Twilio follows"
                step.code = HTTP_INVALID_REDIRECT
                return step, HTTP_INVALID_REDIRECT
            if hop == MAX_HTTP_REDIRECTS:
                step.error = f"more than {MAX_HTTP_REDIRECTS} HTTP redirects from {url}"
                step.code = HTTP_TOO_MANY_REDIRECTS
                return step, HTTP_TOO_MANY_REDIRECTS
            url = urljoin(step.url, location)
        raise AssertionError("unreachable")  # the loop returns

    def _send_once(
        self, kind: str, method: str, url: str, fields: dict[str, str], shown: str | None
    ) -> tuple[Step, HttpReply | None, str | None]:
        """Send one request with `fields` (kept by its step, so not to be changed after)."""
        if method == "GET":
            url, fields = url_with_query(url, fields), {}
        headers = {"I-Twilio-Idempotency-Token": _idempotency_token(), "User-Agent": "TwilioProxy/1.1"}
        cookie = self.cookies.header(url)
        if cookie:
            headers["Cookie"] = cookie
        if self._signer is not None:
            headers.update(self._signer.headers(url, fields))
        step = Step(len(self.transcript.steps), kind, method, url, fields, shown, at=self.clock)
        started = time.perf_counter()
        try:
            reply = self.transport.request(method, url, fields, headers)
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, socket.gaierror):
                step.error, step.code = f"bad host name in {url}: {reason}", HTTP_BAD_HOST_NAME
            elif isinstance(reason, TimeoutError):
                step.error = f"no answer from {url} in time: {reason}"
                step.code = HTTP_CONNECTION_FAILURE
            else:
                step.error, step.code = f"could not reach {url}: {exc}", HTTP_CONNECTION_FAILURE
            self.transcript.steps.append(step)
            return step, None, step.code
        step.elapsed_ms = (time.perf_counter() - started) * 1000
        self.cookies.take(url, reply.set_cookies)
        code = self._take(step, reply)
        self.transcript.steps.append(step)
        return step, reply, code

    def _take(self, step: Step, reply: HttpReply) -> str | None:
        step.status = reply.status
        step.twiml = reply.body
        content_type = reply.content_type
        step.content_type = content_type or ""
        headers = reply.headers
        step.state = headers.get("x-ivr-state")
        step.trigger = headers.get("x-ivr-trigger")
        step.language = headers.get("x-ivr-language")
        if step.kind == "status" or 300 <= reply.status < 400:
            return None
        if not 200 <= reply.status < 300:
            step.error = f"HTTP {reply.status} from {step.url}"
            return HTTP_RETRIEVAL_FAILURE
        if content_type not in ("text/xml", "application/xml", "text/html"):
            step.error = f"content type {content_type or 'missing'} is not TwiML"
            return INVALID_CONTENT_TYPE
        if self.validate:
            found = twiml_problems(reply.body)
            if found:
                step.error = "invalid TwiML: " + "; ".join(found)
                return verb_error(found[0])
        return None

    def _run(self, verbs: list[ElementTree.Element], doc_url: str, step: Step, redirects: int = 0) -> None:
        if not self._answered and not (verbs and verbs[0].tag == "Reject"):
            self._answered = True
            self._status = "in-progress"
            self._status_event("answered", "in-progress")
        for index, verb in enumerate(verbs):
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                once = self._hear(verb, step)
                if once is not None:  # loop="0": plays on until the caller acts
                    self._looping = _Looping(verb, doc_url, verbs[index + 1 :], step, once)
                    return
            elif tag == "Gather":
                for child in verb:
                    self._hear(child, step, in_gather=True)
                self._waiting = _Waiting(verb, doc_url, verbs[index + 1 :])
                return
            elif tag == "Redirect":
                if redirects >= MAX_REDIRECTS:
                    self._end(Outcome("error", detail=f"more than {MAX_REDIRECTS} redirects in a row"))
                    return
                target = join_url(doc_url, (verb.text or "").strip())
                self._fetch("redirect", verb.get("method", "POST").upper(), target, {}, None, redirects + 1)
                return
            elif tag == "Hangup":
                self._end(Outcome("hangup"))
                return
            elif tag == "Reject":
                self._end(Outcome("reject", detail=verb.get("reason", "rejected")))
                return
            elif tag == "Dial":
                dial.run(self, verb, doc_url, verbs[index + 1 :], step)
                return
            elif tag == "Enqueue":
                queue.enqueue(self, verb, doc_url, verbs[index + 1 :], step)
                return
            elif tag == "Record":
                record.start(self, verb, doc_url, verbs[index + 1 :], step)
                return
        self._end(Outcome("completed"))  # out of TwiML: Twilio hangs up

    def _hear(self, verb: ElementTree.Element, step: Step, in_gather: bool = False) -> float | None:
        """Play one verb to the caller; for loop="0" outside a Gather, heard once and the
        seconds of one iteration returned (the caller then listens until they act)."""
        plan = _HEARING.get(verb)
        if plan is None:
            plan = _HEARING[verb] = _hearing(verb)
        heard, seconds, loops, endless = plan
        if heard is not None:
            heard_list, since = step.heard, self._since_input
            for _ in range(loops):
                heard_list.append(heard)
                since.append(heard)
                self.clock += seconds
        # loop="0" in a Gather: heard once; the Gather's timeout ends the waiting, not the loop.
        return None if in_gather else endless

    def _record(self, step: Step, heard: Heard) -> None:
        step.heard.append(heard)
        self._since_input.append(heard)

    def _end(self, outcome: Outcome) -> None:
        if self.transcript.outcome is not None:
            return
        self.transcript.outcome = outcome
        self._waiting = None
        if outcome.kind == "error":
            status = "failed"
        elif not self._answered:
            # <Reject> first: Twilio never picks up; the call ends busy or no-answer.
            status = "busy" if outcome.detail == "busy" else "no-answer"
        else:
            status = "completed"
        self._status = status
        self._looping = None
        duration = str(int(self.clock)) if self._answered else "0"
        self._status_event("completed", status, {"CallDuration": duration})

    def _status_event(self, event: str, status: str, extra: Mapping[str, str] | None = None) -> None:
        """Send the status callback for `event` when the number subscribes to it."""
        if not self.status_callback or event not in self.status_callback_events:
            return
        fields = {
            **(extra or {}),
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self._sequence),
            "Timestamp": _timestamp(),
        }
        self._sequence += 1
        self._send("status", self.status_callback_method, self.status_callback, fields, None)

    def _fields(self, extra: Mapping[str, str] = _NO_FIELDS) -> dict[str, str]:
        """What Twilio sends on every request of the call, with the configured overrides, then
        `extra`: a new dict, built in one go from the call's constant fields."""
        key = (self.call_sid, self.account_sid, self.caller, self.to, tuple(self.fields.items()))
        if self._constant_fields is None or self._constant_fields[0] != key:
            # An override of CallSid takes its place, first, as in one dict literal.
            fields = {"CallSid": self.call_sid, **_line_fields(*key[1:])}
            self._constant_fields = key, fields
        constant = self._constant_fields[1]
        if "CallStatus" in self.fields:
            return {**constant, **extra}
        return {**constant, "CallStatus": self._status, **extra}  # CallStatus keeps its place

    def _absolute(self, url: str) -> str:
        return url if urlsplit(url).scheme else self.base_url + "/" + url.lstrip("/")

    def _last_step(self) -> Step:
        return self.transcript.steps[-1]


@lru_cache(maxsize=256)
def _line_fields(
    account_sid: str, caller: str, to: str, overrides: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """A call's constant fields after CallSid: the same for every call between two numbers (a
    crawl or a test run places hundreds). Shared, so read, never changed."""
    fields = dict(overrides)
    return {
        "AccountSid": account_sid,
        "From": caller,
        "To": to,
        "Caller": caller,
        "Called": to,
        "CallStatus": "",  # the one field that changes during a call
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **geographic(caller, to, fields),
        **fields,
    }


@dataclass(frozen=True)
class Document:
    """A TwiML answer, parsed: `root` None when it is not XML; `error` says why it cannot run
    (not XML, or TwiML the simulator does not support)."""

    root: ElementTree.Element | None
    error: str | None = None


@lru_cache(maxsize=512)
def document(twiml: str) -> Document:
    """Parse a TwiML answer once: an app answers the same documents again and again.

    The parsed tree is shared by every call that receives the same text, so it is read, never
    changed (a caller's `gather`, the verbs it runs).
    """
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError as exc:
        return Document(None, f"not XML: {exc}")
    return Document(root, _unsupported(root))


def _unsupported(element: ElementTree.Element, parent: str = "") -> str | None:
    """Why the simulator cannot run `element` (an element or attribute it does not know), or None."""
    path = f"{parent}/{element.tag}" if parent else element.tag
    allowed = SIMULATED.get(element.tag)
    if allowed is None:
        if parent.endswith("Say"):
            return None  # SSML inside Say: its text is what the caller hears
        return f"the simulator does not support <{element.tag}> (at {path})"
    for name in element.attrib:
        if name not in allowed:
            return f"the simulator does not support attribute {name!r} of <{element.tag}> (at {path})"
    for child in element:
        why = _unsupported(child, path)
        if why is not None:
            return why
    return None


#: (what the caller hears, seconds it takes, how many times, seconds of one iteration when it
#: plays on (loop="0") else None): what playing a verb does, a function of the element alone.
_Hearing = tuple[Heard | None, float, int, float | None]
#: Each verb's _Hearing, kept while its (shared, parsed, never changed) document lives.
_HEARING: weakref.WeakKeyDictionary[ElementTree.Element, _Hearing] = weakref.WeakKeyDictionary()


#: _Hearing of verbs with nothing inside, by (tag, text, attributes): a new document (a reference
#: number read out) mostly repeats verbs seen before. Cleared when full.
_HEARD: dict[tuple[str, str | None, tuple[tuple[str, str], ...]], _Hearing] = {}
_MAX_HEARD = 4096


def _hearing(verb: ElementTree.Element) -> _Hearing:
    """What playing `verb` (<Say>, <Play>, <Pause>; anything else is not heard) does."""
    if len(verb):
        return _hear_plan(verb)  # SSML inside a <Say>
    # No children: a function of the tag, text and attributes (spoken() reads only the text).
    key = (verb.tag, verb.text, tuple(verb.attrib.items()))
    plan = _HEARD.get(key)
    if plan is None:
        if len(_HEARD) >= _MAX_HEARD:
            _HEARD.clear()
        plan = _HEARD[key] = _hear_plan(verb)
    return plan


def _hear_plan(verb: ElementTree.Element) -> _Hearing:
    tag = verb.tag
    endless = verb.get("loop") == "0" and tag in ("Say", "Play")
    loops = 1 if endless else max(_int(verb.get("loop"), 1), 1)
    if tag == "Say":
        words = spoken(verb)  # SSML as a voice reads it: say-as digits, breaks, sub
        seconds = len(words.text.split()) / WORDS_PER_SECOND + words.pause_seconds
        heard = Heard("say", words.text, verb.get("voice"), verb.get("language"))
    elif tag == "Play":
        digits = verb.get("digits")
        if digits is not None and not (verb.text or "").strip():
            # DTMF sent on the call; "Include w to introduce a 0.5s pause between DTMF tones".
            seconds = dtmf_seconds(digits)
            heard = Heard("digits", digits)
        else:
            seconds, heard = 2.0, Heard("play", (verb.text or "").strip())
    elif tag == "Pause":
        length = _int(verb.get("length"), 1)
        return Heard("pause", f"{length}s"), length, 1, None  # an int: the clock adds it as it is
    else:
        return None, 0.0, 0, None
    return heard, seconds, loops, seconds if endless else None


def _doc_url(url: str, method: str) -> str:
    """The URL a document came from, without the fields a GET request added to its query."""
    return url.split("?CallSid=", 1)[0].split("&CallSid=", 1)[0] if method == "GET" else url


def error_summary(outcome: Outcome) -> str:
    """'Twilio error 11200 HTTP retrieval failure at http://...: HTTP 500 ...' for reports."""
    if outcome.code is None:
        return outcome.detail or "error"
    where = f" at {outcome.url}" if outcome.url else ""
    return f"Twilio error {describe(outcome.code)}{where}: {outcome.detail}"


def _inputs(gather: ElementTree.Element) -> set[str]:
    return set(gather.get("input", "dtmf").split())


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
