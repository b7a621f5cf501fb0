"""Long polling on the persistent block's arrays against the path it replaced, over seeds.

Moving held polls onto per-node subscriber arrays may change the order in which
the polls held on one node are answered by a publish (who is written first in a
burst), so single runs may differ from the old path while every distribution must
stay the same.  ``long_poll_baseline.json`` holds the old path's per-seed metrics
(recorded with ``python tests/test_long_poll_arrays.py --record`` before the
change) for three small configs that exercise the shared feeds, a crash, churn,
the balancer's idle cut and drain.  For each metric the new path's mean over the
same seeds must lie within a 99.9 % two-sample Student-t (Welch) band of the
recorded mean; a metric that never varied must be equal.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from simulator.config import validate_config
from simulator.engine.runner import run

BASELINE = Path(__file__).with_name("long_poll_baseline.json")
SEEDS = range(1, 21)
METRICS = (
    "latency.mean",
    "latency.p50",
    "requests.total",
    "requests.empty_fraction",
    "network.bytes_down",
    "network.bytes_up",
    "deliveries.delivered",
    "deliveries.lost",
    "connections.dropped",
    "reconnects.total",
)


def _base(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "experiment": {"duration": "40s", "warmup": "5s", "sample_every": "5s"},
        "clients": {"count": 40, "connect_over": "3s"},
        "mechanism": {"kind": "long_polling", "hold": "4s"},
        "workload": {"rate": 0.3},
        "server": {"nodes": 2, "workers": 2},
        "network": {"latency": {"dist": "exponential", "mean": "20ms"}},
    }
    for section, values in extra.items():
        config[section] = {**config.get(section, {}), **values}
    return config


CONFIGS: dict[str, dict[str, Any]] = {
    # every poll waits on one feed; node 0 crashes mid-window
    "broadcast_crash": {
        **_base(workload={"pattern": "broadcast"}),
        "failures": [{"kind": "node_crash", "node": 0, "at": "20s", "duration": "5s"}],
    },
    # topics, clients going offline and back, the balancer cutting holds at 3 s
    "topics_churn_idle_cut": _base(
        workload={"pattern": "topics", "topics": 3},
        clients={"session": "15s", "offline": "5s"},
        cluster={"idle_timeout": "3s"},
    ),
    # per-client feeds, a crash noticed late (dead peer), connections aged out
    "per_client_dead_peer": {
        **_base(workload={"pattern": "per_client", "rate": 0.5}, cluster={"max_connection_age": "10s"},
                network={"dead_peer_timeout": "2s"}),
        "failures": [{"kind": "node_crash", "node": 1, "at": "15s", "duration": "4s"}],
    },
}


def per_seed(name: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in METRICS}
    for seed in SEEDS:
        config = json.loads(json.dumps(CONFIGS[name]))
        config["experiment"]["seed"] = seed
        m = run(validate_config(config)).metrics
        for k in METRICS:
            out[k].append(float(m[k]))
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_new_path_matches_the_recorded_one_in_distribution(name: str):
    old = json.loads(BASELINE.read_text())[name]
    new = per_seed(name)
    for k in METRICS:
        a, b = np.asarray(old[k]), np.asarray(new[k])
        if a.std() == 0 and b.std() == 0:
            assert a[0] == b[0], (name, k, a[0], b[0])
            continue
        n = len(a)
        se = math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
        half = stats.t.ppf(0.9995, 2 * n - 2) * se
        assert abs(a.mean() - b.mean()) <= half, (name, k, a.mean(), b.mean(), half)


if __name__ == "__main__" and "--record" in sys.argv:
    BASELINE.write_text(json.dumps({name: per_seed(name) for name in sorted(CONFIGS)}, indent=1) + "\n")
