"""Running a validation suite: every (scenario, replication) once, in parallel, deterministically.

The cases of a suite share scenarios (the short-polling delay and request-rate
rows come from the same runs), so the suite first collects the distinct
``(scenario, replication)`` tasks, runs each exactly once, then judges every
case from the metrics.  Tasks run on a local process pool (``workers`` > 1) or
in this process; the results do not depend on which, nor on the order in which
tasks finish, because each task's seed is fixed by its replication number.
A simulation task is a sweep task (:class:`simulator.workflow.grid.Task`, run by
:func:`simulator.workflow.grid.run_task`): the very run ``sim sweep`` would do
for that config and seed.  Function scenarios (building blocks checked
without a run) share the same pool.

A task that raises (a config error, books that do not balance) does not stop
the suite: the cases that need it fail with the error as their note.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from simulator.config import registry, set_dotted
from simulator.validation.core import (
    Case,
    Metrics,
    Scenario,
    Verdict,
    decide,
    measure_case,
    skipped,
)
from simulator.workflow.grid import Task, run_task

TaskKey = tuple[str, int]  # (scenario key, replication)


def replication_seed(replication: int) -> int:
    """The experiment seed of replication ``replication`` (0-based), the same in every scenario."""
    return replication + 1


def sweep_task(scenario: Scenario, replication: int) -> Task:
    """The sweep task that runs replication ``replication`` of a simulation scenario."""
    data: dict = {}
    for key, value in scenario.overrides:
        set_dotted(data, key, value)
    seed = replication_seed(replication)
    return Task(data, f"validation:{scenario.key}", scenario.key, replication, seed)


def run_scenario(scenario: Scenario, replication: int) -> Metrics:
    """Simulate one replication of ``scenario`` and return its flat metrics (raises on error)."""
    result = _task(scenario, replication)
    if isinstance(result, str):
        raise RuntimeError(result)
    return result


def _task(scenario: Scenario, replication: int) -> Metrics | str:
    # Errors travel back as text: a failing run fails its cases, not the suite.
    where = f"{scenario.key} (replication {replication})"
    if scenario.function is None:
        record = run_task(sweep_task(scenario, replication))
        if record["status"] != "ok":
            return f"error in {where}: {record['error']}"
        return record["metrics"]
    try:
        return scenario.function(replication_seed(replication))
    except Exception as exc:  # noqa: BLE001 - reported in the table
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return f"error in {where}: {last}"


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_cases(
    cases: Sequence[Case],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    familywise: bool = True,
) -> list[Verdict]:
    """Run what ``cases`` need and judge each; skipped cases need no run.

    ``progress(done, total)`` is called after each finished task;
    ``familywise`` controls the suite's chance-failure rate (see
    :func:`~simulator.validation.core.decide`).
    """
    available = set(registry.kinds())
    scenarios: dict[str, Scenario] = {}
    tasks: set[TaskKey] = set()
    missing: dict[str, list[str]] = {}
    for case in cases:
        lacking = [k for k in case.requires if k not in available]
        if lacking:
            missing[case.name] = lacking
            continue
        for s in case.scenarios:
            known = scenarios.setdefault(s.key, s)
            if known != s:
                raise ValueError(f"two different scenarios share the key {s.key!r}")
            tasks.update((s.key, r) for r in range(case.replications))
    # Biggest first: the pool's tail is then short tasks, not one long straggler.
    order = sorted(tasks, key=lambda t: (-scenarios[t[0]].cost, t))
    results: dict[TaskKey, Metrics | str] = {}
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1 or len(order) <= 1:
        for i, (key, rep) in enumerate(order):
            results[(key, rep)] = _task(scenarios[key], rep)
            if progress:
                progress(i + 1, len(order))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(order))) as pool:
            futures = {pool.submit(_task, scenarios[key], rep): (key, rep) for key, rep in order}
            for i, future in enumerate(as_completed(futures)):
                results[futures[future]] = future.result()
                if progress:
                    progress(i + 1, len(order))
    verdicts = []
    for case in cases:
        if case.name in missing:
            verdicts.append(skipped(case, missing[case.name]))
            continue
        per_rep = [[results[(s.key, r)] for s in case.scenarios] for r in range(case.replications)]
        errors = [m for rep in per_rep for m in rep if isinstance(m, str)]
        if errors:
            verdicts.append(Verdict(case, "fail", note=errors[0]))
            continue
        verdicts.append(measure_case(case, per_rep))
    decide(verdicts, familywise)
    return verdicts
