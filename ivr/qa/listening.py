"""What a caller hears of a state, `<Say>` by `<Say>`, and how many seconds it takes to hear.

Documents are rendered by the engine's own Renderer and heard through `ivr.ssml.spoken`, so the
lint measures the words a caller hears (say-as digits one by one, breaks as silence), never the
flow file's markup. Seconds come from a speaking rate, or from espeak-ng's own durations:

    hearing = Hearing(flow)
    doc = hearing.document("main_menu", "en", greeting=True)
    timer = Timer(150 * 0.85, measure="auto")
    timer.listen(doc, "1")   # seconds until the end of the sentence that names key 1
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

from ivr.engine.config import EngineConfig
from ivr.engine.flow import Flow, StateSpec
from ivr.engine.placeholders import PLACEHOLDERS
from ivr.engine.render import Piece, Renderer
from ivr.engine.speech import SpeechTable
from ivr.engine.ssml import spoken
from ivr.qa.crawl.prompts import mentioned_keys

MEASURES = ("auto", "espeak", "words")
ESPEAK = "espeak-ng"
#: espeak-ng pauses at every comma and full stop, so at `-s N` it reads our prompts at about
#: 0.8 N words a minute (the main menu: 38 words in 19.4 s at -s 150). Run at 1.2 x the stated
#: rate, it reads them at 145-160 words a minute, as Polly does (measured: 148 en, 159 es).
ESPEAK_SPEED_FACTOR = 1.2
_VOICES = {"en": "en-us", "es": "es-419"}
_SENTENCES = re.compile(r"(?<=[.;!?])\s+")
#: Sample values for per-call placeholders: digits are read one by one, text is a sentence.
_SAMPLE_DIGITS = "12345678"
_SAMPLE_TEXT = {
    "en": "Your order shipped on Monday and should arrive on Thursday.",
    "es": "Su pedido salió el lunes y debería llegar el jueves.",
}
_SAMPLES = {"rx_last4": "4321"}


@dataclass(frozen=True)
class Said:
    """One `<Say>` as heard: its language, the flow field it speaks, its words and silence.

    state is None for the line's own texts (greeting, warning, messages).
    """

    lang: str
    state: str | None
    field: str
    text: str
    pause: float

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def sentences(self) -> list[str]:
        return [s for s in _SENTENCES.split(self.text) if s.strip()]


Document = tuple[Said, ...]


class Hearing:
    """Renders one flow's documents as the engine does and hears each `<Say>` of them."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.renderer = Renderer(flow, EngineConfig(), SpeechTable(flow).hints)
        self._documents: dict[tuple[str, str, bool, bool, bool, str | None], Document] = {}

    def document(
        self,
        state: str,
        lang: str,
        *,
        greeting: bool = False,
        confirm: bool = False,
        reprompt: bool = False,
        notice: str | None = None,
    ) -> Document:
        """The `<Say>`s of a state's document: greeting (the call's first words), confirm (the
        caller arrived by a key), reprompt (after a failed try, with its notice message)."""
        key = (state, lang, greeting, confirm, reprompt, notice)
        if key not in self._documents:
            spec = self.flow.states[state]
            pieces = self.renderer.spoken_pieces(
                spec, lang, reprompt=reprompt, greeting=greeting, confirm=confirm, notice=notice
            )
            twiml = self.renderer.state(
                spec,
                lang,
                step=0,
                values=sample_values(lang),
                notice=notice,
                reprompt=reprompt,
                greeting=greeting,
                confirm=confirm,
            ).twiml
            where = [self._field(spec, piece, reprompt) for piece in pieces]
            self._documents[key] = _heard(twiml, where)
        return self._documents[key]

    def message(self, lang: str, name: str) -> Document:
        """A flow message as heard on its own (notices, hold, ended, ...)."""
        twiml = self.renderer.message(lang, name)
        texts = self.flow.messages.get(name, {})
        own = lang if texts.get(lang) else self.flow.languages[0]
        return _heard(twiml, [(None, f"messages.{name}.{own}")])

    def _field(self, spec: StateSpec, piece: Piece, reprompt: bool) -> tuple[str | None, str]:
        """Which field of the flow file a piece of a document speaks."""
        lang, text, _ = piece
        own = (
            (("reprompt", spec.reprompt), ("prompt", spec.prompt))
            if reprompt
            else (("prompt", spec.prompt), ("reprompt", spec.reprompt))
        )
        for name, texts in (*own, ("confirm", spec.confirm)):
            if texts.get(lang) == text:
                return spec.name, f"{name}.{lang}"
        flow = self.flow
        for name, texts in (("greeting", flow.greeting), ("warning", flow.warning)):
            if texts.get(lang) == text:
                return None, f"{name}.{lang}"
        for name, by_lang in flow.messages.items():
            for each, message in by_lang.items():
                if message == text:
                    return None, f"messages.{name}.{each}"
        return spec.name, f"prompt.{lang}"


def sample_values(lang: str) -> dict[str, str]:
    """A value for every placeholder: digits read one by one, text a sentence in `lang`."""
    text = _SAMPLE_TEXT.get(lang, _SAMPLE_TEXT["en"])
    return {
        name: _SAMPLES.get(name, _SAMPLE_DIGITS if p.spoken_as == "digits" else text)
        for name, p in PLACEHOLDERS.items()
    }


def _heard(twiml: str, where: list[tuple[str | None, str]]) -> Document:
    """Each `<Say>` of a document with the field it came from (the renderer makes one per piece)."""
    root = ElementTree.fromstring(twiml)
    says = [el for el in root.iter() if el.tag == "Say"]
    out: list[Said] = []
    for index, say in enumerate(says):
        heard = spoken(say)
        lang = (say.get("language") or "en")[:2].lower()
        state, field = where[index] if index < len(where) else (None, "?")
        out.append(Said(lang, state, field, heard.text, heard.pause_seconds))
    return tuple(out)


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


class Timer:
    """Seconds of speech: words at a speaking rate, or espeak-ng's durations at that rate.

    measure: `words`, `espeak` (espeak-ng must be installed) or `auto` (espeak when installed).
    """

    def __init__(self, words_per_minute: float, measure: str = "auto") -> None:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}")
        self.words_per_minute = words_per_minute
        if measure == "espeak" and not espeak_available():
            raise ValueError(f"measuring with espeak needs {ESPEAK} on PATH")
        use_espeak = measure == "espeak" or (measure == "auto" and espeak_available())
        self.method = "espeak" if use_espeak else "words"

    def speech(self, lang: str, text: str) -> float:
        """Seconds to say `text` (no SSML silence)."""
        if not text.split():
            return 0.0
        if self.method == "espeak":
            speed = round(self.words_per_minute * ESPEAK_SPEED_FACTOR)
            return _espeak_seconds(_VOICES.get(lang, lang), speed, text)
        return len(text.split()) * 60 / self.words_per_minute

    def said(self, said: Said) -> float:
        """Seconds of one `<Say>`, its breaks included."""
        return sum(self.speech(said.lang, s) for s in said.sentences) + said.pause

    def document(self, doc: Document) -> float:
        return sum(self.said(said) for said in doc)

    def listen(self, doc: Document, key: str | None) -> float:
        """Seconds a caller listens before pressing `key`: up to the end of the first sentence
        that names it (barge-in), or the whole document when nothing names it."""
        total = 0.0
        for said in doc:
            heard_words = 0
            for sentence in said.sentences:
                total += self.speech(said.lang, sentence)
                heard_words += len(sentence.split())
                if key is not None and key in mentioned_keys(sentence):
                    return total + said.pause * heard_words / max(said.words, 1)
            total += said.pause
        return total


@lru_cache(maxsize=8192)
def _espeak_seconds(voice: str, words_per_minute: int, text: str) -> float:
    """espeak-ng's duration of `text`, read off the header of the WAV file it writes."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "said.wav"
        subprocess.run(
            [ESPEAK, "-v", voice, "-s", str(words_per_minute), "-w", str(wav), "--stdin"],
            input=text.encode("utf-8"),
            check=True,
            capture_output=True,
            timeout=30,
        )
        with wave.open(str(wav), "rb") as audio:
            return audio.getnframes() / float(audio.getframerate())
