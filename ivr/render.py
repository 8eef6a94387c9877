"""A state's TwiML, built with twilio's VoiceResponse once per variant and filled per call."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from .config import EngineConfig
from .flow import Flow, StateSpec

#: Tokens stand in for what varies per call, so the rest of the document is built only once.
_TOKEN = re.compile(r"@@(step|reference|rx_last4|order_status)@@")
_PLACEHOLDER = re.compile(r"\{(reference|rx_last4|order_status)\}")


def speak_digits(value: str) -> str:
    """Spell a number digit by digit in groups of four, so a voice reads '4 8 2 1, 9 3 0 7'."""
    digits = [c for c in value if c.isalnum()]
    groups = ["".join(digits[i : i + 4]) for i in range(0, len(digits), 4)]
    return ", ".join(" ".join(group) for group in groups)


def _tokens(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f"@@{m.group(1)}@@", text)


class Renderer:
    """Renders one flow's states; every document is cached by its variant."""

    def __init__(self, flow: Flow, config: EngineConfig, hints: dict[tuple[str, str], str]) -> None:
        self.flow = flow
        self.config = config
        self.hints = hints
        self.prefix = config.url_prefix
        self._cached = lru_cache(maxsize=4096)(self._template)
        # Documents with nothing of the call in them are built once per language.
        self.message = lru_cache(maxsize=64)(self.message)  # type: ignore[method-assign]
        self.hold = lru_cache(maxsize=8)(self.hold)  # type: ignore[method-assign]
        self.fallback = lru_cache(maxsize=1)(self.fallback)  # type: ignore[method-assign]

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
    ) -> str:
        """Return the TwiML a caller gets on entering (or staying in) `spec`."""
        template = self._cached(spec.name, lang, notice, reprompt, greeting)
        return self._fill(template, step, values)

    def message(self, lang: str, name: str) -> str:
        """A spoken flow message followed by a hang-up (used for calls that already ended)."""
        response = VoiceResponse()
        self._say(response, self._text("messages", name, lang), lang)
        response.hangup()
        return str(response)

    def hold(self, lang: str) -> str:
        """The wait-URL document played to a caller in the simulated queue."""
        response = VoiceResponse()
        self._say(response, self._text("messages", "hold", lang), lang)
        response.pause(length=20)
        return str(response)

    def fallback(self) -> str:
        """An apology in every language of the flow, then a representative; no call state."""
        response = VoiceResponse()
        for lang in self.flow.languages:
            self._say(response, self._text("messages", "error", lang), lang)
        self._handover(response, "representative", self.flow.languages[0])
        return str(response)

    def error_transfer(self, lang: str, reference: str) -> str:
        """What a caller hears when the engine itself failed: an apology and a representative."""
        response = VoiceResponse()
        self._say(response, self._text("messages", "error", lang), lang)
        if reference:
            text = self._text("messages", "reference", lang)
            self._say(response, text.replace("{reference}", speak_digits(reference)), lang)
        self._handover(response, "representative", lang)
        return str(response)

    # -- building ----------------------------------------------------------------------------

    def _template(
        self, state: str, lang: str, notice: str | None, reprompt: bool, greeting: bool
    ) -> str:
        spec = self.flow.states[state]
        response = VoiceResponse()
        spoken: list[str] = []
        if greeting and self.flow.greeting.get(lang):
            spoken.append(self.flow.greeting[lang])
        if notice:
            spoken.append(self._text("messages", notice, lang))
        if spec.type in ("menu", "entry"):
            assert spec.gather is not None
            spoken.append((spec.reprompt if reprompt else spec.prompt)[lang])
            self._gather(response, spec, lang, spoken)
            return str(response)
        reference = self._text("messages", "reference", lang)
        if spec.type == "transfer":
            spoken += [spec.prompt[lang], reference, self._text("messages", "transfer", lang)]
        else:  # goodbye and closed: the reference number before the last words
            spoken += [reference, spec.prompt[lang]]
        for text in spoken:
            self._say(response, _tokens(text), lang)
        if spec.type == "transfer":
            assert spec.desk is not None
            self._handover(response, spec.desk, lang)
        else:
            response.hangup()
        return str(response)

    def _gather(self, response: VoiceResponse, spec: StateSpec, lang: str, spoken: list[str]) -> None:
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
            hints = self.hints.get((spec.name, lang))
            if hints:
                attrs["hints"] = hints
        gather = Gather(**attrs)
        for text in spoken:
            self._say(gather, _tokens(text), lang)
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

    def _say(self, parent: VoiceResponse | Gather, text: str, lang: str) -> None:
        voice, language = self.config.voices[lang]
        parent.say(text, voice=voice, language=language)

    def _text(self, table: str, name: str, lang: str) -> str:
        texts = self.flow.messages.get(name, {})
        return texts.get(lang) or texts.get(self.flow.languages[0], "")

    @staticmethod
    def _fill(template: str, step: int, values: dict[str, str]) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "step":
                return str(step)
            value = values.get(name, "")
            if name in ("reference", "rx_last4"):
                value = speak_digits(value)
            return escape(value)

        return _TOKEN.sub(sub, template)
