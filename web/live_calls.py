"""Calls placed from the trainer page: simulated callers kept in memory between clicks.

Live page calls belong to the process serving the page. A `SimulatedCall` (what the caller is
waiting for, the keys collected so far, what was heard) lives in this process's memory, so run
the trainer with one worker (`make run`, or `gunicorn -w 1 --threads 8`): another worker would
answer 404 for a call it never placed. Call records are in the shared store, so history, live
follow and replay work from any worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr import EXIT_BAD_INPUT, PHONE_KEYS, TRAINER_CALL_TTL, IvrError, SimulatedCall, SimulationError

log = logging.getLogger(__name__)

MAX_KEYS = 64
MAX_WORDS = 200


class InputError(IvrError, ValueError):
    """Input the page sent that no phone could send: say what is wrong and what is allowed."""

    exit_code = EXIT_BAD_INPUT


@dataclass
class LiveCall:
    """One page call: the simulated caller, the keys it is collecting, and a lock for both.

    A menu takes one key and answers at once; an entry (a member ID, a date of birth) collects
    keys until its finish key or its number of digits, as Twilio's <Gather> does. Each method
    holds the call's lock, so two clicks on the same call never interleave.
    """

    sim: SimulatedCall
    line: str
    clock: str | None = None
    pending: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: When the page last used this call, on the registry's clock.
    touched: float = 0.0

    @property
    def call_sid(self) -> str:
        return self.sim.call_sid

    def dial(self) -> None:
        with self.lock:
            self.sim.dial()

    def press(self, keys: str) -> None:
        """Press keys; they are sent when the Gather would send them, else kept as pending."""
        if not keys or len(keys) > MAX_KEYS or any(k not in PHONE_KEYS for k in keys):
            raise InputError(
                f"{keys[:MAX_KEYS]!r} is not a sequence of phone keys: send 1 to {MAX_KEYS} of 0-9, * and #"
            )
        with self.lock:
            gather = self._gather("press keys")
            collected = self.pending + keys
            if _complete(
                gather.get("input", "dtmf"),
                gather.get("numDigits"),
                gather.get("finishOnKey", "#"),
                collected,
            ):
                self.pending = ""
                self.sim.press(collected)
            else:
                self.pending = collected

    def say(self, words: str) -> None:
        text = " ".join(words.split())
        if not text or len(text) > MAX_WORDS:
            raise InputError(f"say between 1 and {MAX_WORDS} characters of words, e.g. 'billing'")
        with self.lock:
            self._gather("speak")
            self.pending = ""
            self.sim.say(text)

    def silence(self) -> None:
        """Let the Gather time out: Twilio then sends the keys collected so far, or nothing."""
        with self.lock:
            self._gather("stay silent")
            collected, self.pending = self.pending, ""
            if collected:
                self.sim.press(collected)  # no finish key: the simulator waits out the timeout
            else:
                self.sim.silence()

    def hangup(self) -> None:
        with self.lock:
            self.pending = ""
            self.sim.hangup()

    def _gather(self, action: str) -> dict[str, str]:
        gather = self.sim.gather
        if self.sim.ended or gather is None:
            raise SimulationError(f"cannot {action}: the call has ended ({self.sim.outcome})")
        return dict(gather.attrib)


def _complete(inputs: str, num_digits: str | None, finish: str, keys: str) -> bool:
    """Say whether Twilio would send `keys` now rather than wait for more."""
    if "dtmf" not in inputs.split():
        return True  # the simulator turns keys at a speech-only Gather into no input
    limit = int(num_digits) if num_digits and num_digits.isdigit() else 0
    if finish and finish in keys:
        return True
    return bool(limit) and len(keys) >= limit


class LiveCalls:
    """The page calls of this process, by CallSid: thread-safe, idle ones expire.

    An expired call that is still up is hung up, so its record closes in the store as a real
    caller's would. Ended calls stay until they expire: their exact transcript stays readable.
    """

    def __init__(
        self,
        *,
        ttl: float = TRAINER_CALL_TTL,
        max_calls: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_calls = max_calls
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, LiveCall] = OrderedDict()

    def add(self, call: LiveCall) -> LiveCall:
        with self._lock:
            call.touched = self._clock()
            self._calls[call.call_sid] = call
            dropped = self._expired_locked()
            while len(self._calls) > self.max_calls:
                dropped.append(self._calls.popitem(last=False)[1])
        self._close(dropped)
        return call

    def get(self, call_sid: str) -> LiveCall | None:
        with self._lock:
            dropped = self._expired_locked()
            call = self._calls.get(call_sid)
            if call is not None:
                call.touched = self._clock()
                self._calls.move_to_end(call_sid)
        self._close(dropped)
        return call

    def __contains__(self, call_sid: object) -> bool:
        with self._lock:
            return call_sid in self._calls

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)

    def _expired_locked(self) -> list[LiveCall]:
        limit = self._clock() - self.ttl
        old = [sid for sid, call in self._calls.items() if call.touched < limit]
        return [self._calls.pop(sid) for sid in old]

    @staticmethod
    def _close(calls: list[LiveCall]) -> None:
        # Outside the registry lock: hanging up is a webhook request.
        for call in calls:
            if call.sim.ended:
                continue
            try:
                call.hangup()
            except Exception:  # noqa: BLE001 - a failed goodbye must not break the next request
                log.warning("could not hang up expired page call %s", call.call_sid, exc_info=True)
