"""One shared machine per flow, light call models, nothing left registered after a request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from transitions import MachineError

from ivr.engine.call import Call, CallContext, CallSession
from ivr.engine.engine import Engine

from .phone import Phone


def test_machines_are_built_once_and_keep_no_models(call: Callable[..., Phone], engine: Engine) -> None:
    machines = {name: engine.flows.get(name).machine.machine for name in engine.flows.names()}
    phone = call().press("2").press("1").silence().press("#").press("0")
    assert phone.enqueue is not None
    for name, machine in machines.items():
        assert engine.flows.get(name).machine.machine is machine  # not rebuilt per request
        assert machine.models == []


def test_strict_machine_has_no_auto_transitions(engine: Engine) -> None:
    machine = engine.flows.get("main").machine.machine
    assert machine.auto_transitions is False
    assert not any(name.startswith("to_") for name in machine.events)


def _call(engine: Engine, state: str) -> Call:
    line = engine.flows.get("main")
    session = CallSession("CAtest", "main", state)
    return Call(session, CallContext(line.machine.flow, engine.config.clock(), engine.store.members))


def test_fire_moves_a_light_model(engine: Engine) -> None:
    fm = engine.flows.get("main").machine
    call = _call(engine, "main_menu")
    step = fm.fire(call, "press_2")
    assert (step.source, step.dest, call.state) == ("main_menu", "billing_menu", "billing_menu")
    assert fm.machine.models == []


def test_invalid_input_is_a_declared_transition(engine: Engine) -> None:
    fm = engine.flows.get("main").machine
    call = _call(engine, "main_menu")
    step = fm.fire(call, "invalid")
    assert step.dest == "main_menu" and call.session.failures == 1


def test_undeclared_trigger_is_a_machine_error_naming_state_and_file(engine: Engine) -> None:
    fm = engine.flows.get("main").machine
    with pytest.raises(MachineError, match="press_7.*main_menu.*main.yaml"):
        fm.fire(_call(engine, "main_menu"), "press_7")
