#!/usr/bin/env python3
"""Parallel efficiency of `sim sweep` and the per-point overhead of its executors (issue 4).

A 16-point sweep (short polling, 2,000 clients polling every second for 30
simulated seconds, 16 values of network.latency: equal work per point) runs in
process (1 worker) and on a process pool of 2 workers, alternating, ``--rounds``
times.  Reports:

- wall time of each, and parallel efficiency = T(1 worker) / (2 x T(2 workers))
  (target >= 90 % on an otherwise idle 2-core machine);
- the executor's overhead per point: wall time not spent inside the runs
  (sum of the runs' own wall times), per point, for 1 worker, 2 workers and,
  with ``--dask``, a Dask LocalCluster of 2 worker processes;
- the same overhead measured on trivial points (1 client, 1 simulated second),
  where the runs themselves cost almost nothing;
- the cores actually free, from a CPU-bound reference (one busy loop alone vs
  two at once) timed around every round, and the speedup relative to them.

The machine's load average is printed first: on a shared machine the
efficiency is bounded by the cores other processes leave free.

    python benchmarks/bench_sweep.py [--rounds 2] [--clients 2000] [--dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.workflow.grid import make_plan
from simulator.workflow.sweep import run_sweep

POINTS = 16


def plan(clients: int, duration: str):
    base = {
        "experiment": {"name": "bench_sweep", "duration": duration, "warmup": "2s", "seed": 1},
        "clients": {"count": clients, "connect_over": "1s"},
        "mechanism": {"kind": "short_polling", "interval": "1s"},
    }
    latencies = [f"{10 + 5 * i}ms" for i in range(POINTS)]
    return make_plan(base, grid={"network.latency": latencies}, replications=1)


def _spin(n: int = 8_000_000) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i & 7
    return time.perf_counter() - t0


def free_cores() -> float:
    """How many cores two CPU-bound processes actually get right now (2.0 when idle).

    The same busy loop alone, then twice at once in two processes: a reference
    measured in the same run, so a shared machine's load can be told apart
    from the executor's own losses.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [10_000] * 2))  # start the workers
        alone = pool.submit(_spin).result()
        t0 = time.perf_counter()
        list(pool.map(_spin, [8_000_000] * 2))
        both = time.perf_counter() - t0
    return min(2.0, 2 * alone / both)


def timed(p, workers: int, scheduler=None, out=None) -> tuple[float, float]:
    """(wall seconds, sum of the runs' own wall seconds)."""
    t0 = time.perf_counter()
    outcome = run_sweep(p, out, workers, scheduler, force=out is not None)
    wall = time.perf_counter() - t0
    assert outcome.counts["runs_ok"] == POINTS, outcome.counts
    inside = sum(r["wall_seconds"] for r in outcome.store.records.values())
    return wall, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster (2 processes)")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average (1/5/15 min): "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))

    work = plan(args.clients, "30s")
    one, two, cores = [], [], []
    for _ in range(args.rounds):
        cores.append(free_cores())
        one.append(timed(work, 1))
        two.append(timed(work, 2))
        cores.append(free_cores())
    t1 = statistics.median(w for w, _ in one)
    t2 = statistics.median(w for w, _ in two)
    run_mean = statistics.median(inside for _, inside in one) / POINTS
    print(f"\n{POINTS} points x {args.clients:,} clients, median of {args.rounds} rounds;"
          f" one run takes {run_mean:.3f} s in process")
    print(f"  1 worker  (in process): {t1:7.2f} s")
    print(f"  2 workers (processes):  {t2:7.2f} s   speedup {t1 / t2:.2f}x,"
          f" parallel efficiency {t1 / (2 * t2):.0%} (target >= 90 %)")
    free = statistics.median(cores)
    print(f"  free cores measured around the rounds (busy-loop reference): {free:.2f} of 2;"
          f" speedup / free cores = {t1 / t2 / free:.0%}")
    inflation = statistics.median(i for _, i in two) / statistics.median(i for _, i in one)
    print(f"  a run inside the pool took {inflation:.2f}x its in-process wall time: above 1.0 the"
          " two workers did not get two free cores (other processes, memory bandwidth)")
    for label, rows, workers in (("1 worker", one, 1), ("2 workers", two, 2)):
        over = statistics.median((workers * w - inside) / POINTS for w, inside in rows)
        print(f"  overhead per point, {label}: {over * 1e3:7.1f} ms"
              f"  (wall x workers - time inside runs, / points)")

    trivial = plan(1, "1s")
    for label, workers in (("1 worker", 1), ("2 workers", 2)):
        wall, inside = min((timed(trivial, workers) for _ in range(3)), key=lambda x: x[0])
        print(f"  trivial points (1 client, 1 s), {label}: {wall / POINTS * 1e3:6.1f} ms wall per point")

    with tempfile.TemporaryDirectory() as tmp:
        wall, _ = min((timed(trivial, 2, out=Path(tmp) / "sweep") for _ in range(3)), key=lambda x: x[0])
        print(f"  trivial points, 2 workers, writing the sweep folder (records, CSVs, manifest):"
              f" {wall / POINTS * 1e3:6.1f} ms wall per point")

    if args.dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            timed(trivial, 2, client)  # warm the workers' imports
            wall, inside = timed(work, 2, client)
            print(f"  Dask LocalCluster (2 processes): {wall:7.2f} s, efficiency {t1 / (2 * wall):.0%},"
                  f" overhead per point {(2 * wall - inside) / POINTS * 1e3:.1f} ms")
            wall, inside = min((timed(trivial, 2, client) for _ in range(3)), key=lambda x: x[0])
            print(f"  Dask trivial points: {wall / POINTS * 1e3:6.1f} ms wall per point")


if __name__ == "__main__":
    main()
