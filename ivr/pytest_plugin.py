"""A pytest plugin for QA tests in plain pytest: the `ivr_call` fixture places simulated calls.

Installed with the package (entry point `pytest11`), so any test in this environment can write:

    def test_billing(ivr_call):
        call = ivr_call(line="main")          # or ivr_call(to="+15551234567", now="2026-11-23T21:30")
        call.press("2")
        assert call.heard("billing and insurance")
        assert call.heard_re(r"discrepancy, press \\d")

Calls go to our app in-process (built once per session, its calls kept in memory, `--ivr-app`)
or, with `--ivr-url http://host:port`, to any running TwiML app over HTTP. When a test that
placed calls fails, each call's transcript is added to the failure report. Nothing here runs,
and nothing is imported beyond pytest, unless a test asks for the fixture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .commands.target import Target
    from .sim import Outcome, SimulatedCall, Transcript

DEFAULT_APP = "app:create_app"
_CALLS = pytest.StashKey[list["IvrCall"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ivr", "IVR simulated calls (ivr_call fixture)")
    group.addoption(
        "--ivr-url",
        default=None,
        metavar="URL",
        help="call a running TwiML app over HTTP, e.g. http://127.0.0.1:5000 (default: our app "
        "in-process); a URL with a path is the number's voice URL, requested as it is",
    )
    group.addoption(
        "--ivr-app",
        default=DEFAULT_APP,
        metavar="MODULE:FACTORY",
        help=f"app factory for in-process calls (default: {DEFAULT_APP})",
    )


class IvrCall:
    """A dialled simulated call with test-friendly checks; `sim` is the SimulatedCall itself."""

    def __init__(self, sim: SimulatedCall, line: str | None = None) -> None:
        self.sim = sim
        self.line = line

    # -- what a caller does ----------------------------------------------------------------

    def press(self, keys: str) -> IvrCall:
        self.sim.press(keys)
        return self

    def say(self, words: str, confidence: float = 0.92) -> IvrCall:
        self.sim.say(words, confidence)
        return self

    def silence(self) -> IvrCall:
        self.sim.silence()
        return self

    def hangup(self) -> IvrCall:
        self.sim.hangup()
        return self

    # -- checks ----------------------------------------------------------------------------

    def heard(self, text: str) -> bool:
        """True when `text` was spoken since the last input (case-insensitive)."""
        return text.casefold() in self.text.casefold()

    def heard_re(self, pattern: str, flags: int = re.IGNORECASE) -> bool:
        """True when the regex `pattern` matches what was spoken since the last input."""
        return re.search(pattern, self.text, flags) is not None

    @property
    def text(self) -> str:
        """Everything spoken since the last input, as one string."""
        return self.sim.heard

    @property
    def state(self) -> str | None:
        return self.sim.state

    @property
    def language(self) -> str | None:
        return self.sim.language

    @property
    def outcome(self) -> Outcome | None:
        """How the call ended (`.kind`, `.target`; `str()` gives 'enqueue:sim-representative')."""
        return self.sim.outcome

    @property
    def ended(self) -> bool:
        return self.sim.ended

    @property
    def transcript(self) -> Transcript:
        return self.sim.transcript

    def __repr__(self) -> str:
        # Shown by pytest's assertion rewriting: say where the call is and what it just heard.
        # Short enough (under pytest's 240 characters) not to be cut in the middle.
        heard = self.text if len(self.text) <= 140 else self.text[:137] + "..."
        return f"<IvrCall to {self.sim.to} state={self.state} outcome={self.outcome} heard={heard!r}>"


@pytest.fixture(scope="session")
def ivr_target(request: pytest.FixtureRequest) -> Generator[Target]:
    """Where `ivr_call` sends calls: `--ivr-url`, else our app in-process with its calls in memory."""
    import click

    from .commands.target import open_target

    url: str | None = request.config.getoption("ivr_url")
    app_spec: str = request.config.getoption("ivr_app")
    try:
        target = open_target(url, app_spec)  # in-process: calls kept in memory for the session
    except click.ClickException as exc:
        pytest.fail(f"ivr_call: {exc.message}", pytrace=False)
    yield target
    engine = target.engine()
    if engine is not None:
        engine.store.close()


@pytest.fixture
def ivr_call(request: pytest.FixtureRequest, ivr_target: Target) -> Callable[..., IvrCall]:
    """Factory: `ivr_call(line="main")`, `ivr_call(to="+1...")`, `ivr_call(now="2026-...")`.

    Other keywords go to SimulatedCall: the number's settings (`voice_url="/ivr/welcome"`,
    `voice_method="GET"`, `status_callback_events=("answered", "completed")`,
    `fallback_url=...`) and request fields (`fields={"from_state": "CA"}`).
    """
    from ivr import Signer

    from .sim import SimulatedCall, WsgiTransport

    calls = request.node.stash.setdefault(_CALLS, [])

    def place(
        line: str = "main", *, to: str | None = None, now: str | None = None, **options: Any
    ) -> IvrCall:
        from ivr import shipped_numbers

        shipped = shipped_numbers()
        if to is None and line not in shipped:
            raise ValueError(f"unknown line {line!r}: use one of {', '.join(shipped)}, or to=")
        number = to or _numbers(ivr_target).get(line, shipped[line])
        # The number's settings of --ivr-url (a voice URL with a path), then the test's own
        # keywords: voice_url, voice_method, status_callback_events, fallback_url, fields, ...
        options = {**ivr_target.call_options(), **options}
        if "auth_token" not in options and "signer" not in options:
            options["signer"] = Signer.from_config(os.environ)  # as the app checks, from the env
        # In-process, a client of its own per call: no cookie or state leaks between calls.
        app = ivr_target.app
        transport = WsgiTransport(app) if ivr_target.in_process and app is not None else ivr_target.transport
        sim = SimulatedCall(transport, number, base_url=ivr_target.base_url, simulated_now=now, **options)
        call = IvrCall(sim, line if to is None else None)
        calls.append(call)  # before dialling: a failing dial still leaves its transcript
        sim.dial()
        return call

    return place


def _numbers(target: Target) -> dict[str, str]:
    """The number of each line, as the in-process app is configured (IVR_LINE_*)."""
    engine = target.engine()
    if engine is None:
        from ivr import shipped_numbers

        return shipped_numbers()
    return engine.flows.numbers()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    calls = item.stash.get(_CALLS, None)
    if calls and report.failed:
        for index, placed in enumerate(calls, 1):
            text = placed.transcript.render()
            report.sections.append((f"ivr call {index} of {len(calls)} ({report.when})", text))
            if (f"ivr_transcript_{index}", text) not in item.user_properties:  # once per call
                item.user_properties.append((f"ivr_transcript_{index}", text))
    return report
