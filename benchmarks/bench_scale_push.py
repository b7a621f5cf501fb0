"""Requests per wall-second at 10,000 and 1,000,000 clients: long polling and webhooks.

The per-client behaviour is the same at both sizes (issue 14): notifications at
λ = 0.005/s per client (per-client feeds), 1 ms exponential ``request_cost``,
one node whose workers are sized for a utilisation of about 0.5, ``drain = 0``.
Long polling holds 30 s (its clients start spread over one hold); webhook
receivers are the clients.  The duration is scaled so that each run makes about
500,000 requests in the measured window, after a warm-up of max(60 s, a quarter
of the window) in which every client has started and long polling has reached
its steady state (at 1,000,000 clients the first requests alone are a million).
The rate is the window's requests over the wall seconds the simulation spent
in the window (timed through ``run``'s progress callback, which fires exactly
at the window's start).  Each size runs in its own subprocess, one at a time, which
reports the requests, the wall seconds of ``simulator.run`` (build included),
the SimPy events and its peak RSS; the parent adds the whole process's seconds.

    python benchmarks/bench_scale_push.py [--kinds long_polling,webhook] [--sizes 10000,1000000]
    python benchmarks/bench_scale_push.py --one long_polling 1000000 [--profile out.prof] [--hour]

``--hour`` runs one simulated hour instead (the memory check: peak RSS).

Measured 2026-12-01 on the shared 2 cores (load 7-16, so compare rows of one
invocation), before (203bfbb) and after this branch:

| | clients | req/wall-s in the window | ratio 1M/10k | whole process | peak RSS |
|---|---|---|---|---|---|
| long polling, before | 10k / 1M | 16,136 / 12,442 | 0.77 | 40 s / 294 s | 60 / 809 MiB |
| long polling, after | 10k / 1M | 17,427 / 18,212 | 1.05 | 37 s / 174 s | 58 / 503 MiB |
| webhook, before | 10k / 1M | 5,565 / 3,089 | 0.56 | 109 s / 261 s | 58 / 350 MiB |
| webhook, after | 10k / 1M | 8,151 / 7,115 | 0.87 | 74 s / 112 s | 55 / 266 MiB |

State per client (peak RSS difference / 990,000): long polling ~480 B, webhook
~220 B; neither grows with simulated time once every client has started (the
log is trimmed, latencies go to a fixed histogram), so an hour of 1,000,000
clients stays near these peaks, far below 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

RATE = 0.005  # notifications per second per client
HOLD = 30.0
COST = 0.001  # mean request_cost, seconds
MESSAGE_COST = 50e-6  # the default message_cost
TARGET_REQUESTS = 500_000


def lp_request_rate() -> float:
    """Requests per second per long-polling client at zero gap, λ / (1 − e^(−λ·hold))."""
    return RATE / -math.expm1(-RATE * HOLD)


def config_for(kind: str, clients: int, hour: bool = False, duration: float | None = None):
    from simulator.config import load_config

    if kind == "long_polling":
        per_client = lp_request_rate()
        busy = clients * per_client * (COST + MESSAGE_COST)
        mechanism = {"mechanism.hold": f"{HOLD:g}s"}
        connect_over = HOLD
    else:
        per_client = RATE  # one POST per notification
        busy = clients * per_client * COST
        mechanism = {}
        connect_over = 0.0
    # at least one hold: every client starts within the run (1M clients make 1M first requests)
    if duration is None:
        duration = 3600.0 if hour else TARGET_REQUESTS / (clients * per_client)
    # the warm-up is a whole number of run's progress steps (1 % of the run), so the
    # progress callback fires exactly when the window opens
    k = 0 if hour else next(k for k in range(1, 100) if k * duration / (100 - k) >= max(60.0, duration / 4))
    warmup = k * duration / (100 - k)
    connect_over = min(connect_over, duration + warmup)
    return load_config(
        None,
        {
            "experiment.name": f"bench_scale_{kind}",
            "experiment.duration": duration,
            "experiment.warmup": warmup,
            "experiment.drain": 0,
            "experiment.sample_every": max(1.0, duration / 60),
            "clients.count": clients,
            "clients.connect_over": connect_over,
            "mechanism.kind": kind,
            **mechanism,
            "workload.pattern": "per_client",
            "workload.rate": RATE,
            "server.workers": max(1, round(busy / 0.5)),
            "server.request_cost": {"dist": "exponential", "mean": f"{COST * 1000:g}ms"},
            "server.max_connections": 10_000_000,
        },
    )


def one(kind: str, clients: int, profile: str | None, hour: bool) -> dict:
    from simulator.engine.runner import run

    config = config_for(kind, clients, hour)
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    e = config.experiment
    walls: list[float] = []

    def progress(now: float, end: float) -> None:
        if not walls and now >= e.warmup - 1e-6:
            walls.append(time.perf_counter())

    started = time.perf_counter()
    result = run(config, progress)
    finished = time.perf_counter()
    if profile:
        prof.disable()
        prof.dump_stats(profile)
    m = result.metrics
    window_wall = finished - walls[0]
    return {
        "kind": kind,
        "clients": clients,
        "simulated_s": e.warmup + e.duration,
        "requests": int(m["requests.total"]),
        "run_wall_s": finished - started,
        "window_wall_s": window_wall,
        "requests_per_wall_s": m["requests.total"] / window_wall,
        "events": result.run["events_processed"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(kind: str, clients: int, hour: bool = False) -> dict:
    started = time.perf_counter()
    cmd = [sys.executable, __file__, "--one", kind, str(clients)] + (["--hour"] if hour else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - started
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="long_polling,webhook")
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--one", nargs=2, metavar=("KIND", "CLIENTS"))
    ap.add_argument("--profile")
    ap.add_argument("--hour", action="store_true")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.profile, a.hour)))
        return
    print("| mechanism | clients | requests (window) | requests per wall-second (in the window) | window s | run s | whole process s | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in a.kinds.split(","):
        rows = [measure(kind, int(n), a.hour) for n in a.sizes.split(",")]
        for r in rows:
            print(f"| {kind} | {r['clients']:,} | {r['requests']:,} | {r['requests_per_wall_s']:,.0f} |"
                  f" {r['window_wall_s']:.1f} | {r['run_wall_s']:.1f} | {r['process_s']:.1f} | {r['peak_rss_mib']:,.0f} MiB |", flush=True)
        if len(rows) == 2:
            print(f"| {kind} | ratio large/small | | **{rows[1]['requests_per_wall_s'] / rows[0]['requests_per_wall_s']:.2f}** | | | | |",
                  flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
