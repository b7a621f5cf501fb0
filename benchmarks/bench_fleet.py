#!/usr/bin/env python3
"""Cost of a changing fleet: a diurnal, autoscaled SSE day vs constant load of the same client-hours (issue 11).

Scenario A: ``--clients`` SSE clients (the peak population), ``--hours`` simulated
(24 h = one diurnal period, so the mean multiplier is exact), ``[profile] kind =
"diurnal"`` with its defaults (peak at 20 h, trough 0.25) on both the online
population and the notification rate, ``[autoscale]`` tracking connections
(target 0.6 of ``max_connections``, 2 to 30 nodes), ``sample_every = 1m``, a 10 s
drain after the window.

Scenario B: the same client-hours at constant load: ``clients.count`` = N x the
diurnal mean (1 + trough) / 2 = 0.625 N, the same per-feed rate, so the same
expected number of notifications (A publishes on N feeds at rate x m(t), B on
0.625 N feeds at rate; over a whole day A's offline clients get their backlog
replayed when they return, so the deliveries match too), the same duration, a
fixed fleet sized for B's load at the autoscaler's target (no profile, no
autoscale).

Both run in this process, alternating A, B over ``--rounds``; each run's wall
seconds and CPU seconds (``time.process_time``, the steadier figure on a shared
machine) are divided by its measured client-hours (``clients.online_mean`` x
hours).  Prints the median ratio A/B of CPU seconds per client-hour (target <= 2)
and the figures that show the runs are comparable (client-hours, deliveries,
node-hours, SimPy events).

    python benchmarks/bench_fleet.py [--quick] [--clients 10000] [--hours 24] [--rounds 3] [--profile]

``--quick``: 1,000 clients, still 24 simulated hours (a whole period keeps the
two runs' notifications and deliveries comparable; over a part of a day, B's count
uses the profile's integral, but A's clients that left and have not come back yet
are owed notifications B delivers).  ``--profile`` prints the top of a cProfile run of A.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.config import load_config
from simulator.engine.profile import LoadProfile
from simulator.engine.runner import run

TARGET_RATIO = 2.0
#: One notification per client every 5 min: enough deliveries to matter, few enough
#: that the fleet machinery (presence, autoscaling, reconnects) is not drowned out.
RATE = 1 / 300
PER_NODE = 1_000  # max_connections per node at 10,000 clients (scaled with --clients)
TARGET = 0.6


def _common(clients: int, hours: float) -> dict:
    per_node = max(10, PER_NODE * clients // 10_000)
    return {
        "experiment.name": "bench_fleet",
        "experiment.duration": f"{hours}h",
        "experiment.warmup": 0,
        "experiment.sample_every": "1m",
        "experiment.drain": "10s",
        "clients.connect_over": "10s",
        "mechanism.kind": "sse",
        "workload.rate": RATE,
        "server.max_connections": per_node,
    }


def diurnal_config(clients: int, hours: float):
    """Scenario A: diurnal profile on clients and rate, autoscaled on connections."""
    per_node = _common(clients, hours)["server.max_connections"]
    start_nodes = max(2, math.ceil(clients * 0.25 / (per_node * TARGET)))
    return load_config(
        None,
        {
            **_common(clients, hours),
            "clients.count": clients,
            "server.nodes": start_nodes,
            "profile": {"kind": "diurnal"},
            "autoscale": {"metric": "connections", "target": TARGET, "min_nodes": 2, "max_nodes": 30,
                          "evaluate_every": "1m", "boot_time": "90s", "drain": "30s"},
        },
    )


def mean_multiplier(config) -> float:
    """Mean of the diurnal multiplier over the window: exactly (1 + trough) / 2 over whole
    periods (the cosine averages to 0), else the profile's integral."""
    p = config.profile
    span = config.experiment.duration
    if math.isclose(span / p.period, round(span / p.period)):
        return (1.0 + p.trough) / 2.0
    return LoadProfile(p).integral(0.0, span) / span


def constant_config(clients: int, hours: float, mean: float):
    """Scenario B: the same client-hours and notifications at constant load on a fixed fleet."""
    online = round(clients * mean)
    per_node = _common(clients, hours)["server.max_connections"]
    return load_config(
        None,
        {
            **_common(clients, hours),
            "clients.count": online,
            "server.nodes": max(2, math.ceil(online / (per_node * TARGET))),
        },
    )


def measure(config, profiler: cProfile.Profile | None = None) -> dict:
    cpu0, t0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    result = run(config)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    m = result.metrics
    hours = config.experiment.duration / 3600
    online = m.get("clients.online_mean", config.clients.count)
    return {
        "wall": wall,
        "cpu": cpu,
        "client_hours": online * hours,
        "deliveries": m["deliveries.delivered"],
        "lost": m["deliveries.lost"],
        "node_hours": m["server.node_hours"],
        "nodes_peak": m["server.nodes_peak"],
        "events": result.run["events_processed"],
        "scale": (m.get("autoscale.scale_outs", 0), m.get("autoscale.scale_ins", 0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1,000 clients, 24 simulated hours")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile run of A")
    a = ap.parse_args()
    if a.quick:
        a.clients, a.hours = 1_000, 24.0
    cfg_a = diurnal_config(a.clients, a.hours)
    mean = mean_multiplier(cfg_a)
    cfg_b = constant_config(a.clients, a.hours, mean)
    print(f"A: {a.clients:,} SSE clients peak, diurnal (trough {cfg_a.profile.trough}, peak at"
          f" {cfg_a.profile.peak_at / 3600:g} h) on clients and rate, autoscale on connections"
          f" {cfg_a.autoscale.min_nodes}-{cfg_a.autoscale.max_nodes} nodes, {a.hours:g} h")
    print(f"B: {cfg_b.clients.count:,} SSE clients constant (= {a.clients:,} x mean multiplier {mean:.4f}),"
          f" {cfg_b.server.nodes} fixed nodes, {a.hours:g} h")
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    for r in range(a.rounds):
        for name, cfg in (("A", cfg_a), ("B", cfg_b)):
            out = measure(cfg)
            runs[name].append(out)
            print(f"round {r + 1} {name}: wall {out['wall']:6.2f} s  CPU {out['cpu']:6.2f} s"
                  f"  client-hours {out['client_hours']:,.0f}  deliveries {out['deliveries']:,.0f}"
                  f" (lost {out['lost']:,.0f})  node-hours {out['node_hours']:.1f} (peak {out['nodes_peak']:.0f})"
                  f"  scale out/in {out['scale'][0]:.0f}/{out['scale'][1]:.0f}  SimPy events {out['events']:,}")

    def per_ch(name: str, key: str) -> float:
        return statistics.median(o[key] / o["client_hours"] for o in runs[name])

    cpu_a, cpu_b = per_ch("A", "cpu"), per_ch("B", "cpu")
    wall_a, wall_b = per_ch("A", "wall"), per_ch("B", "wall")
    ratios = [x["cpu"] / x["client_hours"] / (y["cpu"] / y["client_hours"]) for x, y in zip(runs["A"], runs["B"], strict=True)]
    ratio = statistics.median(ratios)
    print(f"median CPU ms per client-hour:  A {cpu_a * 1e3:.3f}  B {cpu_b * 1e3:.3f}")
    print(f"median wall ms per client-hour: A {wall_a * 1e3:.3f}  B {wall_b * 1e3:.3f}  (ratio {wall_a / wall_b:.2f}x)")
    print(f"median SimPy events per client-hour: A {per_ch('A', 'events'):.1f}  B {per_ch('B', 'events'):.1f}")
    print(f"ratio A/B of CPU per client-hour: {ratio:.2f}x (per round: {', '.join(f'{x:.2f}' for x in ratios)};"
          f" target <= {TARGET_RATIO:g}: {'met' if ratio <= TARGET_RATIO else 'MISSED'})")
    if a.profile:
        profiler = cProfile.Profile()
        measure(cfg_a, profiler)
        pstats.Stats(profiler).sort_stats("cumtime").print_stats(25)


if __name__ == "__main__":
    main()
