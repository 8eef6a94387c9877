"""What a simulated call leaves behind: each request, its TwiML, what was heard and the outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .twilio_errors import describe


@dataclass(frozen=True)
class Heard:
    """One thing the caller heard: spoken text (with voice and language), a sound, or silence."""

    kind: str  # say | play | pause | digits
    text: str
    voice: str | None = None
    language: str | None = None


def main_language(heard: list[Heard]) -> str | None:
    """The language most of these words were spoken in (an app may end a menu with a short
    offer in another language, "Para español, oprima 9", which does not make the call Spanish);
    a tie goes to the later language."""
    words: dict[str, int] = {}
    for item in heard:
        if item.kind == "say" and item.language:
            words[item.language] = words.pop(item.language, 0) + len(item.text.split())
    return max(reversed(list(words)), key=lambda lang: words[lang]) if words else None


@dataclass(frozen=True)
class Outcome:
    """How the call ended: hangup, reject, dial, enqueue, completed (ran out of TwiML), error."""

    kind: str
    target: str | None = None
    detail: str | None = None
    #: For an error: Twilio's error code (11200, 12100, ...) and the URL that failed. Left out
    #: of comparisons, so `Outcome("error", detail=...)` still equals the outcome of a call.
    code: str | None = field(default=None, compare=False)
    url: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass
class Step:
    """One webhook request of a call, as a transcript shows it."""

    index: int
    kind: str  # voice | action | redirect | wait | fallback | status | dial-status | ...
    method: str
    url: str
    fields: dict[str, str]
    input: str | None = None
    status: int = 0
    twiml: str = ""
    heard: list[Heard] = field(default_factory=list)
    state: str | None = None
    trigger: str | None = None
    language: str | None = None
    at: float = 0.0  # virtual seconds since the call started
    elapsed_ms: float = 0.0  # real time the webhook took
    error: str | None = None
    code: str | None = None  # Twilio's error code when this request failed (ivr.sim.twilio_errors)
    content_type: str = ""  # of the reply

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Leg:
    """One leg a <Dial> placed to a <Number>, <Client> or <Sip> (or a number as text): who it
    rang, its CallSid, how it ended, and the digits sent to the far end (<Number sendDigits>)."""

    target: str
    sid: str
    status: str = "initiated"  # initiated, ringing, in-progress, then completed, busy, ...
    duration: int = 0
    digits_sent: str | None = None


@dataclass
class Transcript:
    """Every step of one call, and how it ended."""

    call_sid: str
    to: str
    steps: list[Step] = field(default_factory=list)
    outcome: Outcome | None = None
    legs: list[Leg] = field(default_factory=list)  # the legs its <Dial>s placed, in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "to": self.to,
            "outcome": asdict(self.outcome) if self.outcome else None,
            "steps": [s.to_dict() for s in self.steps],
            "legs": [asdict(leg) for leg in self.legs],
        }

    def render(self) -> str:
        """A readable transcript, one block per step, for reports of failing calls."""
        lines = [f"call {self.call_sid} to {self.to}"]
        for step in self.steps:
            head = f"[{step.at:7.1f}s] {step.method} {step.url} -> {step.status}"
            if step.input is not None:
                head += f"  input: {step.input}"
            if step.state:
                head += f"  state: {step.state}"
            lines.append(head)
            for heard in step.heard:
                if heard.kind == "say":
                    lines.append(f"    heard ({heard.language or '?'}): {heard.text}")
                elif heard.kind != "pause":
                    lines.append(f"    {heard.kind}: {heard.text}")
            if step.error:
                code = f"{describe(step.code)}: " if step.code else ""
                lines.append(f"    error: {code}{step.error}")
        for leg in self.legs:
            sent = f", sent digits {leg.digits_sent}" if leg.digits_sent else ""
            lines.append(f"dialled {leg.target} ({leg.sid}): {leg.status}{sent}")
        lines.append(f"outcome: {self.outcome or 'in progress'}")
        return "\n".join(lines)
