"""Calls placed from the trainer page, kept in the session store between clicks.

A page call is a simulated caller (ivr.SimulatedCall) that posts to this app's own webhooks.
Between two clicks it is put away as plain data in the store (`SessionStore.page_call`): the
caller's `snapshot()` (what it is waiting for, its virtual clock...), the keys collected so far,
the last lines it heard and its line. Any worker of any host on the same store takes it up for
the next click (`SimulatedCall.resume`), under a lock held across processes for the length of
the click, so two clicks on one call never interleave. A page call is only ever waiting at a
`<Gather>` or ended, so it can always be kept: it reaches our own app, whose transfers end the
call (the caller's own switch parks nobody).

Bounded: a call keeps its last `MAX_LINES` transcript lines, a line at most `max_per_line` live
page calls (LineFull, a 429), and an idle call expires after `ttl` seconds and is hung up.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ivr import (
    EXIT_BAD_INPUT,
    PHONE_KEYS,
    TRAINER_CALL_TTL,
    Flow,
    IvrError,
    Outcome,
    PageCall,
    SessionStore,
    Signer,
    SimulatedCall,
    SimulationError,
    Step,
    Transport,
)

log = logging.getLogger(__name__)

MAX_KEYS = 64
MAX_WORDS = 200
#: Transcript lines a page call keeps (the oldest go first); a reply never grows past them.
MAX_LINES = 200
#: Live page calls a line may have at once, across every worker sharing the store.
MAX_PER_LINE = 100
_VERSION = 1


class InputError(IvrError, ValueError):
    """Input the page sent that no phone could send: say what is wrong and what is allowed."""

    exit_code = EXIT_BAD_INPUT


class LineFull(IvrError):
    """A line has as many live page calls as the store keeps: answered with 429."""


class PageCallGone(IvrError):
    """The page call is not (or no longer) in the store: answered with 404."""


@dataclass
class LiveCall:
    """One page call during one click: the caller, the keys it is collecting, its transcript.

    A menu takes one key and answers at once; an entry (a member ID, a date of birth) collects
    keys until its finish key or its number of digits, as Twilio's <Gather> does.
    """

    sim: SimulatedCall
    line: str
    flow: Flow
    clock: str | None = None
    pending: str = ""
    started_at: float = 0.0
    #: The last MAX_LINES transcript lines, numbered from the start of the call (`n`).
    lines: list[dict[str, Any]] = field(default_factory=list)
    next_line: int = 0
    #: Where the transcript was: the language and state the next lines continue from.
    lang: str | None = None
    state: str | None = None
    _seen: int = 0  # steps of `sim.transcript` already in `lines`

    @property
    def call_sid(self) -> str:
        return self.sim.call_sid

    @property
    def omitted(self) -> int:
        """Lines dropped from the start of the transcript to keep it bounded."""
        return self.next_line - len(self.lines)

    def dial(self) -> None:
        self.sim.dial()
        self._absorb()

    def press(self, keys: str) -> None:
        """Press keys; they are sent when the Gather would send them, else kept as pending."""
        if not keys or len(keys) > MAX_KEYS or any(k not in PHONE_KEYS for k in keys):
            raise InputError(
                f"{keys[:MAX_KEYS]!r} is not a sequence of phone keys: send 1 to {MAX_KEYS} of 0-9, * and #"
            )
        gather = self._gather("press keys")
        collected = self.pending + keys
        if len(collected) > MAX_KEYS:
            raise InputError(f"at most {MAX_KEYS} keys can wait for the finish key; press # or stay silent")
        if _complete(
            gather.get("input", "dtmf"), gather.get("numDigits"), gather.get("finishOnKey", "#"), collected
        ):
            self.pending = ""
            self.sim.press(collected)
        else:
            self.pending = collected
        self._absorb()

    def say(self, words: str) -> None:
        text = " ".join(words.split())
        if not text or len(text) > MAX_WORDS:
            raise InputError(f"say between 1 and {MAX_WORDS} characters of words, e.g. 'billing'")
        self._gather("speak")
        self.pending = ""
        self.sim.say(text)
        self._absorb()

    def silence(self) -> None:
        """Let the Gather time out: Twilio then sends the keys collected so far, or nothing."""
        self._gather("stay silent")
        collected, self.pending = self.pending, ""
        if collected:
            self.sim.press(collected)  # no finish key: the simulator waits out the timeout
        else:
            self.sim.silence()
        self._absorb()

    def hangup(self) -> None:
        self.pending = ""
        self.sim.hangup()
        self._absorb()

    def _gather(self, action: str) -> dict[str, str]:
        gather = self.sim.gather
        if self.sim.ended or gather is None:
            raise SimulationError(f"cannot {action}: the call has ended ({self.sim.outcome})")
        return dict(gather.attrib)

    # -- the transcript --------------------------------------------------------------------

    def _absorb(self) -> None:
        """Turn the steps the caller took since the last look into transcript lines."""
        steps = self.sim.transcript.steps
        for step in steps[self._seen :]:
            if step.kind not in ("status", "resumed"):
                self._step_lines(step)
        self._seen = len(steps)
        if self.sim.outcome is not None and not any(e.get("ended") for e in self.lines[-1:]):
            self._add({"who": "system", "text": f"call ended: {sim_outcome(self.sim.outcome)}", "lang": None})
            self.lines[-1]["ended"] = True
        del self.lines[: max(len(self.lines) - MAX_LINES, 0)]

    def _step_lines(self, step: Step) -> None:
        state = self.state
        if step.input is not None:
            spec = self.flow.states.get(state or "")
            shown = _masked(step.input) if spec is not None and spec.secret else _caller(step.input)
            self._add({"who": "caller", "text": shown, "lang": self.lang, "state": state})
        for heard in step.heard:
            if heard.kind == "say":
                self.lang = heard.language or self.lang
                self._add(
                    {"who": "ivr", "text": heard.text, "lang": heard.language, "state": step.state or state}
                )
            elif heard.kind in ("play", "digits"):
                text = f"({heard.kind}: {heard.text})"
                self._add(
                    {"who": "ivr", "text": text, "lang": None, "state": step.state or state, "sound": True}
                )
        if step.error:
            self._add({"who": "system", "text": f"error: {step.error}", "lang": None})
        self.state = step.state or state

    def _add(self, entry: dict[str, Any]) -> None:
        entry["n"] = self.next_line
        self.next_line += 1
        self.lines.append(entry)

    # -- kept between clicks ---------------------------------------------------------------

    def to_json(self, keystream: Keystream) -> str:
        """The call as kept between clicks; the keys collected so far sealed with `keystream`
        (they may be part of a member ID or a date of birth: never in clear in the store)."""
        return json.dumps(
            {
                "v": _VERSION,
                "line": self.line,
                "clock": self.clock,
                "pending": _seal(self.pending, keystream),
                "started_at": self.started_at,
                "lines": self.lines,
                "next_line": self.next_line,
                "lang": self.lang,
                "state": self.state,
                "sim": self.sim.snapshot(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(
        cls,
        text: str,
        call_sid: str,
        flow: Flow,
        transport: Transport,
        signer: Signer | None,
        keystream: Keystream,
    ) -> LiveCall:
        data = json.loads(text)
        if data.get("v") != _VERSION:
            raise PageCallGone(f"page call {call_sid} was kept by another version of the trainer")
        sim = SimulatedCall.resume(transport, call_sid, data["sim"], signer)
        return cls(
            sim=sim,
            line=data["line"],
            flow=flow,
            clock=data["clock"],
            pending=_unseal(data["pending"], keystream),
            started_at=data["started_at"],
            lines=data["lines"],
            next_line=data["next_line"],
            lang=data["lang"],
            state=data["state"],
            _seen=len(sim.transcript.steps),
        )


#: Bytes of a keystream for `purpose` and a nonce: the app's keyed hash (its key is not in the store).
Keystream = Callable[[str, str], str]
_KEYS = "".join(PHONE_KEYS)


def _seal(keys: str, keystream: Keystream) -> dict[str, str]:
    """Phone keys sealed with a one-time pad drawn from the keyed hash of a fresh nonce."""
    nonce = secrets.token_hex(8)
    pad = _pad(keystream, nonce, len(keys))
    return {
        "nonce": nonce,
        "keys": "".join(_KEYS[(_KEYS.index(k) + p) % len(_KEYS)] for k, p in zip(keys, pad, strict=True)),
    }


def _unseal(sealed: dict[str, str], keystream: Keystream) -> str:
    keys = sealed["keys"]
    pad = _pad(keystream, sealed["nonce"], len(keys))
    return "".join(_KEYS[(_KEYS.index(k) - p) % len(_KEYS)] for k, p in zip(keys, pad, strict=True))


def _pad(keystream: Keystream, nonce: str, length: int) -> list[int]:
    out: list[int] = []
    block = 0
    while len(out) < length:
        out += bytes.fromhex(keystream("page-pending-keys", f"{nonce}:{block}")[:64])
        block += 1
    return out[:length]


def _complete(inputs: str, num_digits: str | None, finish: str, keys: str) -> bool:
    """Say whether Twilio would send `keys` now rather than wait for more."""
    if "dtmf" not in inputs.split():
        return True  # the simulator turns keys at a speech-only Gather into no input
    limit = int(num_digits) if num_digits and num_digits.isdigit() else 0
    if finish and finish in keys:
        return True
    return bool(limit) and len(keys) >= limit


def _caller(shown: str) -> str:
    if shown.startswith("keys "):
        return "pressed " + shown[5:]
    if shown == "silence":
        return "silence (no input)"
    if shown.startswith("said "):
        # The simulator writes said 'words' (a repr); call records write said "words".
        words = shown[5:]
        if len(words) >= 2 and words[0] == words[-1] and words[0] in "'\"":
            return f'said "{words[1:-1]}"'
    return shown


def _masked(shown: str) -> str:
    if shown.startswith("keys "):
        digits = sum(c.isdigit() for c in shown[5:])
        return f"entered [{digits} digits hidden]"
    if shown.startswith("said "):
        return "said [hidden]"
    return _caller(shown)


def sim_outcome(outcome: Outcome) -> str:
    """How a page call ended, in words: 'transferred to a representative', 'the caller hung up'."""
    if outcome.kind == "enqueue":
        target = outcome.target or ""
        desk = target.removeprefix("sim-").replace("_", " ").replace("-", " ")
        return f"transferred to the {desk} queue" if desk else "transferred to a queue"
    labels = {
        "dial": "transferred to",
        "hangup": "the IVR hung up",
        "caller-hangup": "the caller hung up",
        "completed": "completed",
        "reject": "rejected",
        "error": "error",
    }
    label = labels.get(outcome.kind, outcome.kind)
    extra = outcome.target or outcome.detail
    return f"{label} {extra}" if extra else label


# -- the registry: page calls in the store -----------------------------------------------------


class PageCalls:
    """The page calls of every worker sharing `store`: placed, taken up per click, expired."""

    def __init__(
        self,
        store: SessionStore,
        keystream: Keystream,
        *,
        ttl: float = TRAINER_CALL_TTL,
        max_per_line: int = MAX_PER_LINE,
    ) -> None:
        self.store = store
        self.keystream = keystream
        self.ttl = ttl
        self.max_per_line = max_per_line

    def start(self, sim: SimulatedCall, line: str, flow: Flow, clock: str | None) -> LiveCall:
        """Place a call: reserve its room on the line (LineFull when there is none), then dial."""
        now = time.time()
        live = LiveCall(sim, line, flow, clock=clock, started_at=now)
        with self.store.page_call(sim.call_sid, now) as slot:
            if not slot.put(self._kept(live, now), now=now, limit=self.max_per_line):
                raise LineFull(
                    f"line {line!r} already has {self.max_per_line} live page calls, the most the "
                    "trainer keeps: hang some up, or wait until idle ones expire "
                    f"({int(self.ttl // 60)} minutes without a click)"
                )
            try:
                live.dial()
            finally:
                slot.put(self._kept(live, time.time()), now=time.time())
        return live

    @contextmanager
    def use(
        self,
        call_sid: str,
        flows: dict[str, Flow],
        transport: Transport,
        signer: Signer | None,
        *,
        write: bool = True,
    ) -> Iterator[LiveCall]:
        """Take a page call up for one click (locked), and put it back afterwards.

        PageCallGone when the store does not have it (never placed, or forgotten), or it had
        expired: an expired call that was still up is hung up first, as a real caller would.
        An error in the click puts nothing back, so the call stays as it was before it.
        """
        now = time.time()
        with self.store.page_call(call_sid, now) as slot:
            kept = slot.page_call
            if kept is not None and kept.line not in flows:
                slot.drop()  # its line is gone from the flows: nothing can take it up
                kept = None
            if kept is None:
                raise PageCallGone(
                    f"call {call_sid} is not a live page call: it was never placed from this page, "
                    "or it ended and was forgotten. Calls from a phone can be watched but not driven"
                )
            live = LiveCall.from_json(
                kept.data, call_sid, flows[kept.line], transport, signer, self.keystream
            )
            if kept.expires_at < now:
                if not live.sim.ended:
                    live.hangup()
                slot.drop()
                raise PageCallGone(
                    f"call {call_sid} was idle for more than {int(self.ttl // 60)} minutes and was hung up"
                )
            yield live
            if write:
                slot.put(self._kept(live, time.time()), now=time.time())

    def live_sids(self, line: str | None = None) -> set[str]:
        return {p.call_sid for p in self.store.page_calls(line, time.time())}

    def kept_sids(self, lines: list[str]) -> set[str]:
        """The page calls the store keeps on these lines, ended ones too (until they expire)."""
        now = time.time()
        return {p.call_sid for line in lines for p in self.store.page_calls(line, now, ended=True)}

    def sweep(self, flows: dict[str, Flow], transport: Transport, signer: Signer | None) -> int:
        """Hang up page calls that expired while up (a closed tab, a trainee gone home)."""
        swept = 0
        for page in self.store.expired_page_calls(time.time()):
            try:
                with self.use(page.call_sid, flows, transport, signer):
                    pass
            except PageCallGone:
                swept += 1
            except Exception:  # noqa: BLE001 - a failed goodbye must not break the next request
                log.warning("could not hang up expired page call %s", page.call_sid, exc_info=True)
        return swept

    def _kept(self, live: LiveCall, now: float) -> PageCall:
        return PageCall(
            live.call_sid, live.line, live.to_json(self.keystream), live.sim.ended, now + self.ttl
        )
