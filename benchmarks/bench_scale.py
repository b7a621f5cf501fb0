#!/usr/bin/env python3
"""Scale: the cost of a simulated request from 10,000 to 1,000,000 clients, per mechanism (issue 14).

The scenario (``benchmarks/scenarios.py``, ``scale_scenario``): pollers poll every
60 s, every client is owed 0.005 notifications/s, 1 ms exponential service on one
node at about 0.5 utilisation, no warm-up, no drain; the simulated duration is
scaled so that every run does about 500,000 units of work.  Each size runs in a
fresh subprocess (honest peak RSS) that does what ``sim run`` does: build, run,
write the results with figures.  Printed per mechanism and size: work done
(requests; messages pushed for SSE/WebSocket; POSTs for webhooks), work per
wall-second and per CPU-second inside the run (the simulation proper), seconds
outside it (building the clients, the books, writing results), the whole
process's wall seconds and peak RSS; then the ratio 1M/10k of
work per second in the run (target >= 0.5) and
the peak RSS per added client.  CPU seconds are printed because the
machine is shared: the wall clock also counts other jobs' time.

Then the per-request comparison at 10,000 clients against the bare SimPy loop of
``reference_simpy.py`` on ``bench_requests.py``'s scenario (target >= 1.5x), in
alternating rounds, by CPU seconds (and wall seconds) of the simulation proper.

    python benchmarks/bench_scale.py [--quick] [--kinds short_polling,sse] [--pairs 3] [--no-reference]

``--quick`` measures 100,000 clients instead of 1,000,000.  ``--steady`` adds a
warm-up in which every client has started (its first poll or connection, which at
1,000,000 clients is a connection set-up per unit of work: real extra work, not
overhead) and measures the window after it: the steady state of the same clients.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

KINDS = ("short_polling", "long_polling", "webhook", "sse", "websocket")
#: The metric that counts each mechanism's unit of work.
WORK = {
    "short_polling": "requests.total",
    "long_polling": "requests.total",
    "webhook": "webhook.attempts",
    "sse": "messages.pushed",
    "websocket": "messages.pushed",
}


#: --steady: simulated seconds by which every client has started (first poll, first long
#: poll, connection; webhooks hold no connection).
STEADY_WARMUP = {"short_polling": 61.0, "long_polling": 31.0, "webhook": 0.0, "sse": 5.0, "websocket": 5.0}


def _scale_run(kind: str, clients: int, steady: bool, queue: mp.Queue) -> None:
    import simulator
    from benchmarks.scenarios import scale_scenario
    from simulator.config.load import validate_config
    from simulator.output.results import write_run

    config = scale_scenario(kind, clients)
    marks: list[tuple[float, float]] = []  # (simulated time, CPU seconds) at the window's ends
    progress = None
    if steady:
        data = config.to_dict()
        warmup = data["experiment"]["warmup"] = STEADY_WARMUP[kind]
        config = validate_config(data, "bench_scale --steady")

        def progress(now: float, end: float) -> None:
            if (not marks and now >= warmup) or now >= end:
                marks.append((now, time.process_time()))

    result = simulator.run(config, progress=progress)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        write_run(result, out)
        write = time.perf_counter() - t0
    run = result.run
    outside = run["wall_seconds"] - run["simulate_seconds"] + write
    if steady:  # the window only: work scaled to the span between the two marks
        (t0_sim, cpu0), (t1_sim, cpu1) = marks[0], marks[-1]
        share = (t1_sim - t0_sim) / config.experiment.duration
        # CPU seconds for both columns (the window's wall time is not marked)
        run = {**run, "simulate_cpu_seconds": (cpu1 - cpu0) / share, "simulate_seconds": (cpu1 - cpu0) / share}
    queue.put({
        "work": result.metrics[WORK[kind]],
        "simulate": run["simulate_seconds"],
        "setup": run["setup_seconds"],
        "outside": outside,
        "cpu_run": run["simulate_cpu_seconds"],
        "events": run["events_processed"],
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    })


def _reference(clients: int, duration: float, queue: mp.Queue) -> None:
    sys.path.insert(0, str(HERE))
    from reference_simpy import polling

    cpu = time.process_time()
    n, wall = polling(clients, 5.0, duration, 0.025, 4, 0.001, 1)
    queue.put({"requests": n, "wall": wall, "cpu": time.process_time() - cpu})


def _model(clients: int, duration: float, queue: mp.Queue) -> None:
    import simulator
    from benchmarks.scenarios import polling_scenario

    run = simulator.run(polling_scenario(clients, duration))
    queue.put({"requests": run.metrics["requests.total"], "wall": run.run["simulate_seconds"],
               "cpu": run.run["simulate_cpu_seconds"]})


def _in_subprocess(target, *args) -> dict:
    """``target(*args, queue)`` in a fresh process; its result and the process's wall seconds."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    started = time.perf_counter()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    out["process"] = time.perf_counter() - started
    if proc.exitcode:
        raise SystemExit(f"{target.__name__}{args}: exit code {proc.exitcode}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100,000 clients instead of 1,000,000")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated mechanisms")
    p.add_argument("--no-reference", action="store_true", help="skip the comparison with bare SimPy")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of the comparison")
    p.add_argument("--steady", action="store_true", help="measure after every client has started (see above)")
    p.add_argument("--pairs", type=int, default=1,
                   help="10k/1M pairs per mechanism, alternating; the median ratio is reported (a fresh"
                        " process's speed varies by up to 15 %% between identical runs here)")
    a = p.parse_args()
    big = 100_000 if a.quick else 1_000_000
    sizes = (10_000, big)
    print("| mechanism | clients | work | per wall-s in run | per CPU-s in run | outside run s |"
          " whole process s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {}
    for kind in a.kinds.split(","):
        pairs = []
        for _ in range(a.pairs):
            rates, rss = [], []
            for clients in sizes:
                r = _in_subprocess(_scale_run, kind, clients, a.steady)
                rates.append((r["work"] / r["simulate"], r["work"] / r["cpu_run"]))
                rss.append(r["rss"])
                print(f"| {kind} | {clients:,} | {r['work']:,.0f} | {rates[-1][0]:,.0f} | {rates[-1][1]:,.0f} |"
                      f" {r['outside']:.1f} | {r['process']:.1f} | {r['rss'] / 2**20:,.0f} |", flush=True)
            pairs.append((rates[1][0] / rates[0][0], rates[1][1] / rates[0][1], (rss[1] - rss[0]) / (big - sizes[0])))
        ratios[kind] = pairs
    print()
    for kind, pairs in ratios.items():
        wall, cpu, per_client = (statistics.median(column) for column in zip(*pairs, strict=True))
        each = f" (pairs: {', '.join(f'{c:.2f}' for _, c, _ in pairs)})" if len(pairs) > 1 else ""
        print(f"{kind}: work per second in the run, {big:,} / 10,000 clients: {wall:.2f} (wall), {cpu:.2f} (CPU)"
              f"{each} (target >= 0.5); {per_client:,.0f} B of peak RSS per added client")
    if not a.no_reference:
        wall, cpu = [], []
        for _ in range(a.rounds):  # alternating, so that both see the same load
            m = _in_subprocess(_model, 10_000, 600.0)
            ref = _in_subprocess(_reference, 10_000, 600.0)
            wall.append((m["requests"] / m["wall"]) / (ref["requests"] / ref["wall"]))
            cpu.append((m["requests"] / m["cpu"]) / (ref["requests"] / ref["cpu"]))
            print(f"per request at 10,000 clients (bench_requests.py's scenario): model"
                  f" {m['requests'] / m['cpu']:,.0f} requests per CPU-s, bare SimPy"
                  f" {ref['requests'] / ref['cpu']:,.0f}: ratio {cpu[-1]:.2f}x (wall {wall[-1]:.2f}x)", flush=True)
        print(f"median ratio {statistics.median(cpu):.2f}x by CPU, {statistics.median(wall):.2f}x by wall"
              " (target >= 1.5)")

if __name__ == "__main__":
    main()
