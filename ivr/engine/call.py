"""The per-call model the shared machine drives, and the allow-list of callbacks flows may name."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ivr.engine.flow import Flow
from ivr.engine.hours import is_open

#: Condition names a flow file may use (`conditions:` / `unless:`), registered by `@condition`.
CONDITIONS: set[str] = set()
#: Action names a flow file may use (`before:` / `after:`), registered by `@action`.
ACTIONS: set[str] = set()

_Method = TypeVar("_Method", bound=Callable[..., Any])

log = logging.getLogger(__name__)


def condition(method: _Method) -> _Method:
    """Allow flow files to name this method of `Call` as a condition."""
    CONDITIONS.add(method.__name__)
    return method


def action(method: _Method) -> _Method:
    """Allow flow files to name this method of `Call` as an action."""
    ACTIONS.add(method.__name__)
    return method


_ID_DIGITS = re.compile(r"^[0-9]{6,12}$")
_DOB_DIGITS = re.compile(r"^(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])(19|20)[0-9]{2}$")


class MemberDirectory(Protocol):
    """Checks identities without ever holding an entered ID or date of birth in clear."""

    def hash_member_id(self, member_id: str) -> str: ...

    def verify(self, member_hash: str, dob: str) -> dict[str, str] | None:
        """Return the member's order status by language when ID and date of birth match."""
        ...


class FailureCounter(Protocol):
    """Failed identity checks per source, shared by every call and process (the session store)."""

    def count_failure(self, key: str, window: float, now: float) -> int: ...

    def failures(self, key: str, window: float, now: float) -> int: ...


@dataclass
class CallContext:
    """What a trigger may consult that is not part of the call: the flow, the clock, members."""

    flow: Flow
    now: datetime
    members: MemberDirectory
    max_failures: int = 3
    max_identity_attempts: int = 2
    #: Failed identity checks per source (`CallSession.sources`) over all calls: at
    #: `lockout_attempts` within `lockout_window` seconds of wall time, the source is locked out.
    counter: FailureCounter | None = None
    wall: float = 0.0
    lockout_attempts: int = 5
    lockout_window: float = 15 * 60


@dataclass
class CallSession:
    """What is saved between webhooks for one call (never an ID or a date of birth in clear)."""

    call_sid: str
    line: str
    state: str
    lang: str = "en"
    failures: int = 0
    id_failures: int = 0
    verified: bool = False
    member_hash: str | None = None
    order_status: dict[str, str] = field(default_factory=dict)
    rx_last4: str | None = None
    reference: str = ""
    step: int = 0
    last_twiml: str | None = None
    ended: bool = False
    #: A clock chosen for this call by a simulated caller (ISO 8601), e.g. to show after-hours.
    clock: str | None = None
    #: Languages whose greeting the caller has heard, e.g. "enes" (two letters each).
    greeted: str = ""
    #: Where the call comes from, as keyed hashes separated by spaces (the caller's number; a
    #: trainer page's browser and address): identity failures count against each, across calls.
    sources: str = ""

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy: dataclasses.asdict deep-copies and cost ~70 µs per webhook.
        data = dict(self.__dict__)
        data["order_status"] = dict(self.order_status)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallSession:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class Call:
    """A light model: one call's session plus the input of the current webhook.

    The machine is shared by every call of a line; this object is never registered with it.
    """

    def __init__(self, session: CallSession, ctx: CallContext, digits: str = "") -> None:
        self.session = session
        self.ctx = ctx
        self.digits = digits
        self.notice: str | None = None
        self.greet = False
        #: What `identity_retry_allowed` answered in this request (its failure then says why).
        self.identity_retry = False

    # `transitions` reads and writes the model's state through this attribute.
    @property
    def state(self) -> str:
        return self.session.state

    @state.setter
    def state(self, value: str) -> None:
        self.session.state = value

    # -- conditions -------------------------------------------------------------------------

    @condition
    def can_retry(self) -> bool:
        return self.session.failures + 1 < self.ctx.max_failures

    @condition
    def line_open(self) -> bool:
        hours = self.ctx.flow.hours
        return hours is None or is_open(hours, self.ctx.now)

    @condition
    def identity_verified(self) -> bool:
        return self.session.verified

    @condition
    def member_id_ok(self) -> bool:
        return bool(_ID_DIGITS.match(self.digits))

    @condition
    def identity_locked(self) -> bool:
        """The call's source failed too often lately, over all its calls: no check is offered."""
        return any(n >= self.ctx.lockout_attempts for n in self._source_failures())

    @condition
    def identity_matches(self) -> bool:
        if self.session.member_hash is None or not _DOB_DIGITS.match(self.digits):
            return False
        if self.identity_locked():
            return False  # locked out meanwhile (another call): never checked, however right
        status = self.ctx.members.verify(self.session.member_hash, self.digits)
        if status is None:
            return False
        self.session.order_status = status
        return True

    @condition
    def identity_retry_allowed(self) -> bool:
        """Another try in this call, unless this failure locks the call's source out."""
        source_ok = all(n + 1 < self.ctx.lockout_attempts for n in self._source_failures())
        self.identity_retry = self.session.id_failures + 1 < self.ctx.max_identity_attempts and source_ok
        return self.identity_retry

    @condition
    def rx_number_ok(self) -> bool:
        return bool(_ID_DIGITS.match(self.digits))

    # -- actions ----------------------------------------------------------------------------

    @action
    def count_failure(self) -> None:
        self.session.failures += 1

    @action
    def toggle_language(self) -> None:
        languages = self.ctx.flow.languages
        index = languages.index(self.session.lang) if self.session.lang in languages else 0
        self.session.lang = languages[(index + 1) % len(languages)]
        # The first time a caller hears a language, the greeting and warning come in it too.
        if self.session.lang not in self.session.greeted:
            self.session.greeted += self.session.lang
            self.greet = True
        else:
            self.notice = "language_set"

    @action
    def remember_member_id(self) -> None:
        self.session.member_hash = self.ctx.members.hash_member_id(self.digits)

    @action
    def mark_verified(self) -> None:
        self.session.verified = True
        self.notice = "verified"
        self.session.member_hash = None
        self.session.id_failures = 0

    @action
    def count_identity_failure(self) -> None:
        self.session.id_failures += 1
        self.session.member_hash = None
        self.notice = "identity_failed"
        counter, keys = self.ctx.counter, self.session.sources.split()
        if counter is None or not keys:
            return
        counts = [counter.count_failure(key, self.ctx.lockout_window, self.ctx.wall) for key in keys]
        if max(counts) >= self.ctx.lockout_attempts and not self.identity_retry:
            self.notice = "identity_locked"
            log.warning(
                "call %s: identity checks locked out for source %s (%d failures in %ds); "
                "the caller is sent to a representative",
                self.session.call_sid,
                " ".join(key[:12] for key in keys),
                max(counts),
                self.ctx.lockout_window,
            )

    @action
    def refuse_identity_check(self) -> None:
        """A locked-out source asks for its member services: told at once, before it types an
        ID and a date of birth that could not be checked."""
        self.notice = "identity_locked"
        log.warning(
            "call %s: identity check refused, source %s locked out; the caller is sent to a representative",
            self.session.call_sid,
            " ".join(key[:12] for key in self.session.sources.split()),
        )

    @action
    def remember_rx_number(self) -> None:
        self.session.rx_last4 = self.digits[-4:]

    def _source_failures(self) -> list[int]:
        counter = self.ctx.counter
        if counter is None:
            return []
        window, now = self.ctx.lockout_window, self.ctx.wall
        return [counter.failures(key, window, now) for key in self.session.sources.split()]
