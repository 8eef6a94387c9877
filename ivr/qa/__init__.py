"""Quality checks of a line as a caller meets it: `ivr lint` holds flows to the prompt standards."""

from .lint import DESTINATION_TYPES, LanguageReport, LineReport, lint_flow, topical_keys
from .lint_budgets import Budgets, load_budgets, speaking_rate
from .lint_paths import EdgeTime, Reach
from .listening import MEASURES, Hearing, Said, Timer, espeak_available

__all__ = [
    "DESTINATION_TYPES",
    "MEASURES",
    "Budgets",
    "EdgeTime",
    "Hearing",
    "LanguageReport",
    "LineReport",
    "Reach",
    "Said",
    "Timer",
    "espeak_available",
    "lint_flow",
    "load_budgets",
    "speaking_rate",
    "topical_keys",
]
