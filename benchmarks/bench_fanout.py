"""Fan-out throughput: deliveries per wall-second of a broadcast over WebSocket (docs/design.md §7).

Scenario (issue 3): a 1 event/s broadcast to 100,000 WebSocket clients over 10
simulated minutes.  10 nodes of 12,000 connections each so that every client
connects (round robin puts 10,000 on each).  Prints deliveries per
wall-second for the whole run (connecting 100,000 clients included) and for
the fan-out alone (wall time spent inside the bulk write path), and per
CPU-second of the process (steadier on a shared machine).  Target:
>= 10 million deliveries per wall-second.

    python benchmarks/bench_fanout.py [--clients N] [--minutes M] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from simulator.config import load_config, registry
from simulator.engine.connections.persistent import PersistentConnections
from simulator.engine.runner import run

TARGET = 10e6


def reference_seconds(clients: int, publishes: int) -> float:
    """Wall time of a bare numpy pass doing the least a fan-out must: per publish, each
    client's finish time, arrival time and a log-bucket histogram update (the speed
    reference docs/design.md §7 asks for, measured on the same machine in the same run)."""
    import numpy as np

    counts = np.zeros(1600, dtype=np.int64)
    offsets = np.arange(clients) * 1e-6
    t0 = time.perf_counter()
    for k in range(publishes):
        arrived = (k + 0.025) + offsets
        latency = arrived - k
        counts += np.bincount((np.log(latency) + 20.7).astype(np.int64), minlength=1600)
    return time.perf_counter() - t0


def config(clients: int, minutes: float, kind: str = "websocket"):
    nodes = max(1, clients // 10_000)
    return load_config(
        None,
        {
            "experiment.duration": f"{minutes}m",
            "experiment.warmup": "30s",
            "clients.count": clients,
            "clients.connect_over": "10s",
            "mechanism.kind": kind,
            "workload.pattern": "broadcast",
            "workload.rate": 1.0,
            "workload.arrivals": "periodic",
            "server.nodes": nodes,
            "server.max_connections": int(clients / nodes * 1.2) + 1,
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100_000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--kind", default="websocket")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile run")
    args = ap.parse_args()
    cfg = config(args.clients, args.minutes, args.kind)
    registry.kinds()
    # time the bulk path by wrapping it (the wrapper costs two clock reads per node-publish)
    inner = PersistentConnections._push_many
    spent = [0.0]

    def timed(self, *a, **k):
        t = time.perf_counter()
        inner(self, *a, **k)
        spent[0] += time.perf_counter() - t

    PersistentConnections._push_many = timed
    profiler = cProfile.Profile() if args.profile else None
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    result = run(cfg)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    m = result.metrics
    delivered = m["deliveries.delivered"]
    print(f"clients                      {args.clients:,}")
    print(f"simulated                    {args.minutes:g} min (+30 s warm-up)")
    print(f"deliveries (window)          {delivered:,.0f}   lost {m['deliveries.lost']:.0f}   pending {m['deliveries.pending']:.0f}")
    print(f"latency mean / p99           {m['latency.mean'] * 1e3:.3f} ms / {m['latency.p99'] * 1e3:.3f} ms")
    print(f"wall, whole run              {wall:.2f} s   (CPU {cpu:.2f} s; {result.run['events_processed']:,} SimPy events)")
    print(f"wall, bulk fan-out           {spent[0]:.2f} s")
    print(f"deliveries per wall-second   whole run {delivered / wall / 1e6:.1f} M/s,"
          f" fan-out alone {delivered / spent[0] / 1e6:.1f} M/s   (target {TARGET / 1e6:.0f} M/s)")
    print(f"deliveries per CPU-second    whole run {delivered / cpu / 1e6:.1f} M/s"
          "   (the machine is shared: CPU time is the steadier figure)")
    publishes = int(args.minutes * 60 + 30)
    ref = reference_seconds(args.clients, publishes)
    print(f"reference (bare numpy pass)  {ref:.2f} s for the same {publishes} x {args.clients:,} deliveries:"
          f" the fan-out costs {spent[0] / ref:.1f}x the bare minimum")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
