"""A test phone: posts what Twilio posts, validates every answer, and keeps what was heard."""

from __future__ import annotations

import itertools
from typing import Any
from xml.etree import ElementTree

from flask.testing import FlaskClient

from ivr.ssml import spoken_text
from ivr.twiml_rules import validate_twiml

MAIN = "+18002372765"
SPECIALTY = "+18006734828"
TTY = "+18007114041"
_sids = itertools.count(1)


class Phone:
    """One call against the app; each step parses and validates the TwiML it gets back."""

    def __init__(
        self, client: FlaskClient, to: str = MAIN, caller: str = "+15551230000",
        sid: str | None = None, headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.client = client
        self.to = to
        self.caller = caller
        self.sid = sid or f"CA{next(_sids):032x}"
        self.headers = headers or {}
        self.root: ElementTree.Element | None = None
        self.history: list[str] = []
        self.status_code = 0

    # -- what a caller does ----------------------------------------------------------------

    def dial(self) -> Phone:
        return self._post("/voice", {})

    def press(self, keys: str) -> Phone:
        return self._post(self.action, {"Digits": keys})

    def say(self, words: str, confidence: str = "0.92") -> Phone:
        return self._post(self.action, {"SpeechResult": words, "Confidence": confidence})

    def silence(self) -> Phone:
        return self._post(self.action, {})

    def act(self, action: str) -> Phone:
        """One caller action written as text: keys, 'say <words>', or '' for silence."""
        if action.startswith("say "):
            return self.say(action[4:])
        return self.press(action) if action else self.silence()

    def walk(self, *keys: str) -> Phone:
        for key in keys:
            self.press(key)
        return self

    def hangup(self, status: str = "completed") -> int:
        response = self.client.post(
            "/voice/status", data={**self._fields(), "CallStatus": status, "CallDuration": "42"},
            headers=self.headers,
        )  # fmt: skip
        return response.status_code

    # -- what a caller hears ---------------------------------------------------------------

    @property
    def says(self) -> list[ElementTree.Element]:
        assert self.root is not None
        return list(self.root.iter("Say"))

    @property
    def heard(self) -> str:
        """The words of every <Say>, SSML spoken as a voice says it (ivr.ssml)."""
        return " ".join(spoken_text(s) for s in self.says)

    @property
    def gather(self) -> ElementTree.Element | None:
        assert self.root is not None
        return self.root.find("Gather")

    @property
    def action(self) -> str:
        gather = self.gather
        assert gather is not None, f"the call is not waiting for input: {self.history[-1]}"
        return gather.attrib["action"]

    @property
    def enqueue(self) -> ElementTree.Element | None:
        assert self.root is not None
        return self.root.find("Enqueue")

    @property
    def hung_up(self) -> bool:
        assert self.root is not None
        return self.root.find("Hangup") is not None

    @property
    def languages(self) -> set[str]:
        return {s.attrib["language"] for s in self.says}

    def _fields(self) -> dict[str, str]:
        return {
            "CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.caller,
            "To": self.to, "Caller": self.caller, "Called": self.to,
            "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01",
        }  # fmt: skip

    def _post(self, url: str, extra: dict[str, Any]) -> Phone:
        response = self.client.post(url, data={**self._fields(), **extra}, headers=self.headers)
        self.status_code = response.status_code
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        text = response.get_data(as_text=True)
        self.root = validate_twiml(text)
        self.history.append(text)
        return self
