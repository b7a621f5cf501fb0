#!/usr/bin/env python3
"""Per-request speed of the full short-polling model against bare SimPy (issue 2, docs/design.md §7).

Runs the same scenario (10,000 clients, 5 s interval, 10 simulated minutes, 4 workers,
1 ms exponential service, 25 ms one way) through the full model (``simulator.run``, what
``sim run`` executes) and through ``reference_simpy.py`` (the bare SimPy loop of
``shared/bench/baseline_simpy.py``), alternating, each in a fresh subprocess so that peak
memory is measured per run.  Prints requests per wall-second of each, their ratio
(target >= 1.0), SimPy events per request and the model's peak RSS (target < 500 MiB).

    python benchmarks/bench_requests.py [--rounds 3] [--clients 10000] [--duration 600]

``--memory-scaling`` also runs 100,000 clients for two durations to show that the
metrics' memory does not grow with the number of deliveries.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _model(clients: int, duration: float, queue: mp.Queue) -> None:
    import simulator
    from benchmarks.scenarios import polling_scenario

    config = polling_scenario(clients, duration)
    t0 = time.perf_counter()
    result = simulator.run(config)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put(
        {
            "requests": result.metrics["requests.total"],
            "deliveries": result.metrics["deliveries.delivered"],
            "wall": wall,
            "events": result.run.get("simpy_events", result.run["events_processed"]),
            "rss": peak,
        }
    )


def _reference(clients: int, duration: float, queue: mp.Queue) -> None:
    sys.path.insert(0, str(HERE))
    from reference_simpy import polling

    n, wall = polling(clients, 5.0, duration, 0.025, 4, 0.001, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put({"requests": n, "wall": wall, "rss": peak})


def _in_subprocess(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--duration", type=float, default=600.0, help="simulated seconds")
    p.add_argument("--memory-scaling", action="store_true")
    a = p.parse_args()
    model_rates, ref_rates = [], []
    for r in range(a.rounds):
        m = _in_subprocess(_model, a.clients, a.duration)
        ref = _in_subprocess(_reference, a.clients, a.duration)
        model_rates.append(m["requests"] / m["wall"])
        ref_rates.append(ref["requests"] / ref["wall"])
        print(
            f"round {r + 1}: model {m['requests']:,} requests in {m['wall']:.2f} s"
            f" = {model_rates[-1]:,.0f}/s ({m['events'] / m['requests']:.2f} SimPy events/request,"
            f" peak RSS {m['rss'] / 2**20:.0f} MiB) | reference {ref['requests']:,} in"
            f" {ref['wall']:.2f} s = {ref_rates[-1]:,.0f}/s (peak RSS {ref['rss'] / 2**20:.0f} MiB)"
        )
    ratio = statistics.median(model_rates) / statistics.median(ref_rates)
    print(
        f"median: model {statistics.median(model_rates):,.0f} requests/s,"
        f" reference {statistics.median(ref_rates):,.0f} requests/s, ratio {ratio:.2f}x (target >= 1.0)"
    )
    if a.memory_scaling:
        for duration in (60.0, 240.0):
            m = _in_subprocess(_model, 100_000, duration)
            print(
                f"100,000 clients, {duration:.0f} s: {m['deliveries']:,} deliveries,"
                f" peak RSS {m['rss'] / 2**20:.0f} MiB"
            )


if __name__ == "__main__":
    main()
