"""Short polling on the poll calendar: same metrics in distribution as the process-per-client path.

``short_polling_fixture.json`` holds per-seed metrics of the former path (one
SimPy process per client, commit 203bfbb), recorded with
``PYTHONPATH=<old checkout> python tests/test_short_polling_calendar.py --record``
for three small configs that exercise what the calendar must keep: fixed and
after_response schedules, kept-alive and closed connections, idle-outs, a
crash, churn, random latency and intervals.

For each config and metric, the new path over the same seeds must pass a
two-sample Welch t-test on the means at the 0.1 % level (p > 0.001): a real
difference of a fraction of a standard error would fail it, while with equal
distributions 27 comparisons give a ~3 % chance of a false alarm.  The seeds
are fixed, so the test is deterministic.  (Arrivals reach the node in the same
time order as the processes did and draw the same random streams, so in fact
the per-seed values are identical; the test does not rely on that.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from simulator.config import load_config
from simulator.engine.runner import run

FIXTURE = Path(__file__).with_name("short_polling_fixture.json")
SEEDS = tuple(range(1, 17))
METRICS = (
    "latency.mean",
    "requests.total",
    "requests.empty_fraction",
    "network.bytes_down",
    "network.bytes_up",
    "connections.opened",
    "deliveries.delivered",
    "server.queue_wait_mean",
    "reconnects.total",
)
COMMON: dict[str, Any] = {
    "experiment.duration": 45,
    "experiment.warmup": 5,
    "experiment.sample_every": "5s",
    "clients.count": 30,
    "clients.connect_over": "2s",
    "workload.rate": 0.2,
    "network.latency": {"dist": "exponential", "mean": "25ms"},
    "server.workers": 1,
    "server.request_cost": {"dist": "exponential", "mean": "20ms"},
}
CONFIGS: dict[str, dict[str, Any]] = {
    "fixed_keep_alive": {"mechanism.interval": "2s"},
    "after_response_closed": {
        "mechanism.schedule": "after_response",
        "mechanism.interval": {"dist": "exponential", "mean": "2s"},
        "http.keep_alive": False,
        "workload.pattern": "topics",
        "workload.topics": 3,
    },
    "fixed_idle_crash_churn": {
        "mechanism.interval": {"dist": "uniform", "low": "1s", "high": "3s"},
        "http.keep_alive_timeout": "1.5s",
        "server.nodes": 2,
        "cluster.balancer": "least_connections",
        "failures": [{"kind": "node_crash", "node": 0, "at": "25s", "duration": "8s"}],
        "clients.session": "20s",
        "clients.offline": "5s",
    },
}


def measure(name: str) -> dict[str, list[float]]:
    runs = [run(load_config(None, {**COMMON, **CONFIGS[name], "experiment.seed": s})).metrics for s in SEEDS]
    return {key: [float(m[key]) for m in runs] for key in METRICS}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_distribution_as_process_per_client(name: str) -> None:
    old = json.loads(FIXTURE.read_text())[name]
    new = measure(name)
    for key in METRICS:
        a, b = np.asarray(old[key]), np.asarray(new[key])
        if a.std() == 0 and b.std() == 0:
            assert a.mean() == pytest.approx(b.mean(), rel=1e-12), f"{name}: {key}"
            continue
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
        assert p > 0.001, f"{name}: {key}: old mean {a.mean():.6g}, new {b.mean():.6g} (Welch p = {p:.2g})"


def test_a_client_between_polls_costs_no_simpy_event() -> None:
    """Polls are calendar entries: a run's SimPy events do not grow with its requests."""
    config = load_config(None, {**COMMON, **CONFIGS["fixed_keep_alive"], "clients.count": 200})
    result = run(config)
    requests = result.metrics["requests.total"]
    assert requests > 4_000
    # the process-per-client path took two events per poll; now only the sampler's
    # (one per 5 s window) and a handful of calendar wake-ups remain
    assert result.run.get("simpy_events", result.run["events_processed"]) < 0.01 * requests


if __name__ == "__main__" and "--record" in sys.argv:
    FIXTURE.write_text(json.dumps({name: measure(name) for name in sorted(CONFIGS)}, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
