"""Every flow of the flows folder, built once; in development, rebuilt when a file changes."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from .config import EngineConfig
from .errors import ConfigError, FlowError, FlowErrors, IvrError
from .flow_loader import load_flow
from .machine import FlowMachine
from .render import Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    """A flow with its machine and renderer: everything shared by the calls of one line."""

    machine: FlowMachine
    renderer: Renderer

    @property
    def name(self) -> str:
        return self.machine.flow.name


def load_all(flows_dir: Path) -> dict[str, FlowMachine]:
    """Load and validate every `*.yaml` in `flows_dir`; raise FlowErrors listing all problems."""
    machines: dict[str, FlowMachine] = {}
    problems = []
    for path in sorted(flows_dir.glob("*.yaml")):
        try:
            flow = load_flow(path)
        except FlowErrors as exc:
            problems.extend(exc.errors)
            continue
        if flow.name in machines:
            first = machines[flow.name].flow.file
            problems.append(FlowError(str(path), f"a flow named '{flow.name}' is already defined "
                                      f"in {first}; give each line its own name", field="name"))
            continue
        machines[flow.name] = FlowMachine(flow)
    if problems:
        raise FlowErrors(problems)
    return machines


class FlowRegistry:
    """Maps line names to their built flows; safe to share between threads."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._lines: dict[str, Line] = {}
        self._stamp = self._fingerprint()
        self._lines = self._build()

    def get(self, name: str) -> Line:
        if self.config.reload_flows:
            self._reload_if_changed()
        lines = self._lines
        return lines.get(name) or lines[self.config.default_line]

    def names(self) -> list[str]:
        return sorted(self._lines)

    def _build(self) -> dict[str, Line]:
        machines = load_all(self.config.flows_dir)
        if self.config.default_line not in machines:
            raise ConfigError(
                f"no flow named '{self.config.default_line}' in {self.config.flows_dir}"
            )
        return {
            name: Line(fm, Renderer(fm.flow, self.config, fm.speech.hints))
            for name, fm in machines.items()
        }

    def _fingerprint(self) -> tuple[tuple[str, float, int], ...]:
        return tuple(
            (p.name, p.stat().st_mtime, p.stat().st_size)
            for p in sorted(self.config.flows_dir.glob("*.yaml"))
        )

    def _reload_if_changed(self) -> None:
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                self._lines = self._build()
            except IvrError as exc:
                log.error("flow files changed but do not validate; keeping the last good flows:\n%s", exc)
                return
            log.info("flow files changed; reloaded %s", ", ".join(sorted(self._lines)))
