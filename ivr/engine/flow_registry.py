"""Every flow of the flows folder, built once; in development, rebuilt when a file changes."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ivr.engine.config import FLOWS_DIR, EngineConfig
from ivr.engine.errors import ConfigError, FlowError, FlowErrors, IvrError
from ivr.engine.flow import Flow
from ivr.engine.flow_loader import load_flow
from ivr.engine.machine import FlowMachine
from ivr.engine.render import Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    """A flow with its machine and renderer: everything shared by the calls of one line."""

    machine: FlowMachine
    renderer: Renderer

    @property
    def name(self) -> str:
        return self.machine.flow.name

    @property
    def flow(self) -> Flow:
        return self.machine.flow


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
            problems.append(
                FlowError(
                    str(path),
                    f"a flow named '{flow.name}' is already defined in {first}; give each line its own name",
                    field="name",
                )
            )
            continue
        machines[flow.name] = FlowMachine(flow)
    if problems:
        raise FlowErrors(problems)
    return machines


def shared_flows(flows_dir: Path) -> dict[str, FlowMachine]:
    """`load_all`, built once per process for as long as the files' bytes stay the same.

    Every engine of a process (an app per test, per simulated run, per gunicorn worker) gets
    the same machines: one machine per flow per process, and ~30 ms less to build an app. The
    key is the files' contents, so an edited flow is loaded afresh and a broken one is never
    kept (an error is raised each time).
    """
    files = sorted(flows_dir.glob("*.yaml"))
    key = tuple((p.name, hashlib.sha256(p.read_bytes()).digest()) for p in files)
    return dict(_loaded(flows_dir.resolve(), key))


@lru_cache(maxsize=16)
def _loaded(flows_dir: Path, key: tuple[tuple[str, bytes], ...]) -> dict[str, FlowMachine]:
    return load_all(flows_dir)


@lru_cache(maxsize=8)
def shipped_numbers(flows_dir: Path = FLOWS_DIR) -> dict[str, str]:
    """Line name -> the first number its flow file lists (the default for tools and scenarios)."""
    numbers: dict[str, str] = {}
    for name, fm in sorted(load_all(flows_dir).items()):
        if fm.flow.numbers:
            numbers[name] = fm.flow.numbers[0]
    return numbers


class FlowRegistry:
    """Maps line names to their built flows; safe to share between threads."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._lines: dict[str, Line] = {}
        self._stamp = self._fingerprint()
        self._lines, self._numbers, self.default = self._build()

    def get(self, name: str) -> Line:
        if self.config.reload_flows:
            self._reload_if_changed()
        lines = self._lines
        return lines.get(name) or lines[self.default]

    def names(self) -> list[str]:
        return sorted(self._lines)

    def line_for(self, number: str) -> str:
        """The line a call to `number` (E.164) reaches; any other number reaches the default."""
        if self.config.reload_flows:
            self._reload_if_changed()
        return self._numbers.get(number, self.default)

    def numbers(self) -> dict[str, str]:
        """Line name -> the first number that reaches it (the default line may have none)."""
        first: dict[str, str] = {}
        for number, line in self._numbers.items():
            first.setdefault(line, number)
        return first

    def lines_by_number(self) -> dict[str, str]:
        """Number -> the line a call to it reaches, for every number a line is reached by."""
        if self.config.reload_flows:
            self._reload_if_changed()
        return dict(self._numbers)

    def _build(self) -> tuple[dict[str, Line], dict[str, str], str]:
        machines = shared_flows(self.config.flows_dir)
        default = self.config.default_line
        if default is None:
            default = "main" if "main" in machines or len(machines) != 1 else next(iter(machines))
        if default not in machines:
            raise ConfigError(
                f"no flow named '{default}' in {self.config.flows_dir}; set IVR_DEFAULT_LINE to "
                f"one of: {', '.join(sorted(machines)) or '(no flows)'}"
            )
        unknown = sorted(set(self.config.line_numbers) - set(machines))
        if unknown:
            raise ConfigError(
                f"IVR_LINE_{unknown[0].upper()} names no line; lines: {', '.join(sorted(machines))}"
            )
        numbers: dict[str, str] = {}
        for name, fm in sorted(machines.items()):
            own = self.config.line_numbers.get(name)
            for number in (own,) if own else fm.flow.numbers:
                if numbers.setdefault(number, name) != name:
                    raise ConfigError(f"{number} is listed by two lines: {numbers[number]} and {name}")
        lines = {
            name: Line(fm, Renderer(fm.flow, self.config, fm.speech.hints)) for name, fm in machines.items()
        }
        return lines, numbers, default

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
                self._lines, self._numbers, self.default = self._build()
            except IvrError as exc:
                log.error("flow files changed but do not validate; keeping the last good flows:\n%s", exc)
                return
            log.info("flow files changed; reloaded %s", ", ".join(sorted(self._lines)))
