"""server.idle_cpu: the workers get (1 - b) of their cores, the node reports b + the work.

An M/M/1 node (Poisson polls, exponential cost, as in simulator/validation/cases_queueing.py)
with idle_cpu = b is an M/M/1 queue of service rate mu (1 - b): Wq = rho s / (1 - rho) with
s = E[cost] / (1 - b) and rho = lambda s.  Its CPU is b + lambda E[cost] in expectation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from simulator.config import ConfigError, load_config
from simulator.engine.runner import run
from simulator.testbed.calibrate import calibrate, server_config, server_table
from simulator.validation.theory import mmc_wait
from simulator.workflow.search import pilot_size
from simulator.workflow.slo import parse_slo, pilot_guess

RATE = 350.0  # polls per second (350 clients, exponential gaps of mean 1 s)
COST = 0.001  # mean request cost (exponential), seconds
IDLE = 0.3  # rho = 350 x 1 ms / 0.7 = 0.5 (0.35 without the stretch)
DURATION = 20.0
SEEDS = (1, 2, 3, 4, 5)


def _mm1(idle: float, seed: int, **extra):
    values = {
        "experiment.seed": seed,
        "mechanism.kind": "short_polling",
        "mechanism.interval": {"dist": "exponential", "mean": 1.0},
        "clients.count": int(RATE),
        "server.workers": 1,
        "server.request_cost": {"dist": "exponential", "mean": COST},
        "network.latency": 0,
        "network.bandwidth": "100Gbps",
        "http.keep_alive_timeout": "10h",
        "workload.rate": 0.1,
        "clients.connect_over": 1,
        "experiment.warmup": 5,
        "experiment.duration": DURATION,
        **extra,
    }
    if idle:
        values["server.idle_cpu"] = idle
    return run(load_config(None, values)).metrics


@pytest.fixture(scope="module")
def mm1_runs():
    return [_mm1(IDLE, seed) for seed in SEEDS]


def test_mm1_wait_uses_the_reduced_service_rate(mm1_runs):
    waits = np.array([m["server.queue_wait_mean"] for m in mm1_runs])
    expected = mmc_wait(RATE, COST / (1 - IDLE), 1)  # 1.43 ms; 0.54 ms without the stretch
    # 99.9 % t interval of the mean over independent seeds (each run's mean is ~normal:
    # 7,000 waits, relaxation time ~12 services at rho = 0.5)
    half = stats.t.ppf(0.9995, len(SEEDS) - 1) * waits.std(ddof=1) / math.sqrt(len(SEEDS))
    assert abs(waits.mean() - expected) <= half
    assert abs(waits.mean() - mmc_wait(RATE, COST, 1)) > half  # the unstretched queue is ruled out


def test_cpu_is_idle_plus_the_work(mm1_runs):
    cpu = np.array([m["server.cpu_utilization"] for m in mm1_runs])
    expected = IDLE + RATE * COST
    # the work in T seconds is a compound Poisson sum of exponential costs:
    # sd = sqrt(2 lambda T) E[cost] / T per run; 4 sd of the mean over seeds
    sd = math.sqrt(2 * RATE * DURATION) * COST / DURATION / math.sqrt(len(SEEDS))
    assert abs(cpu.mean() - expected) <= 4 * sd
    for m in mm1_runs:
        assert IDLE <= m["server.cpu_utilization_peak"] <= 1.0
        assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]


def test_overloaded_node_peaks_at_one():
    # 350 polls/s x 2.5 ms / 0.7 = 1.25 of the workers: saturated, CPU pinned at 1, never above
    m = _mm1(IDLE, 1, **{"server.request_cost": {"dist": "exponential", "mean": 0.0025},
                         "experiment.duration": 5.0})
    assert m["server.cpu_utilization"] == pytest.approx(1.0, abs=0.02)
    assert m["server.cpu_utilization_peak"] <= 1.0 + 1e-12


def test_no_idle_cpu_while_crashed():
    # one quiet node (a single client) down 2 s of the 10 s window: idle CPU 8 s of 10
    m = _mm1(IDLE, 1, **{"clients.count": 1, "experiment.duration": 10.0,
                         "failures": [{"kind": "node_crash", "node": 0, "at": 8.0, "duration": 2.0}]})
    assert m["server.cpu_utilization"] == pytest.approx(IDLE * 0.8, abs=0.002)  # + ~1 ms/s of polls


def test_zero_is_the_default_and_out_of_range_is_refused():
    assert load_config(None, {}).server.idle_cpu == 0.0
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="server.idle_cpu"):
            load_config(None, {"server.idle_cpu": bad})


def test_calibrate_fits_and_writes_idle_cpu_from_three_runs(tmp_path):
    # cpu = 80us x requests + 20us x messages + 0.1 x seconds exactly: the fit gives all three back
    duration = load_config(None, {}).experiment.duration
    runs = {"a": ("short_polling", 10_000, 0), "b": ("sse", 1_000, 20_000), "c": ("short_polling", 3_000, 0)}
    for name, (kind, requests, messages) in runs.items():
        _fake_run(tmp_path / name, kind, requests, messages, 80e-6 * requests + 20e-6 * messages + 0.1 * duration)
    fit = calibrate([tmp_path / name for name in runs])
    assert fit["idle_cpu"]["cpu_fraction"] == pytest.approx(0.1)
    assert fit["request_cost_mean"] == pytest.approx(80e-6)
    assert fit["message_cost"] == pytest.approx(20e-6)
    assert all(abs(r["residual_fraction"]) < 1e-9 for r in fit["runs"])
    tables = server_config(fit)
    assert tables["server"]["idle_cpu"] == pytest.approx(0.1)
    assert "idle_cpu = 0.1" in server_table(fit)
    assert load_config(None, {"server.idle_cpu": tables["server"]["idle_cpu"]}).server.idle_cpu == pytest.approx(0.1)
    # two runs cannot separate it: the [server] table keeps the two costs only
    assert "idle_cpu" not in server_config(calibrate([tmp_path / "a", tmp_path / "b"]))["server"]


def _fake_run(folder, kind, requests, messages, cpu):
    folder.mkdir()
    config = load_config(None, {"mechanism.kind": kind}).to_dict()
    metrics = {"requests.total": requests, "messages.pushed": messages, "messages.heartbeats": 0,
               "messages.upstream": 0, "network.bytes_up": 0.0, "network.bytes_down": 0.0,
               "deliveries.delivered": 0, "deliveries.duplicates": 0}
    run = {"testbed": True, "server_cpu_seconds": cpu}
    (folder / "summary.json").write_text(json.dumps({"metrics": metrics, "config": config, "run": run}))
    (folder / "samples.csv").write_text("time,open_connections,server_rss_bytes,server_cpu_seconds\n0,0,60000000,0\n")


def test_plan_pilot_scales_the_work_not_the_idle_cpu():
    # 200 polls/s of 2 ms + 1 ms shared-state read on single-worker nodes: the work is
    # 0.6 / n of a core per node, so CPU = 0.2 + 0.6 / n with idle_cpu = 0.2; the pilot
    # (20 clients on 2 nodes: CPU 0.23) must guess the fewest nodes under each target
    base = {"experiment.duration": "10s", "experiment.warmup": "2s", "experiment.drain": "1s",
            "clients.count": 200, "clients.connect_over": "1s", "mechanism.interval": "1s",
            "server.workers": 1, "server.request_cost": "2ms", "cluster.store_cost": "1ms",
            "server.max_connections": 100_000, "server.idle_cpu": 0.2}
    config = load_config(None, base)
    clients, nodes = pilot_size(config, scale=10)
    pilot = run(load_config(None, {**base, "clients.count": clients, "server.nodes": nodes})).metrics
    assert pilot["server.cpu_utilization"] == pytest.approx(0.2 + 0.6 / 20, rel=0.05)
    for target, answer in ((0.45, 3), (0.33, 5), (0.29, 7)):  # 0.2 + 0.6 / n <= target, none on a boundary
        guess, why = pilot_guess(config, [parse_slo(f"server.cpu_utilization<={target}")], False, clients, nodes, pilot)
        assert guess == answer and why == "cpu", (target, guess)
