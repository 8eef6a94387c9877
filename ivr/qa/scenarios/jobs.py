"""Scenario files across processes: every core runs calls, the results come back in file order.

Threads (`run_scenarios(workers=...)`) share one interpreter, so an in-process run uses one
core however many threads it has. A FilePool starts `jobs` processes; each opens a target of
its own (our app in-process, with its own temporary database unless one is given) and runs
whole scenario files, on its own threads. What a run reports does not depend on which
process ran a file, nor on the order they finish in.

Example:
    with FilePool(partial(open_target, None), jobs=4) as pool:
        target = open_target(None)  # the caller's own, opened after the processes started
        results = pool.run(by_file(scenarios), workers=4, signer=None)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from ivr.qa.scenarios.model import Scenario
from ivr.qa.scenarios.runner import CallTarget, ScenarioResult, run_scenarios
from ivr.sim.signing import Signer

#: How this worker process opens its target (set when it starts), and the target once opened.
_open_target: Callable[[], CallTarget] | None = None
_target: CallTarget | None = None


def by_file(scenarios: Sequence[Scenario]) -> list[list[int]]:
    """The indexes of `scenarios` grouped by file, files in the order they first appear."""
    groups: dict[str, list[int]] = {}
    for index, scenario in enumerate(scenarios):
        groups.setdefault(str(scenario.file), []).append(index)
    return list(groups.values())


class FilePool:
    """`jobs` worker processes, each with the target `open_target()` builds for it."""

    def __init__(self, open_target: Callable[[], CallTarget], jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        # fork: a worker starts with what this process has imported; where there is none,
        # spawn (then `open_target` must be picklable: a module-level function or a partial).
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._executor = ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context(method), initializer=_start, initargs=(open_target,)
        )
        # The processes start now (with fork, all at the first task): before the caller opens
        # anything of its own that a forked child must not share, such as a database connection.
        self._executor.submit(_ready)

    def __enter__(self) -> FilePool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def run(
        self,
        scenarios: Sequence[Scenario],
        *,
        workers: int,
        signer: Signer | None,
        on_result: Callable[[ScenarioResult], None] | None = None,
    ) -> list[ScenarioResult]:
        """Run `scenarios` a file per task; results in the order of `scenarios`, each holding
        the caller's own Scenario object; `on_result` sees each file's results as it ends."""
        files = by_file(scenarios)
        futures: list[tuple[list[int], Future[list[ScenarioResult]]]] = [
            (group, self._executor.submit(_run, [scenarios[i] for i in group], workers, signer))
            for group in files
        ]
        results: list[ScenarioResult | None] = [None] * len(scenarios)
        for group, future in futures:
            for index, result in zip(group, future.result(), strict=True):
                result.scenario = scenarios[index]  # the caller's, not a copy from the pickle
                results[index] = result
                if on_result is not None:
                    on_result(result)
        return [r for r in results if r is not None]


def _start(open_target: Callable[[], CallTarget]) -> None:
    global _open_target
    _open_target = open_target


def _ready() -> None:
    """A task that does nothing: it makes the pool start its processes."""


def _run(scenarios: list[Scenario], workers: int, signer: Signer | None) -> list[ScenarioResult]:
    global _target
    if _target is None:
        if _open_target is None:
            raise RuntimeError("this worker was not started by a FilePool")
        # Opened in the first task rather than at start-up: what goes wrong then reaches the
        # caller as it is, not as a broken pool. Its start-up notes (a database created, say)
        # are the run's, told once by the process that started it; warnings still show.
        before = logging.root.manager.disable
        logging.disable(max(before, logging.INFO))
        try:
            _target = _open_target()
        finally:
            logging.disable(before)
    return run_scenarios(scenarios, _target, workers=workers, signer=signer)


#: Scenarios from which a run spreads over every core by default. A process costs ~0.3 s to
#: start (an app of its own, the shared database) and a scenario ~6 ms in-process, so a smaller
#: suite ends sooner in one process: bench/run.py measures both sides of it.
PARALLEL_FROM = 200


def cores() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, multiprocessing.cpu_count())


def default_jobs(scenarios: int) -> int:
    """One process per core for a suite of PARALLEL_FROM scenarios or more, else one."""
    return cores() if scenarios >= PARALLEL_FROM else 1
