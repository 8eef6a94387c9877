"""Small TwiML apps for the simulated caller's tests: each serves a few documents and records
every request it gets, so a test can check what the caller sent as well as what it did."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from flask import Flask, Request, Response, request
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from webhooks.signature import require_twilio_signature

Reply: TypeAlias = VoiceResponse | Response | str
Page: TypeAlias = VoiceResponse | str | Callable[[Request], Reply]

#: A Gather action whose query holds escapes a re-quoting server or client would change.
ESCAPED_ACTION = "/got?name=J%C3%BCrgen%20%26%20co%2Fx&empty=&plus=a%2Bb"
PROMPT = "Enter your number."
NO_INPUT = "We did not get that."


@dataclass(frozen=True)
class Seen:
    """One request as the app's server saw it; `query` is the raw query string, escapes kept."""

    method: str
    host: str
    path: str
    query: str
    args: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    body: bytes


class TwimlApp:
    """A WSGI app serving one TwiML page per path (or `default`) and recording each request.

    A page is a VoiceResponse, raw text served as text/xml, or a callable taking the request
    and returning either of those or a complete Flask response (any status or content type).
    With `auth_token`, requests go through the app's own X-Twilio-Signature check first.
    """

    def __init__(
        self,
        pages: Mapping[str, Page],
        *,
        default: Page | None = None,
        auth_token: str | None = None,
    ) -> None:
        self.pages: dict[str, Page] = {"/status": lambda _: Response(status=204), **pages}
        self.default = default
        self.seen: list[Seen] = []
        self.flask = Flask(__name__)
        self.flask.config["TWILIO_AUTH_TOKEN"] = auth_token
        self.flask.before_request(self._record)  # first, so refused requests are recorded too
        if auth_token:
            self.flask.before_request(require_twilio_signature)
        methods = ["GET", "POST"]
        self.flask.add_url_rule("/", "page", self._serve, defaults={"path": ""}, methods=methods)
        self.flask.add_url_rule("/<path:path>", "page", self._serve, methods=methods)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.flask.wsgi_app(environ, start_response)

    def to(self, path: str) -> list[Seen]:
        """The requests made to one path."""
        return [seen for seen in self.seen if seen.path == path]

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def _record(self) -> None:
        self.seen.append(
            Seen(
                method=request.method,
                host=request.host,
                path=request.path,
                query=request.environ.get("QUERY_STRING", ""),
                args=request.args.to_dict(),
                form=request.form.to_dict(),
                headers=dict(request.headers),
                body=request.get_data(),
            )
        )

    def _serve(self, path: str) -> Response:
        page = self.pages.get("/" + path, self.default)
        if page is None:
            return Response("no such page", status=404, mimetype="text/plain")
        reply = page(request) if callable(page) else page
        if isinstance(reply, Response):
            return reply
        return Response(str(reply), mimetype="text/xml")


def _doc(*verbs: Any) -> VoiceResponse:
    response = VoiceResponse()
    for verb in verbs:
        response.append(verb)
    return response


def _say(text: str, **attrs: Any) -> VoiceResponse:
    response = VoiceResponse()
    response.say(text, **attrs)
    return response


def _hangup(text: str) -> VoiceResponse:
    response = _say(text)
    response.hangup()
    return response


def gather_app(**gather: Any) -> TwimlApp:
    """A prompt in a Gather posting to /got, then a no-input message (the fall-through)."""
    response = VoiceResponse()
    attrs = {"action": "/got", "timeout": 7, **gather}
    response.gather(**attrs).say(PROMPT, voice="Polly.Joanna", language="en-US")
    response.say(NO_INPUT)
    return TwimlApp({"/": response, "/got": _hangup("Thanks.")})


def relative_action_app(action: str | None) -> TwimlApp:
    """A Gather at /app/sub/page with `action` as written; every other path hangs up."""
    gather = Gather(num_digits=1, **({"action": action} if action is not None else {}))
    return TwimlApp({"/app/sub/page": _doc(gather)}, default=_hangup("Landed."))


def redirect_app(target: str, method: str | None) -> TwimlApp:
    """/ivr/start says a line, then redirects to `target` (relative) with `method`."""
    start = _say("Moving on.")
    start.redirect(target, **({"method": method} if method else {}))
    return TwimlApp({"/ivr/start": start, "/ivr/next": _hangup("Redirected.")})


def redirect_loop_app() -> TwimlApp:
    """A document that redirects to itself, forever."""
    loop = VoiceResponse()
    loop.redirect("/loop")
    return TwimlApp({"/loop": loop})


def hangup_app() -> TwimlApp:
    response = _hangup("Goodbye.")
    response.say("Never heard.")
    return TwimlApp({"/": response})


def reject_app(reason: str | None, *, after_say: bool = False) -> TwimlApp:
    """<Reject> as the first verb (the call is never answered) or after a <Say> (answered)."""
    response = _say("Hello.") if after_say else VoiceResponse()
    response.reject(**({"reason": reason} if reason else {}))
    return TwimlApp({"/": response})


def dial_app(noun: str | None, target: str) -> TwimlApp:
    """<Dial> with `target` as its text (noun None) or in a <Number>, <Client>, <Sip> or <Queue>."""
    dial = Dial(target) if noun is None else Dial()
    if noun is not None:
        getattr(dial, noun)(target)
    response = _doc(dial)
    response.say("Never heard.")
    return TwimlApp({"/": response})


def enqueue_app(wait_method: str | None) -> TwimlApp:
    """<Enqueue> into `support`; its wait URL says a hold message and plays music."""
    response = VoiceResponse()
    wait = {"wait_url": "hold", "wait_url_method": wait_method} if wait_method else {"wait_url": "hold"}
    response.enqueue("support", **wait)
    response.say("Never heard.")
    hold = _say("Please hold.")
    hold.play("https://example.com/hold.mp3")
    return TwimlApp({"/queue/in": response, "/queue/hold": hold})


def completed_app() -> TwimlApp:
    """A document that simply runs out of verbs."""
    return TwimlApp({"/": _say("That is all.")})


def say_loop_app() -> TwimlApp:
    return TwimlApp({"/": _say("Hello there", loop=3)})


def pause_app(length: int) -> TwimlApp:
    response = VoiceResponse()
    response.pause(length=length)
    response.hangup()
    return TwimlApp({"/": response})


def timed_app() -> TwimlApp:
    """Five spoken words (2 virtual seconds) and a 7-second pause: a 9-second call."""
    response = _say("one two three four five")
    response.pause(length=7)
    return TwimlApp({"/": response})


def unsupported_verb_app() -> TwimlApp:
    response = _say("Pay now.")
    response.pay()
    return TwimlApp({"/": response, "/fallback": _hangup("Fallback.")})


def unsupported_attribute_app() -> TwimlApp:
    response = VoiceResponse()
    response.gather(partial_result_callback="/partial")
    return TwimlApp({"/": response, "/fallback": _hangup("Fallback.")})


#: Broken answers an app can give, by name: (status, content type, body).
BROKEN: dict[str, tuple[int, str, str]] = {
    "http-500": (500, "text/html", "<h1>Internal Server Error</h1>"),
    "invalid-twiml": (200, "text/xml", "<Response><Say>Hi.</Say><Dance/></Response>"),
    "not-xml": (200, "text/xml", "<Response><Say>Hi.</Response>"),
    "json": (200, "application/json", '{"say": "Hi."}'),
}


def broken_app(kind: str) -> TwimlApp:
    """The voice URL answers badly (see BROKEN); /help/fallback recovers with a relative redirect."""
    status, mimetype, body = BROKEN[kind]
    fallback = _say("Sorry, we are having trouble.")
    fallback.redirect("next")
    return TwimlApp(
        {
            "/": lambda _: Response(body, status=status, mimetype=mimetype),
            "/help/fallback": fallback,
            "/help/next": _hangup("Fallback worked."),
        }
    )


def failing_action_app() -> TwimlApp:
    """A Gather whose action answers 500; the fallback at /help/fallback hangs up politely."""
    response = VoiceResponse()
    response.gather(action="/got", num_digits=1).say(PROMPT)
    return TwimlApp(
        {
            "/": response,
            "/got": lambda _: Response("down", status=500, mimetype="text/plain"),
            "/help/fallback": _hangup("Sorry, we are having trouble."),
        }
    )


def echo_app() -> TwimlApp:
    """One key or a few words at /, posted to /got, which hangs up: for checking the fields."""
    response = VoiceResponse()
    response.gather(action="/got", input="dtmf speech", num_digits=1).say(PROMPT)
    return TwimlApp({"/": response, "/got": _hangup("Thanks.")})


def escaped_action_app(auth_token: str | None = None) -> TwimlApp:
    """A Gather whose action query holds percent-escapes; with `auth_token` the app checks signatures."""
    response = VoiceResponse()
    response.gather(action=ESCAPED_ACTION, num_digits=1).say(PROMPT)
    return TwimlApp({"/": response, "/got": _hangup("Got it.")}, auth_token=auth_token)
