"""Running a validation suite: every (scenario, replication) once, in parallel, deterministically.

The cases of a suite share scenarios (the short-polling delay and request-rate
rows come from the same runs), so the suite first collects the distinct
``(scenario, replication)`` tasks, runs each exactly once, then judges every
case from the metrics.  Tasks run on the executor sweeps use
(:mod:`simulator.workflow.executor`: in this process, or a process pool when
``workers`` > 1, with the same Ctrl-C and lost-worker handling); the results
do not depend on which, nor on the order in which tasks finish, because each
task's seed follows the sweeps' replication-seed rule
(:func:`simulator.workflow.grid.replication_seed`).  A simulation task is a sweep
task (:class:`simulator.workflow.grid.Task`, run by
:func:`simulator.workflow.grid.run_task`): the very run ``sim sweep`` would do
for that config and replication.  Function scenarios (building blocks checked
without a run) share the same executor.

A task that raises (a config error, books that do not balance) does not stop
the suite: the cases that need it fail with the error as their note.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Sequence

from simulator.config import ExperimentSection, registry, set_dotted, validate_config
from simulator.validation.core import (
    Case,
    Metrics,
    Scenario,
    Verdict,
    decide,
    measure_case,
    skipped,
)
from simulator.workflow.executor import default_workers, run_all
from simulator.workflow.grid import Task, replication_seed, run_task, workload_of

TaskKey = tuple[str, int]  # (scenario key, replication)


#: The base seed of every scenario (the default ``experiment.seed``).
BASE_SEED = ExperimentSection().seed


def sweep_task(scenario: Scenario, replication: int) -> Task:
    """The sweep task that runs replication ``replication`` of a simulation scenario.

    Its seed is the one ``sim sweep`` gives that replication of that config:
    scenarios with the same clients and workload share their random numbers
    replication by replication (common random numbers).
    """
    data: dict = {}
    for key, value in scenario.overrides:
        set_dotted(data, key, value)
    source = f"validation:{scenario.key}"
    config = validate_config(copy.deepcopy(data), source)
    seed = replication_seed(config.experiment.seed, workload_of(config), replication)
    return Task(data, source, scenario.key, replication, seed)


def function_seed(replication: int) -> int:
    """The seed of replication ``replication`` of a function scenario (the same rule, no workload)."""
    return replication_seed(BASE_SEED, {}, replication)


def run_scenario(scenario: Scenario, replication: int) -> Metrics:
    """Simulate one replication of ``scenario`` and return its flat metrics (raises on error)."""
    result = _task(scenario, replication)
    if isinstance(result, str):
        raise RuntimeError(result)
    return result


def _task(scenario: Scenario, replication: int) -> Metrics | str:
    # Errors travel back as text: a failing run fails its cases, not the suite.
    where = f"{scenario.key} (replication {replication})"
    try:
        if scenario.function is None:
            record = run_task(sweep_task(scenario, replication))
            if record["status"] != "ok":
                return f"error in {where}: {record['error']}"
            return record["metrics"]
        return scenario.function(function_seed(replication))
    except Exception as exc:  # reported in the table (a bad scenario config, a failing function)
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return f"error in {where}: {last}"


def _run_item(item: tuple[Scenario, int]) -> Metrics | str:
    return _task(*item)


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

    def done(item: tuple[Scenario, int], value: Metrics | str) -> None:
        results[(item[0].key, item[1])] = value
        if progress:
            progress(len(results), len(order))

    def lost(item: tuple[Scenario, int], reason: str) -> None:
        done(item, f"error in {item[0].key} (replication {item[1]}): {reason}")

    run_all(_run_item, [(scenarios[key], rep) for key, rep in order], done, workers=workers, on_lost=lost)
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
