"""The README stays true: its diagram, its commands and its configuration table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.diagram import to_mermaid
from ivr.engine.config import FLOWS_DIR
from ivr.engine.flow_loader import load_flow

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_main_line_diagram_is_current() -> None:
    block = re.search(r"```mermaid\n(.*?)```", README, re.S)
    assert block is not None
    expected = to_mermaid(load_flow(FLOWS_DIR / "main.yaml"), detail="menu").rstrip()
    assert block.group(1).rstrip() == expected, "regenerate: ivr graph --line main"


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_documented_with_an_example(command: str) -> None:
    assert re.search(rf"\.venv/bin/ivr {command}\b", README), command


def _config_keys() -> set[str]:
    keys: set[str] = set()
    for path in [ROOT / "app.py", *(ROOT / "ivr").glob("*.py"), *(ROOT / "web").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'conf(?:ig)?\.get\(f?"([A-Z_]+)', text))
        keys |= set(re.findall(r'_positive_int\(conf, "([A-Z_]+)"', text))
    keys.discard("TESTING")
    return keys


@pytest.mark.parametrize("key", sorted(_config_keys()))
def test_every_setting_is_in_the_configuration_table(key: str) -> None:
    assert f"IVR_{key}" in README or key in README, key
