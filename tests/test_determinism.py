"""Same config and seed give identical metrics; another seed gives other metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulator.config import load_config
from simulator.engine.runner import run

# Randomness from every source: intervals, latencies, service times, topics, a crash.
NOISY = {
    "experiment.duration": "60s",
    "experiment.warmup": "10s",
    "clients.count": 60,
    "clients.connect_over": "2s",
    "server.nodes": 2,
    "cluster.balancer": "least_connections",
    "mechanism.interval": {"dist": "exponential", "mean": "1.5s"},
    "network.latency": {"dist": "lognormal", "median": "20ms", "sigma": 0.5},
    "server.request_cost": {"dist": "exponential", "mean": "2ms"},
    "workload.pattern": "topics",
    "workload.topics": 7,
    "workload.rate": 0.5,
    "failures": [{"kind": "node_crash", "node": 1, "at": "30s", "duration": "10s"}],
}

# Run in a fresh interpreter: the metrics of NOISY with the seed given as argv[2].
CHILD = (
    "import json, sys\n"
    "from simulator.config import load_config\n"
    "from simulator.engine.runner import run\n"
    "values = {**json.loads(sys.argv[1]), 'experiment.seed': int(sys.argv[2])}\n"
    "sys.stdout.write(json.dumps(run(load_config(None, values)).metrics, sort_keys=True))\n"
)


def metrics(seed: int) -> dict[str, float]:
    return run(load_config(None, {**NOISY, "experiment.seed": seed})).metrics


def test_same_seed_identical_metrics() -> None:
    first, second = metrics(11), metrics(11)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_different_seed_different_metrics() -> None:
    a, b = metrics(11), metrics(12)
    assert a["latency.mean"] != b["latency.mean"]
    assert a["deliveries.owed"] != b["deliveries.owed"]
    assert a["network.bytes_down"] != b["network.bytes_down"]


def test_identical_in_another_process() -> None:
    # Another interpreter has another hash seed and import order: the metrics
    # may depend on neither.
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(NOISY), "11"],
        capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
        env={"PYTHONHASHSEED": "12345", "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == json.dumps(metrics(11), sort_keys=True)
