"""A state's TwiML, built with twilio's VoiceResponse (SSML included) once per variant.

Every `<Say>` holds one language in its own voice. Typed markup in the flow's texts becomes SSML
through twilio's builder (`say_as`, `break_`, `prosody`); per-call values are tokens in the
cached document, filled in per call.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from twilio.twiml.voice_response import Dial, Gather, Say, VoiceResponse

from ivr.engine import markup
from ivr.engine.config import EngineConfig
from ivr.engine.flow import MENU_TYPES, Flow, StateSpec
from ivr.engine.placeholders import PLACEHOLDERS
from ivr.engine.ssml import spoken_text

_TOKEN = re.compile(r"@@([a-z_0-9]+)@@")
#: A per-call value's token: any but the step's.
_VALUE_TOKEN = re.compile(r"@@(?!step@@)[a-z_0-9]+@@")
#: A beat after a confirmation or a notice, before what follows.
_BEAT = "300ms"

Piece = tuple[str, str, bool]  # language, text, a beat after it


class Rendered(NamedTuple):
    """A state's document and the words it speaks."""

    twiml: str
    heard: str


class Renderer:
    """Renders one flow's states; every document is cached by its variant."""

    def __init__(self, flow: Flow, config: EngineConfig, hints: dict[tuple[str, str], str]) -> None:
        self.flow = flow
        self.config = config
        self.hints = hints
        self.prefix = config.url_prefix
        self._template = lru_cache(maxsize=4096)(self._build)
        self._static = lru_cache(maxsize=64)(self._build_static)
        self._words = lru_cache(maxsize=4096)(document_words)
        self._says = lru_cache(maxsize=1024)(_says)

    def state(
        self,
        spec: StateSpec,
        lang: str,
        *,
        step: int,
        values: dict[str, str],
        notice: str | None = None,
        reprompt: bool = False,
        greeting: bool = False,
        confirm: bool = False,
    ) -> Rendered:
        """The TwiML a caller gets on entering (or staying in) `spec`, and the words its
        `<Say>`s speak (`document_words`).

        greeting: the first words of a call (welcome, language offer, warning); confirm: the
        caller arrived by a choice, so the state's confirmation comes first. The words of a
        document with no per-call value in it are worked out once per process: the step goes
        only into action URLs, never into what is said.
        """
        template = self._template(spec.name, lang, notice, reprompt, greeting, confirm)
        twiml = fill(template, step, values)
        if _VALUE_TOKEN.search(template):
            return Rendered(twiml, self._filled_words(template, step, values))
        return Rendered(twiml, self._words(template))

    def _filled_words(self, template: str, step: int, values: dict[str, str]) -> str:
        """`document_words(fill(template, step, values))`, without parsing the filled document:
        the template's `<Say>`s are parsed once, and the values go into their text as heard."""
        says = self._says(template)
        if says is None:
            return document_words(fill(template, step, values))

        def heard_as(text: str) -> str:
            return fill(text, step, values, as_xml=False) if "@@" in text else text

        return " ".join(spoken_text(say, fill=heard_as) for say in says)

    def message(self, lang: str, name: str) -> str:
        """A spoken flow message followed by a hang-up (used for calls that already ended)."""
        return self._static("message", lang, name)

    def hold(self, lang: str) -> str:
        """The wait-URL document played to a caller in the simulated queue."""
        return self._static("hold", lang, "hold")

    def fallback(self) -> str:
        """An apology in every language of the flow, then a representative; no call state."""
        return self._static("fallback", self.flow.languages[0], "error")

    def spoken_pieces(
        self,
        spec: StateSpec,
        lang: str,
        *,
        notice: str | None = None,
        reprompt: bool = False,
        greeting: bool = False,
        confirm: bool = False,
    ) -> list[Piece]:
        """What a state's document says, in order: (language, flow text, beat after)."""
        flow = self.flow
        pieces: list[Piece] = []
        if spec.type == "closed":
            # The caller has chosen no language yet: the closed message in every language, each
            # with the reference number before the last words (as a goodbye has).
            for each in flow.languages:
                if greeting and flow.greeting.get(each):
                    pieces.append((each, flow.greeting[each], False))
                pieces.append((each, self._text("reference", each), False))
                pieces.append((each, spec.prompt[each], True))
            return [piece for piece in pieces if piece[1].strip()]
        if greeting and flow.greeting.get(lang):
            pieces.append((lang, flow.greeting[lang], False))
            pieces += self._offers(lang)
            if flow.warning.get(lang):
                pieces.append((lang, flow.warning[lang], True))
        if confirm and spec.confirm.get(lang):
            pieces.append((lang, spec.confirm[lang], True))
        if notice:
            pieces.append((lang, self._text(notice, lang), True))
        if spec.type in MENU_TYPES or spec.type == "entry":
            pieces.append((lang, (spec.reprompt if reprompt else spec.prompt)[lang], False))
            if spec.offer_language and not greeting:
                pieces += self._offers(lang)
        elif spec.type == "transfer":
            pieces += [
                (lang, spec.prompt[lang], False),
                (lang, self._text("reference", lang), False),
                (lang, self._text("transfer", lang), False),
            ]
        else:  # goodbye: the reference number before the last words
            pieces += [(lang, self._text("reference", lang), False), (lang, spec.prompt[lang], False)]
        return [piece for piece in pieces if piece[1].strip()]

    # -- building ----------------------------------------------------------------------------

    def _build(
        self,
        state: str,
        lang: str,
        notice: str | None,
        reprompt: bool,
        greeting: bool,
        confirm: bool,
    ) -> str:
        spec = self.flow.states[state]
        pieces = self.spoken_pieces(
            spec, lang, notice=notice, reprompt=reprompt, greeting=greeting, confirm=confirm
        )
        response = VoiceResponse()
        if spec.gather is not None:
            self._gather(response, spec, lang, pieces)
            return str(response)
        for piece in pieces:
            self._say(response, piece)
        if spec.type == "transfer":
            assert spec.desk is not None
            self._handover(response, spec.desk, lang)
        else:
            response.hangup()
        return str(response)

    def _build_static(self, kind: str, lang: str, name: str) -> str:
        response = VoiceResponse()
        if kind == "fallback":
            for each in self.flow.languages:
                self._say(response, (each, self._text("error", each), False))
            self._handover(response, "representative", lang)
        elif kind == "hold":
            self._say(response, (lang, self._text("hold", lang), False))
            response.pause(length=20)
        else:
            self._say(response, (lang, self._text(name, lang), False))
            response.hangup()
        return str(response)

    def _offers(self, lang: str) -> list[Piece]:
        """'Para español, oprima 9.' in Spanish, in an English call (and the other way round)."""
        offers = self.flow.messages.get("language_offer", {})
        return [
            (other, offers[other], False)
            for other in self.flow.languages
            if other != lang and offers.get(other)
        ]

    def _gather(self, response: VoiceResponse, spec: StateSpec, lang: str, pieces: list[Piece]) -> None:
        assert spec.gather is not None
        g = spec.gather
        action = f"{self.prefix}/input?step=@@step@@"
        attrs: dict[str, Any] = {
            "input": g.input,
            "action": action,
            "method": "POST",
            "timeout": g.timeout,
            "finish_on_key": g.finish_on_key,
            "action_on_empty_result": True,
        }
        if g.num_digits:
            attrs["num_digits"] = g.num_digits
        if "speech" in g.input:
            attrs["language"] = self.config.voices[lang][1]
            attrs["speech_timeout"] = "auto"
            attrs["barge_in"] = True  # a caller may speak over the prompt, as with keys
            hints = self.hints.get((spec.name, lang))
            if hints:
                attrs["hints"] = hints
        gather = Gather(**attrs)
        for piece in pieces:
            self._say(gather, piece)
        response.append(gather)
        # Reached only if a Gather ends without calling its action: treated as no input.
        response.redirect(f"{self.prefix}/input?step=@@step@@", method="POST")

    def _handover(self, response: VoiceResponse, desk: str, lang: str) -> None:
        after = f"{self.prefix}/after-transfer?lang={lang}"
        number = self.config.transfer_numbers.get(desk)
        if number:
            dial = Dial(action=after, method="POST", timeout=30)
            dial.number(number)
            response.append(dial)
        else:
            response.enqueue(
                f"sim-{desk}",
                wait_url=f"{self.prefix}/hold?lang={lang}",
                wait_url_method="POST",
                action=after,
                method="POST",
            )

    def _say(self, parent: VoiceResponse | Gather, piece: Piece) -> None:
        lang, text, beat = piece
        voice, language = self.config.voices[lang]
        parent.append(build_say(text, voice, language, rate=self.flow.pace.rate, beat=beat))

    def _text(self, name: str, lang: str) -> str:
        texts = self.flow.messages.get(name, {})
        return texts.get(lang) or texts.get(self.flow.languages[0], "")


def build_say(
    text: str, voice: str | None, language: str, *, rate: str | None = None, beat: bool = False
) -> Say:
    """One `<Say>` of a flow text, its markup as SSML; placeholders left as tokens to fill."""
    say = Say(voice=voice, language=language)
    body: Any = say.prosody(rate=rate) if rate else say
    # twilio's builder keeps only the last of two strings nested in a row (each one replaces
    # the text or tail before it), so adjacent text, and text placeholders, go in as one string.
    text_run: list[str] = []

    def flush() -> None:
        if text_run:
            body.nest("".join(text_run))
            text_run.clear()

    for segment in markup.parse(text):
        if isinstance(segment, markup.Text):
            text_run.append(segment.text)
            continue
        if isinstance(segment, markup.Slot) and PLACEHOLDERS[segment.name].spoken_as != "digits":
            text_run.append(f"@@{segment.name}@@")
            continue
        flush()
        if isinstance(segment, markup.SayAs):
            body.say_as(segment.value, interpret_as=segment.interpret_as, format=segment.format)
        elif isinstance(segment, markup.Pause):
            body.break_(time=segment.time)
        else:
            body.say_as(f"@@{segment.name}@@", interpret_as="digits")
    flush()
    if beat:
        body.break_(time=_BEAT)
    return say


def heard(text: str, lang: str, values: dict[str, str] | None = None) -> str:
    """The words a caller hears for a flow text; a placeholder without a value is '…'."""
    values = values or {}
    xml = fill(
        build_say(text, None, lang).to_xml(xml_declaration=False),
        0,
        {name: values.get(name, "…") for name in PLACEHOLDERS},
    )
    return spoken_text(ElementTree.fromstring(xml), lang)


def _says(template: str) -> tuple[ElementTree.Element, ...] | None:
    """A cached document's `<Say>` elements, parsed once (None if it is not XML). Read, never changed."""
    try:
        return tuple(ElementTree.fromstring(template).iter("Say"))
    except ElementTree.ParseError:
        return None


def document_words(twiml: str) -> str:
    """The words a caller hears from a TwiML document: every `<Say>`, as a voice reads it."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return ""
    return " ".join(spoken_text(say) for say in root.iter("Say"))


def fill(template: str, step: int, values: dict[str, str], *, as_xml: bool = True) -> str:
    """Put a call's step and placeholder values into a cached document (values XML-escaped), or,
    with `as_xml` off, into text already read out of one (values as they are heard)."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "step":
            return str(step)
        value = values.get(name, "")
        return escape(value) if as_xml else value

    return _TOKEN.sub(sub, template)
