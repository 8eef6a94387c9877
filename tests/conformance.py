"""What the conformance suites share: one small TwiML app per behaviour, placed over WSGI or HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeAlias

import pytest

from ivr.sim import HttpTransport, SimulatedCall, WsgiTransport
from tests.servers import served
from tests.twiml_apps import TwimlApp

LINE = "+18005550100"
Place: TypeAlias = Callable[..., SimulatedCall]


def doc(body: str) -> str:
    """A TwiML document around `body`."""
    return f"<?xml version='1.0' encoding='UTF-8'?><Response>{body}</Response>"


def app(**pages: str) -> TwimlApp:
    """A TwiML app serving `body` at `/name` for each name=body (`root` is `/`)."""
    return TwimlApp({("/" if name == "root" else f"/{name}"): doc(body) for name, body in pages.items()})


@pytest.fixture(params=["wsgi", "http"])
def place(request: pytest.FixtureRequest) -> Iterator[Place]:
    """Build calls to a TwiML app over the transport of this run: in-process, or a real server."""
    with ExitStack() as stack:

        def make(twiml_app: TwimlApp, voice_url: str = "/", **kwargs: Any) -> SimulatedCall:
            kwargs.setdefault("status_callback", "/status")
            if request.param == "wsgi":
                return SimulatedCall(WsgiTransport(twiml_app), LINE, voice_url=voice_url, **kwargs)
            base = stack.enter_context(served(twiml_app))
            return SimulatedCall(HttpTransport(timeout=5), LINE, base_url=base, voice_url=voice_url, **kwargs)

        yield make


RunScenario: TypeAlias = Callable[[TwimlApp, str], Any]


@pytest.fixture(params=["wsgi", "http"])
def run_yaml(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunScenario]:
    """Run one scenario file's text against a TwiML app over the transport of this run; the
    ScenarioResult comes back."""
    from ivr.commands.target import Target
    from ivr.qa.scenarios import load_scenario, run_scenario

    with ExitStack() as stack:

        def run(twiml_app: TwimlApp, text: str) -> Any:
            file = tmp_path / "scenario.yaml"
            file.write_text(text)
            if request.param == "wsgi":
                target = Target(WsgiTransport(twiml_app), "http://localhost", in_process=False)
            else:
                target = Target(
                    HttpTransport(timeout=5), stack.enter_context(served(twiml_app)), in_process=False
                )
            return run_scenario(load_scenario(file), target)

        yield run


def forms(twiml_app: TwimlApp, path: str) -> list[dict[str, str]]:
    """The form (POST) or query (GET) fields of each request to `path`."""
    return [seen.form if seen.method == "POST" else seen.args for seen in twiml_app.to(path)]
