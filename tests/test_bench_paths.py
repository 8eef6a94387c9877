"""The benchmark's call paths still walk our menu as their names say, or its figures mean nothing.

bench/loadgen.py's CALLS are what every server is loaded with; when the menu changes (a key moves,
an info leaf ends differently) a path that no longer reaches its outcome would quietly measure
something else. Each is walked here in-process, on the benchmark's own clock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask

from ivr.sim import SimulatedCall, WsgiTransport

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _loadgen() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return __import__("loadgen")


LOADGEN = _loadgen()


@pytest.mark.parametrize("script", LOADGEN.CALLS, ids=lambda s: s.name)
def test_each_benchmark_path_reaches_its_outcome(script: Any, make_app: Callable[..., Flask]) -> None:
    app = make_app(NOW=LOADGEN.OPEN_HOURS)
    call = SimulatedCall(WsgiTransport(app), script.to).dial()
    for kind, value in script.inputs:
        assert call.waiting, f"{script.name}: the call ended before {kind} {value!r}"
        if kind == "press":
            call.press(value)
        elif kind == "say":
            call.say(value)
        else:
            call.silence()
    assert call.outcome is not None, f"{script.name}: still waiting after its inputs"
    assert call.outcome.kind == script.outcome
