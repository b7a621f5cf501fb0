"""Shared small fixtures: fast configs and runs.

``small_config(**overrides)`` is a config of a few dozen clients for a short
simulated time (well under a second of wall time), with dotted-key overrides
as ``--set`` takes them; ``run_metrics(...)`` runs one and returns its metrics.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from simulator.config import ExperimentConfig, load_config
from simulator.engine.runner import run

#: A quick experiment: 40 clients, 2 s interval, 60 s measured after 10 s of warm-up.
SMALL: dict[str, Any] = {
    "experiment.name": "test",
    "experiment.duration": "60s",
    "experiment.warmup": "10s",
    "clients.count": 40,
    "clients.connect_over": "2s",
    "mechanism.interval": "2s",
    "workload.rate": 0.5,
}


def make_config(overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> ExperimentConfig:
    """``SMALL`` (or ``base``) with ``overrides`` applied, validated."""
    values = dict(SMALL if base is None else base)
    values.update(overrides or {})
    return load_config(None, values)


def run_metrics(overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> dict[str, float]:
    """The metrics of one run of :func:`make_config` (books checked by the runner)."""
    return run(make_config(overrides, base)).metrics


@pytest.fixture
def small_config():
    return make_config


@pytest.fixture
def write_toml(tmp_path):
    """Write TOML text to a file in ``tmp_path``; returns its path."""

    def write(text: str, name: str = "exp.toml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def drive_search(search, answer: int, cap: int) -> list[int]:
    """Run a NodeSearch against a fleet that passes from ``answer`` nodes up; the sizes it tried.

    Checks what every search owes: no size twice, each within 1..cap, the fewest passing
    size found (None above the cap), and the size below it seen failing.
    """
    seen: list[int] = []
    while (nodes := search.next()) is not None:
        assert nodes not in seen and 1 <= nodes <= cap
        seen.append(nodes)
        search.feed(nodes, nodes >= answer)
    assert search.nodes == (answer if answer <= cap else None)
    if search.nodes and search.nodes > 1:
        assert search.passed[search.nodes - 1] is False  # the binding constraint was seen
    return seen


def count_plan_runs(monkeypatch) -> list[int]:
    """Make the plan's executor the real one, counting the simulations of each round; the counts."""
    from simulator.workflow import planner
    from simulator.workflow import sweep as sweep_exec

    real = sweep_exec.execute
    sent: list[int] = []

    def counting(tasks, workers, scheduler, emit):
        sent.append(len(tasks))
        return real(tasks, workers, scheduler, emit)

    monkeypatch.setattr(planner, "execute", counting)
    return sent


@pytest.fixture
def runs(monkeypatch):
    """Counts the simulations a plan sends to the sweep executor, per round (it runs every one through it)."""
    return count_plan_runs(monkeypatch)


#: A plan small enough for the suite: 100 clients on nodes of 40 connection slots, so
#: 3 nodes hold them all (ceil(100 / 40)) and 30 fit on 1.
PLAN_CONFIG = """
[experiment]
duration = "20s"
warmup = "5s"
drain = "5s"
[clients]
count = 100
connect_over = "2s"
[mechanism]
kind = "short_polling"
interval = "1s"
[server]
max_connections = 40
"""


@pytest.fixture
def cfg(write_toml):
    """:data:`PLAN_CONFIG` written to a file; its path."""
    return write_toml(PLAN_CONFIG)


@pytest.fixture
def interrupt_second_round(monkeypatch):
    """The plan's executor raises KeyboardInterrupt in its second round (a Ctrl-C mid-plan).

    Returns ``resume``: it puts back a real executor that counts the runs of each
    round (:func:`count_plan_runs`), and returns that list.
    """
    from simulator.workflow import planner
    from simulator.workflow import sweep as sweep_exec

    real = sweep_exec.execute
    rounds: list[int] = []

    def interrupted(tasks, workers, scheduler, emit):
        rounds.append(len(tasks))
        if len(rounds) == 2:
            raise KeyboardInterrupt
        return real(tasks, workers, scheduler, emit)

    monkeypatch.setattr(planner, "execute", interrupted)

    return lambda: count_plan_runs(monkeypatch)

