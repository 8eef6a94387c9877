"""The engine: flow files -> validated flow -> one machine per flow -> TwiML, and the store interface.

Read in this order: flow.py (the data), flow_loader.py (YAML -> Flow), machine.py (one
transitions.Machine per flow), call.py (the per-call model and its callbacks), inputs.py and
speech.py (Digits / SpeechResult -> trigger), render.py (TwiML and SSML), engine.py (one
webhook: load, fire, save, answer) and store.py (what a store must do). Never imports Flask.
"""

from .config import EngineConfig
from .engine import CallParams, Engine, Reply
from .errors import ConfigError, FlowError, FlowErrors, IvrError, StoreError
from .flow import Flow, StateSpec
from .store import SessionStore

__all__ = [
    "CallParams",
    "ConfigError",
    "Engine",
    "EngineConfig",
    "Flow",
    "FlowError",
    "FlowErrors",
    "IvrError",
    "Reply",
    "SessionStore",
    "StateSpec",
    "StoreError",
]
