"""Long polling and webhooks at scale: no per-client event or object while a client waits.

Issue 14: the cost of a request must not grow with the client count.  A
timeout per client on SimPy's heap, or a worker heap per receiver, makes every
step touch cold memory at a million clients; these tests pin the structure that
avoids it, and that the leaner form gives exactly the same times.
"""

from __future__ import annotations

import numpy as np

from simulator.config import registry, validate_config
from simulator.engine.fcfs import FcfsPool
from simulator.engine.receiver import ReceiverPool
from simulator.engine.simulation import Simulation


def _started(kind: str, clients: int) -> Simulation:
    sim = Simulation(validate_config({
        "experiment": {"duration": "60s", "warmup": "30s"},
        "clients": {"count": clients, "connect_over": "30s"},
        "mechanism": {"kind": kind},
    }))
    registry.get(kind)(sim).start()
    return sim


def test_long_polling_start_schedules_no_event_per_client():
    # the first requests come from one connector process, not N timeouts on the heap
    small, large = _started("long_polling", 10), _started("long_polling", 5_000)
    assert len(large.env._queue) == len(small.env._queue) <= 5


def test_receiver_pool_is_exactly_a_fcfs_pool_per_receiver_and_keeps_no_heap_when_idle():
    rng = np.random.default_rng(7)
    receivers, workers = 50, 3
    pool = ReceiverPool(receivers, workers)
    reference = [FcfsPool(workers) for _ in range(receivers)]
    t = 0.0
    for _ in range(20_000):  # bursts overlap (mean gap 2 ms, cost up to 40 ms) and go idle
        t += rng.exponential(0.002) if rng.random() < 0.9 else rng.exponential(1.0)
        r, cost = int(rng.integers(receivers)), float(rng.uniform(0, 0.04))
        assert pool.process(r, t, cost) == reference[r].serve(t, cost)[1]
    # long after the last POST every receiver is idle: one float each, no worker heap
    for r in range(receivers):
        pool.process(r, t + 10.0, 0.001)
    assert not pool._pools
