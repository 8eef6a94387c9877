"""A simulated caller that runs TwiML as Twilio does, on a virtual clock, for tests and tools."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from ivr.engine.errors import IvrError
from ivr.engine.flow import PHONE_KEYS
from ivr.engine.ssml import spoken
from ivr.sim.signing import Signer
from ivr.sim.twiml_rules import SIMULATED
from ivr.sim.twiml_rules import problems as twiml_problems

from .transcript import Heard, Outcome, Step, Transcript, main_language
from .transport import HttpReply, Transport, url_with_query

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "AC" + "5" * 32
WORDS_PER_SECOND = 2.5
MAX_REDIRECTS = 20

# ErrorCode values Twilio posts to the fallback URL (twilio.com/docs/api/errors/<code>).
HTTP_RETRIEVAL_FAILURE = "11200"
HTTP_CONNECTION_FAILURE = "11205"
DOCUMENT_PARSE_FAILURE = "12100"
INVALID_CONTENT_TYPE = "12300"

_DIAL_NOUNS = ("Number", "Client", "Sip", "Queue")


class SimulationError(IvrError):
    """The simulated call cannot go on: unsupported TwiML, or input it cannot take now."""


@dataclass
class _Waiting:
    gather: ElementTree.Element
    doc_url: str
    rest: list[ElementTree.Element]


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
        caller: str = "+15005550006",
        base_url: str = "http://localhost",
        voice_url: str = "/voice",
        voice_method: str = "POST",
        status_callback: str | None = "/voice/status",
        fallback_url: str | None = None,
        auth_token: str | None = None,
        signer: Signer | None = None,
        account_sid: str = DEFAULT_ACCOUNT,
        call_sid: str | None = None,
        validate: bool = True,
        simulated_now: str | None = None,
    ) -> None:
        self.transport = transport
        self.to = to
        self.caller = caller
        self.base_url = base_url.rstrip("/")
        self.voice_url = self._absolute(voice_url)
        self.voice_method = voice_method.upper()
        self.status_callback = self._absolute(status_callback) if status_callback else None
        self.fallback_url = self._absolute(fallback_url) if fallback_url else None
        if auth_token and signer is not None:
            raise ValueError("sign with auth_token or with signer, not both")
        # Twilio signs with the auth token, or with a shared key when a Webhook Rule says so.
        self._signer = Signer(auth_token) if auth_token else signer
        self.account_sid = account_sid
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.validate = validate
        # Our app (not Twilio) reads SimulatedNow on the first request: a clock for this call.
        self.simulated_now = simulated_now
        self.clock = 0.0
        self.transcript = Transcript(self.call_sid, to)
        self._waiting: _Waiting | None = None
        self._since_input: list[Heard] = []
        self._status = "ringing"
        # Twilio answers the call when it runs a document that does not start with <Reject>.
        self._answered = False

    # -- what a caller does ----------------------------------------------------------------

    def dial(self) -> SimulatedCall:
        """Place the call: Twilio requests the number's voice URL."""
        if self.transcript.steps:
            raise SimulationError("this call was already dialled")
        extra = {"SimulatedNow": self.simulated_now} if self.simulated_now else {}
        self._fetch("voice", self.voice_method, self.voice_url, extra, None)
        return self

    def press(self, keys: str) -> SimulatedCall:
        """Press keys at the current Gather, as Twilio collects them."""
        waiting = self._need_gather(f"press {keys!r}")
        bad = [k for k in keys if k not in PHONE_KEYS]
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
        waiting = self._need_gather(f"say {words!r}")
        self._since_input = []
        if "speech" not in _inputs(waiting.gather):
            return self._no_input(waiting, f"said {words!r}")
        self.clock += len(words.split()) / WORDS_PER_SECOND + 1.0
        fields = {"SpeechResult": words, "Confidence": f"{confidence:.2f}"}
        return self._submit(waiting, fields, f"said {words!r}")

    def silence(self) -> SimulatedCall:
        """Say and press nothing until the Gather times out."""
        waiting = self._need_gather("stay silent")
        self._since_input = []
        return self._no_input(waiting, "silence")

    def hangup(self) -> SimulatedCall:
        """Hang up now (if the call is still up) and send the final status callback."""
        if self.transcript.outcome is None:
            self._end(Outcome("caller-hangup"))
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
    def waiting(self) -> bool:
        return self._waiting is not None

    @property
    def gather(self) -> ElementTree.Element | None:
        return self._waiting.gather if self._waiting else None

    @property
    def ended(self) -> bool:
        return self.transcript.outcome is not None

    @property
    def outcome(self) -> Outcome | None:
        return self.transcript.outcome

    # -- running TwiML ---------------------------------------------------------------------

    def _need_gather(self, action: str) -> _Waiting:
        if self.transcript.outcome is not None:
            raise SimulationError(f"cannot {action}: the call has ended ({self.transcript.outcome})")
        if self._waiting is None:
            raise SimulationError(f"cannot {action}: the call is not waiting for input")
        return self._waiting

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
        action = urljoin(waiting.doc_url, gather.get("action") or waiting.doc_url)
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
        if code is None:
            try:
                root = ElementTree.fromstring(step.twiml)
            except ElementTree.ParseError as exc:
                step.error, code = f"not XML: {exc}", DOCUMENT_PARSE_FAILURE
            else:
                try:
                    self._check_supported(root)
                except SimulationError as exc:
                    # Twilio would run this TwiML: the limit is the simulator's, so no fallback.
                    step.error = str(exc)
                    self._end(Outcome("error", detail=step.error))
                    return step, None, url
                return step, root, url
        if self.fallback_url and kind != "fallback":
            fields = {**extra, "ErrorCode": code, "ErrorUrl": url}
            return self._request("fallback", "POST", self.fallback_url, fields, shown)
        self._end(Outcome("error", detail=step.error))
        return step, None, url

    def _send(
        self, kind: str, method: str, url: str, extra: dict[str, str], shown: str | None
    ) -> tuple[Step, str | None]:
        """Send one request; returns its step and, when it failed, Twilio's error code."""
        fields = {**self._fields(), **extra}
        if method == "GET":
            url, fields = url_with_query(url, fields), {}
        headers = {"I-Twilio-Idempotency-Token": secrets.token_hex(16), "User-Agent": "TwilioProxy/1.1"}
        if self._signer is not None:
            headers.update(self._signer.headers(url, fields))
        step = Step(len(self.transcript.steps), kind, method, url, fields, shown, at=self.clock)
        started = time.perf_counter()
        try:
            reply = self.transport.request(method, url, fields, headers)
        except OSError as exc:
            step.error = f"could not reach {url}: {exc}"
            self.transcript.steps.append(step)
            return step, HTTP_CONNECTION_FAILURE
        step.elapsed_ms = (time.perf_counter() - started) * 1000
        code = self._take(step, reply)
        self.transcript.steps.append(step)
        return step, code

    def _take(self, step: Step, reply: HttpReply) -> str | None:
        step.status = reply.status
        step.twiml = reply.body
        step.state = reply.headers.get("x-ivr-state")
        step.trigger = reply.headers.get("x-ivr-trigger")
        step.language = reply.headers.get("x-ivr-language")
        if step.kind == "status":
            return None
        if not 200 <= reply.status < 300:
            step.error = f"HTTP {reply.status} from {step.url}"
            return HTTP_RETRIEVAL_FAILURE
        if reply.content_type not in ("text/xml", "application/xml", "text/html"):
            step.error = f"content type {reply.content_type or 'missing'} is not TwiML"
            return INVALID_CONTENT_TYPE
        if self.validate:
            found = twiml_problems(reply.body)
            if found:
                step.error = "invalid TwiML: " + "; ".join(found)
                return DOCUMENT_PARSE_FAILURE
        return None

    def _run(self, verbs: list[ElementTree.Element], doc_url: str, step: Step, redirects: int = 0) -> None:
        if not self._answered and not (verbs and verbs[0].tag == "Reject"):
            self._answered = True
            self._status = "in-progress"
        for index, verb in enumerate(verbs):
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                self._hear(verb, step)
            elif tag == "Gather":
                for child in verb:
                    self._hear(child, step)
                self._waiting = _Waiting(verb, doc_url, verbs[index + 1 :])
                return
            elif tag == "Redirect":
                if redirects >= MAX_REDIRECTS:
                    self._end(Outcome("error", detail=f"more than {MAX_REDIRECTS} redirects in a row"))
                    return
                target = urljoin(doc_url, (verb.text or "").strip())
                self._fetch("redirect", verb.get("method", "POST").upper(), target, {}, None, redirects + 1)
                return
            elif tag == "Hangup":
                self._end(Outcome("hangup"))
                return
            elif tag == "Reject":
                self._end(Outcome("reject", detail=verb.get("reason", "rejected")))
                return
            elif tag == "Dial":
                self._end(Outcome("dial", target=_dial_target(verb)))
                return
            elif tag == "Enqueue":
                self._enqueue(verb, doc_url)
                return
        self._end(Outcome("completed"))  # out of TwiML: Twilio hangs up

    def _hear(self, verb: ElementTree.Element, step: Step) -> None:
        loops = max(_int(verb.get("loop"), 1), 1)
        if verb.tag == "Say":
            words = spoken(verb)  # SSML as a voice reads it: say-as digits, breaks, sub
            for _ in range(loops):
                heard = Heard("say", words.text, verb.get("voice"), verb.get("language"))
                self._record(step, heard)
                self.clock += len(words.text.split()) / WORDS_PER_SECOND + words.pause_seconds
        elif verb.tag == "Play":
            what = verb.get("digits") or (verb.text or "").strip()
            for _ in range(loops):
                self._record(step, Heard("play" if verb.text else "digits", what))
                self.clock += 2.0
        elif verb.tag == "Pause":
            length = _int(verb.get("length"), 1)
            self._record(step, Heard("pause", f"{length}s"))
            self.clock += length

    def _record(self, step: Step, heard: Heard) -> None:
        step.heard.append(heard)
        self._since_input.append(heard)

    def _enqueue(self, verb: ElementTree.Element, doc_url: str) -> None:
        queue = (verb.text or "").strip()
        wait_url = verb.get("waitUrl")
        if wait_url:
            # The caller waits in the queue and hears the wait URL's TwiML once.
            method = verb.get("waitUrlMethod", "POST").upper()
            extra = {
                "QueueSid": "QU" + "0" * 32,
                "QueuePosition": "1",
                "QueueTime": "0",
                "AvgQueueTime": "0",
                "CurrentQueueSize": "1",
            }
            wait, root, _ = self._request("wait", method, urljoin(doc_url, wait_url), extra, None)
            if root is None:
                return
            for child in root:
                if child.tag in ("Say", "Play", "Pause"):
                    self._hear(child, wait)
        self._end(Outcome("enqueue", target=queue))

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
        if self.status_callback:
            duration = str(int(self.clock)) if self._answered else "0"
            fields = {"CallDuration": duration, "CallStatus": status}
            self._send("status", "POST", self.status_callback, fields, None)

    def _check_supported(self, element: ElementTree.Element, parent: str = "") -> None:
        path = f"{parent}/{element.tag}" if parent else element.tag
        allowed = SIMULATED.get(element.tag)
        if allowed is None:
            if parent.endswith("Say"):
                return  # SSML inside Say: its text is what the caller hears
            raise SimulationError(f"the simulator does not support <{element.tag}> (at {path})")
        for name in element.attrib:
            if name not in allowed:
                raise SimulationError(
                    f"the simulator does not support attribute {name!r} of <{element.tag}> (at {path})"
                )
        for child in element:
            self._check_supported(child, path)

    def _fields(self) -> dict[str, str]:
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.caller,
            "To": self.to,
            "Caller": self.caller,
            "Called": self.to,
            "CallStatus": self._status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    def _absolute(self, url: str) -> str:
        return url if urlsplit(url).scheme else self.base_url + "/" + url.lstrip("/")

    def _last_step(self) -> Step:
        return self.transcript.steps[-1]


def _inputs(gather: ElementTree.Element) -> set[str]:
    return set(gather.get("input", "dtmf").split())


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _dial_target(verb: ElementTree.Element) -> str:
    for noun in _DIAL_NOUNS:
        found = verb.find(noun)
        if found is not None:
            return f"{noun.lower()}:{(found.text or '').strip()}"
    return f"number:{(verb.text or '').strip()}"
