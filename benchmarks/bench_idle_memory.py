"""Peak memory of idle WebSocket clients with heartbeats (docs/design.md §7).

Scenario (issue 3): 1,000,000 WebSocket clients, ping/pong every 30 s, no
notifications, one simulated hour (after a 60 s warm-up in which they all
connect).  Idle connections must cost memory, not events: heartbeats are
settled arithmetically, so the run's events are the connects alone.  The
simulation runs in a child process so that its peak resident set size
(``ru_maxrss``) is its own.  Target: <= 2 GiB.

    python benchmarks/bench_idle_memory.py [--clients N] [--hours H] [--pattern per_client|broadcast]
                                           [--kind websocket|sse]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

TARGET = 2 * 2**30


def child(clients: int, hours: float, pattern: str, kind: str) -> None:
    from simulator.config import load_config
    from simulator.engine.runner import run

    nodes = max(1, clients // 100_000)
    cfg = load_config(
        None,
        {
            "experiment.duration": f"{hours}h",
            "experiment.warmup": "60s",
            "clients.count": clients,
            "clients.connect_over": "50s",
            "mechanism.kind": kind,
            "mechanism.heartbeat": "30s",
            "workload.rate": 0.0,
            "workload.pattern": pattern,
            "server.nodes": nodes,
            "server.max_connections": int(clients / nodes * 1.2) + 1,
        },
    )
    t0 = time.perf_counter()
    result = run(cfg)
    wall = time.perf_counter() - t0
    m = result.metrics
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({
        "wall": wall,
        "events": result.run["events_processed"],
        "rss": rss,
        "heartbeats": m["messages.heartbeats"],
        "connections_mean": m["connections.mean"],
        "bytes_down": m["network.bytes_down"],
        "bytes_up": m["network.bytes_up"],
        "cpu": m["server.cpu_utilization"],
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--pattern", default="per_client", choices=["per_client", "broadcast", "topics"])
    ap.add_argument("--kind", default="websocket", choices=["websocket", "sse"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.clients, args.hours, args.pattern, args.kind)
        return
    cmd = [sys.executable, __file__, "--child", "--clients", str(args.clients), "--hours", str(args.hours),
           "--pattern", args.pattern, "--kind", args.kind]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    print(f"clients                {args.clients:,} {args.kind}, heartbeat 30 s, {args.hours:g} h simulated")
    print(f"pattern                {args.pattern}")
    print(f"open connections mean  {r['connections_mean']:,.0f}")
    print(f"heartbeats (pings)     {r['heartbeats']:,.0f}   bytes down {r['bytes_down']:,.0f}  up {r['bytes_up']:,.0f}")
    print(f"SimPy events           {r['events']:,}   wall {r['wall']:.1f} s")
    print(f"peak RSS               {r['rss'] / 2**30:.2f} GiB   (target <= {TARGET / 2**30:.0f} GiB:"
          f" {'met' if r['rss'] <= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
