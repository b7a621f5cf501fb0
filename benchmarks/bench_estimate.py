#!/usr/bin/env python3
"""The up-front estimate against what runs take: peak RSS and wall time, 3 sizes per mechanism (issue 21).

Each run is a fresh subprocess (honest peak RSS, ``resource.getrusage``
``ru_maxrss``) that loads the config, notes its RSS after the imports and the
load (the interpreter's baseline), runs it as ``simulator.run`` does and reports
its peak RSS and the run's wall seconds.  Compared with
``simulator.engine.estimate``: the memory above the baseline against
``estimate_memory_bytes - BASE_BYTES``, the wall seconds against
``estimate_wall_seconds``; the target is within a factor of 2 both ways.

    python benchmarks/bench_estimate.py [--kinds sse,webhook] [--sizes 20000,80000,320000]

The machine may be shared: a wall time measured under load is inflated, so the
header prints the load average, and the ratios are the thing to read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

CHILD = r"""
import json, resource, sys, time
import psutil
import simulator
from simulator.config import load_config
config = load_config(sys.argv[1] or None, json.loads(sys.argv[2]))
baseline = psutil.Process().memory_info().rss
started = time.perf_counter()
result = simulator.run(config)
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
print(json.dumps({"baseline": baseline, "peak": peak, "wall": wall,
                  "events": result.run["events_processed"]}))
"""

#: The scenario: each mechanism at its defaults, per-client notifications every 5 s, a
#: minute simulated after a 10 s warm-up; the sizes vary the clients.
BASE = {"experiment.duration": "60s", "experiment.warmup": "10s", "experiment.drain": "30s",
        "clients.connect_over": "10s", "workload.rate": 0.2, "server.nodes": 4, "server.workers": 8}
KINDS = ("short_polling", "long_polling", "sse", "websocket", "webhook", "platform_push")
SIZES = (20_000, 80_000, 320_000)


def measure(overrides: dict[str, Any], config_path: str = "", timeout: float = 900) -> dict[str, float]:
    """Run ``config_path`` with ``overrides`` in a fresh interpreter: baseline and peak RSS (bytes), wall (s)."""
    out = subprocess.run([sys.executable, "-c", CHILD, config_path, json.dumps(overrides)],
                         capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def predicted(overrides: dict[str, Any], config_path: str = "") -> tuple[float, float]:
    """The estimate for the same run: memory above the interpreter (bytes) and wall seconds."""
    from simulator.config import load_config
    from simulator.engine.estimate import BASE_BYTES, estimate_memory_bytes, estimate_wall_seconds

    config = load_config(config_path or None, overrides)
    return estimate_memory_bytes(config) - BASE_BYTES, estimate_wall_seconds(config)


def main() -> None:
    """Print the table: per mechanism and size, predicted and measured memory and wall time, and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    print(f"# load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print("kind,clients,events,mem_predicted_MiB,mem_measured_MiB,mem_ratio,wall_predicted_s,wall_measured_s,wall_ratio")
    worst = 1.0
    for kind in args.kinds.split(","):
        for n in map(int, args.sizes.split(",")):
            overrides = {**BASE, "mechanism.kind": kind, "clients.count": n}
            if kind == "webhook":
                overrides["clients.kind"] = "backend"
            if kind == "platform_push":
                overrides["clients.kind"] = "mobile"
            mem, wall = predicted(overrides)
            got = measure(overrides)
            used = got["peak"] - got["baseline"]
            mem_ratio, wall_ratio = mem / max(used, 1.0), wall / max(got["wall"], 1e-9)
            worst = max(worst, mem_ratio, 1 / mem_ratio, wall_ratio, 1 / wall_ratio)
            print(f"{kind},{n},{got['events']},{mem / 2**20:.0f},{used / 2**20:.0f},{mem_ratio:.2f},"
                  f"{wall:.1f},{got['wall']:.1f},{wall_ratio:.2f}", flush=True)
    print(f"# worst factor {worst:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
