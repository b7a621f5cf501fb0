#!/usr/bin/env python3
"""The same M/M/c queue in Ciw and in notifysim: customers per CPU-second, and mean waits (Erlang C).

The scenario is the M/M/4 case of ``sim validate`` (simulator/validation/cases_queueing.py):
320 clients polling with exponential gaps of 0.1 s (Poisson arrivals, 3,200/s), 4 workers,
1 ms exponential service (ρ = 0.8), no network delay, a 20 s warm-up.  Ciw
(https://ciw.readthedocs.io) simulates the same queue: one node, Exponential(3200)
arrivals, Exponential(1000) service, 4 servers.  Each round runs both in this
process, alternating, and measures CPU seconds (``time.process_time``), which
other jobs on a shared machine disturb less than wall time.  Prints customers
served per CPU-second of each, the median ratio (notifysim / Ciw), and each
one's mean wait in queue against Erlang C.

    python benchmarks/bench_ciw.py [--rounds 3] [--duration 60]

Needs the ``bench`` extra: ``pip install -e .[bench]``, in its own virtual environment:
Ciw 3.2.7's wheel installs a top-level ``tests`` package into site-packages, which
shadows this repository's ``tests/`` (``from tests.conftest import ...`` then fails).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

ARRIVAL_RATE = 3200.0  # customers per second (320 clients x 10 polls/s)
SERVICE_MEAN = 0.001  # seconds
SERVERS = 4
CLIENTS, GAP = 320, 0.1
WARMUP = 20.0


def run_model(duration: float, seed: int) -> dict[str, float]:
    import simulator
    from simulator.config import load_config
    from simulator.validation.cases_queueing import queue_values

    config = load_config(None, {"experiment.seed": seed,
                                **queue_values(CLIENTS, GAP, SERVERS, SERVICE_MEAN, duration, WARMUP)})
    t0 = time.process_time()
    result = simulator.run(config)
    cpu = time.process_time() - t0
    m = result.metrics
    # every request of the run was a customer of the queue (the warm-up's too)
    customers = m["requests.total"] * (WARMUP + duration) / duration
    return {"customers": customers, "cpu": cpu, "wait": m["server.queue_wait_mean"],
            "utilisation": m["server.cpu_utilization"]}


def run_ciw(duration: float, seed: int) -> dict[str, float]:
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / SERVICE_MEAN)],
        number_of_servers=[SERVERS],
    )
    t0 = time.process_time()
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(WARMUP + duration)
    records = sim.get_all_records()
    cpu = time.process_time() - t0
    measured = [r.waiting_time for r in records if r.arrival_date >= WARMUP]
    busy = sum(r.service_time for r in records if r.arrival_date >= WARMUP)
    return {"customers": float(len(records)), "cpu": cpu, "wait": statistics.fmean(measured),
            "utilisation": busy / (SERVERS * duration)}


def main() -> None:
    from simulator.validation.theory import mmc_wait

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0, help="measured simulated seconds (after 20 s warm-up)")
    args = parser.parse_args()
    try:
        import ciw
    except ImportError:
        sys.exit("bench_ciw.py needs ciw: pip install -e .[bench]")
    theory = mmc_wait(ARRIVAL_RATE, SERVICE_MEAN, SERVERS)
    print(f"M/M/{SERVERS}: λ = {ARRIVAL_RATE:g}/s, mean service {SERVICE_MEAN * 1e3:g} ms, "
          f"ρ = {ARRIVAL_RATE * SERVICE_MEAN / SERVERS:g}; {WARMUP:g} s warm-up + {args.duration:g} s; "
          f"Ciw {ciw.__version__}; Erlang C mean wait {theory * 1e3:.4f} ms")
    ratios, waits = [], {"notifysim": [], "ciw": []}
    for r in range(args.rounds):
        model = run_model(args.duration, seed=r + 1)
        queue = run_ciw(args.duration, seed=r + 1)
        speed_model = model["customers"] / model["cpu"]
        speed_ciw = queue["customers"] / queue["cpu"]
        ratios.append(speed_model / speed_ciw)
        waits["notifysim"].append(model["wait"])
        waits["ciw"].append(queue["wait"])
        print(f"round {r + 1}: notifysim {model['customers']:,.0f} customers in {model['cpu']:.2f} CPU s "
              f"= {speed_model:,.0f}/CPU s (wait {model['wait'] * 1e3:.4f} ms, ρ {model['utilisation']:.4f}); "
              f"Ciw {queue['customers']:,.0f} in {queue['cpu']:.2f} CPU s = {speed_ciw:,.0f}/CPU s "
              f"(wait {queue['wait'] * 1e3:.4f} ms, ρ {queue['utilisation']:.4f}); ratio {ratios[-1]:.2f}x")
    print(f"customers per CPU-second, notifysim / Ciw: median {statistics.median(ratios):.2f}x "
          f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; target > 1)")
    for name, values in waits.items():
        mean = statistics.fmean(values)
        spread = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
        print(f"mean wait {name}: {mean * 1e3:.4f} ms ± {spread * 1e3:.4f} (s.e. over rounds), "
              f"{(mean / theory - 1) * 100:+.1f} % from Erlang C")


if __name__ == "__main__":
    main()
