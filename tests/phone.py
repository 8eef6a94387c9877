"""The lines' numbers, and the real simulated caller (ivr.sim) with the views tests look at.

No TwiML is run here: `Phone` is `SimulatedCall` over `WsgiTransport`, failing the test at the
first step that went wrong, plus read-only views of the last TwiML document it was answered.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from flask import Flask

from ivr.sim import SimulatedCall, WsgiTransport
from ivr.sim.twiml_rules import validate_twiml

MAIN = "+18002372765"
SPECIALTY = "+18006734828"
TTY = "+18007114041"
CALLER = "+15551230000"
#: Requests whose answer is a TwiML document the call runs (not a hold loop or a status).
_DOCUMENTS = ("voice", "action", "redirect", "fallback")


class Phone(SimulatedCall):
    """One call to an app in this process; every step must be answered with valid TwiML."""

    def __init__(
        self, app: Flask, to: str = MAIN, *, caller: str = CALLER, sid: str | None = None, **options: Any
    ) -> None:
        super().__init__(WsgiTransport(app), to, caller=caller, call_sid=sid, **options)

    def reach(self, app: Flask) -> Phone:
        """Go on with the call on another app (a restarted worker, a second host)."""
        self.transport = WsgiTransport(app)
        return self

    # -- what a caller does, each step checked ----------------------------------------------

    def dial(self) -> Phone:
        super().dial()
        return self._checked()

    def press(self, keys: str) -> Phone:
        super().press(keys)
        return self._checked()

    def say(self, words: str, confidence: float = 0.92) -> Phone:
        super().say(words, confidence)
        return self._checked()

    def silence(self) -> Phone:
        super().silence()
        return self._checked()

    def hangup(self) -> Phone:
        super().hangup()
        return self

    def walk(self, *keys: str) -> Phone:
        for key in keys:
            self.press(key)
        return self

    def act(self, action: str) -> Phone:
        """One caller action written as text: keys, 'say <words>', or '' for silence."""
        if action.startswith("say "):
            return self.say(action[4:])
        return self.press(action) if action else self.silence()

    # -- what the app answered --------------------------------------------------------------

    @property
    def sid(self) -> str:
        return self.call_sid

    @property
    def history(self) -> list[str]:
        """Every TwiML document the call was answered, in order."""
        return [s.twiml for s in self.transcript.steps if s.kind in _DOCUMENTS]

    @property
    def root(self) -> ElementTree.Element:
        """The last TwiML document, parsed (and checked against Twilio's grammar)."""
        return validate_twiml(self.history[-1])

    @property
    def status_code(self) -> int:
        """The HTTP status of the last request (the status callback's, once the call ended)."""
        return self.transcript.steps[-1].status

    @property
    def says(self) -> list[ElementTree.Element]:
        return list(self.root.iter("Say"))

    @property
    def languages(self) -> set[str]:
        return {s.attrib["language"] for s in self.says}

    @property
    def enqueue(self) -> ElementTree.Element | None:
        return self.root.find("Enqueue")

    @property
    def hung_up(self) -> bool:
        return self.root.find("Hangup") is not None

    @property
    def action(self) -> str:
        gather = self.gather
        assert gather is not None, f"the call is not waiting for input: {self.history[-1]}"
        return gather.attrib["action"]

    def _checked(self) -> Phone:
        failed = [s for s in self.transcript.steps if s.error]
        assert not failed, self.transcript.render()
        return self
