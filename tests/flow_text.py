"""What the shipped flows say, as a caller hears it (SSML spoken through ivr.ssml).

Tests that check *when* a prompt, confirmation or message is spoken take its words from the
flow files, so a rewording of a menu does not need a test edit; facts from the guide (fax
numbers, delivery times...) stay written out in the tests that check them.
"""

from __future__ import annotations

import re
from functools import cache

from ivr.engine.config import FLOWS_DIR
from ivr.engine.flow import Flow
from ivr.engine.flow_loader import load_flow
from ivr.engine.render import heard


@cache
def flow(line: str = "main") -> Flow:
    return load_flow(FLOWS_DIR / f"{line}.yaml")


def prompt(state: str, lang: str = "en", line: str = "main") -> str:
    return heard(flow(line).states[state].prompt[lang], lang)


def reprompt(state: str, lang: str = "en", line: str = "main") -> str:
    return heard(flow(line).states[state].reprompt[lang], lang)


def confirm(state: str, lang: str = "en", line: str = "main") -> str:
    return heard(flow(line).states[state].confirm[lang], lang)


def message(name: str, lang: str = "en", line: str = "main") -> str:
    return heard(flow(line).messages[name][lang], lang)


def greeting(lang: str = "en", line: str = "main") -> str:
    return heard(flow(line).greeting[lang], lang)


def warning(lang: str = "en", line: str = "main") -> str:
    return heard(flow(line).warning[lang], lang)


def first(text: str) -> str:
    """The first sentence of a text: 'For refills..., press 1.'"""
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]
