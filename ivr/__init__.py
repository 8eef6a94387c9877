"""The public API of the IVR simulator: what webhooks, the trainer page, the CLI and the pytest
plugin use. Only re-exports; each name is imported when first used, so `import ivr` is cheap
(the pytest plugin loads it in every test run).

Layers (docs/architecture.md): ivr.engine (the request path and the store interface),
ivr.stores (SQLite, Redis, memory), ivr.sim (the simulated Twilio), ivr.qa (scenarios, crawl,
coverage, lint), ivr.diagram; faces on top: webhooks/, web/, ivr.cli, ivr.pytest_plugin.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diagram import menu_graph as menu_graph
    from .diagram import to_svg as to_svg
    from .diagram.cytoscape import cytoscape_graph as cytoscape_graph
    from .engine.config import FLOWS_DIR as FLOWS_DIR
    from .engine.config import TRAINER_CALL_TTL as TRAINER_CALL_TTL
    from .engine.config import EngineConfig as EngineConfig
    from .engine.engine import CallParams as CallParams
    from .engine.engine import Engine as Engine
    from .engine.engine import Reply as Reply
    from .engine.errors import EXIT_BAD_INPUT as EXIT_BAD_INPUT
    from .engine.errors import EXIT_FAILURE as EXIT_FAILURE
    from .engine.errors import ConfigError as ConfigError
    from .engine.errors import FlowErrors as FlowErrors
    from .engine.errors import IvrError as IvrError
    from .engine.errors import StoreError as StoreError
    from .engine.flow import PHONE_KEYS as PHONE_KEYS
    from .engine.flow import Flow as Flow
    from .engine.flow import key_for_trigger as key_for_trigger
    from .engine.flow_checks import reachable_states as reachable_states
    from .engine.flow_loader import load_flow as load_flow
    from .engine.flow_registry import load_all as load_all
    from .engine.flow_registry import shipped_numbers as shipped_numbers
    from .engine.hours import frozen_clock as frozen_clock
    from .engine.render import heard as heard
    from .engine.store import CallEvent as CallEvent
    from .engine.store import CallRecord as CallRecord
    from .engine.store import PageCall as PageCall
    from .engine.store import SessionStore as SessionStore
    from .qa.analytics import line_analytics as line_analytics
    from .qa.call_export import call_to_scenario as call_to_scenario
    from .qa.call_export import scenario_yaml as scenario_yaml
    from .qa.crawl import DEFAULT_ENTRY_INPUTS as DEFAULT_ENTRY_INPUTS
    from .qa.crawl import CrawlError as CrawlError
    from .qa.crawl import CrawlOptions as CrawlOptions
    from .qa.crawl import crawl as crawl
    from .qa.crawl import write_scenarios as write_scenarios
    from .qa.lint import lint_flow as lint_flow
    from .qa.plural import plural as plural
    from .qa.scenarios import DEFAULT_WORKERS as DEFAULT_WORKERS
    from .qa.scenarios import Scenario as Scenario
    from .qa.scenarios import ScenarioErrors as ScenarioErrors
    from .qa.scenarios import ScenarioResult as ScenarioResult
    from .qa.scenarios import Suite as Suite
    from .qa.scenarios import junit_xml as junit_xml
    from .qa.scenarios import load_paths as load_paths
    from .qa.scenarios import render_report as render_report
    from .qa.scenarios import run_scenario as run_scenario
    from .qa.scenarios import run_scenarios as run_scenarios
    from .sim import Heard as Heard
    from .sim import HttpReply as HttpReply
    from .sim import Outcome as Outcome
    from .sim import SimulatedCall as SimulatedCall
    from .sim import SimulationError as SimulationError
    from .sim import Step as Step
    from .sim import Transport as Transport
    from .sim import WsgiTransport as WsgiTransport
    from .sim.signing import SETTINGS_HEADER as SETTINGS_HEADER
    from .sim.signing import SIGNATURE_HEADER as SIGNATURE_HEADER
    from .sim.signing import Signer as Signer
    from .sim.signing import shared_keys as shared_keys
    from .sim.signing import signs_webhooks as signs_webhooks
    from .sim.signing import validator as validator
    from .stores.open import open_store as open_store

_EXPORTS: dict[str, str] = {
    "CallEvent": "ivr.engine.store",
    "CallParams": "ivr.engine.engine",
    "CallRecord": "ivr.engine.store",
    "ConfigError": "ivr.engine.errors",
    "CrawlError": "ivr.qa.crawl",
    "CrawlOptions": "ivr.qa.crawl",
    "DEFAULT_ENTRY_INPUTS": "ivr.qa.crawl",
    "DEFAULT_WORKERS": "ivr.qa.scenarios",
    "EXIT_BAD_INPUT": "ivr.engine.errors",
    "EXIT_FAILURE": "ivr.engine.errors",
    "Engine": "ivr.engine.engine",
    "EngineConfig": "ivr.engine.config",
    "FLOWS_DIR": "ivr.engine.config",
    "Flow": "ivr.engine.flow",
    "FlowErrors": "ivr.engine.errors",
    "Heard": "ivr.sim",
    "HttpReply": "ivr.sim",
    "IvrError": "ivr.engine.errors",
    "Outcome": "ivr.sim",
    "PHONE_KEYS": "ivr.engine.flow",
    "PageCall": "ivr.engine.store",
    "Reply": "ivr.engine.engine",
    "SETTINGS_HEADER": "ivr.sim.signing",
    "SIGNATURE_HEADER": "ivr.sim.signing",
    "Scenario": "ivr.qa.scenarios",
    "ScenarioErrors": "ivr.qa.scenarios",
    "ScenarioResult": "ivr.qa.scenarios",
    "Signer": "ivr.sim.signing",
    "StoreError": "ivr.engine.errors",
    "SimulatedCall": "ivr.sim",
    "SimulationError": "ivr.sim",
    "SessionStore": "ivr.engine.store",
    "Step": "ivr.sim",
    "Suite": "ivr.qa.scenarios",
    "TRAINER_CALL_TTL": "ivr.engine.config",
    "Transport": "ivr.sim",
    "WsgiTransport": "ivr.sim",
    "call_to_scenario": "ivr.qa.call_export",
    "crawl": "ivr.qa.crawl",
    "cytoscape_graph": "ivr.diagram.cytoscape",
    "frozen_clock": "ivr.engine.hours",
    "heard": "ivr.engine.render",
    "key_for_trigger": "ivr.engine.flow",
    "lint_flow": "ivr.qa.lint",
    "junit_xml": "ivr.qa.scenarios",
    "line_analytics": "ivr.qa.analytics",
    "load_all": "ivr.engine.flow_registry",
    "load_flow": "ivr.engine.flow_loader",
    "load_paths": "ivr.qa.scenarios",
    "menu_graph": "ivr.diagram",
    "open_store": "ivr.stores.open",
    "plural": "ivr.qa.plural",
    "reachable_states": "ivr.engine.flow_checks",
    "render_report": "ivr.qa.scenarios",
    "run_scenario": "ivr.qa.scenarios",
    "run_scenarios": "ivr.qa.scenarios",
    "scenario_yaml": "ivr.qa.call_export",
    "shared_keys": "ivr.sim.signing",
    "shipped_numbers": "ivr.engine.flow_registry",
    "signs_webhooks": "ivr.sim.signing",
    "to_svg": "ivr.diagram",
    "validator": "ivr.sim.signing",
    "write_scenarios": "ivr.qa.crawl",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ivr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
