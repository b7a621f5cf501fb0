"""The shared pieces of the engine: the connection lifecycle and the FCFS pool.

Protocol facts checked: an attempt after a failure is a reconnect and the first
attempt is not; a refusal backs off by exactly ``mechanism.backoff``'s delay
(jitter none: initial, initial * factor, ...) counted from when the client
notices; getting through resets the schedule; a crash's population backs off
with the same schedule, drawn in one go.  The pool is the textbook FCFS
multi-server queue.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.connections import Lifecycle
from simulator.engine.fcfs import FcfsPool
from simulator.engine.receiver import ReceiverPool
from simulator.engine.simulation import Simulation
from tests.conftest import make_config

BACKOFF = {
    "mechanism.backoff.jitter": "none",
    "mechanism.backoff.initial": "1s",
    "mechanism.backoff.factor": 2.0,
    "mechanism.backoff.max": "30s",
}


class Recorder(Lifecycle):
    """Opens connections and records when each attempt got through."""

    def __init__(self, sim):
        super().__init__(sim)
        self.opened: list[tuple[int, float]] = []

    def on_open(self, c, node, now):
        self.opened.append((c, now))


def _sim(**overrides) -> Simulation:
    return Simulation(make_config({**BACKOFF, "clients.count": 3, "experiment.warmup": "0s", **overrides}))


def test_refused_attempts_back_off_on_schedule_and_count_as_reconnects():
    sim = _sim(**{"server.max_connections": 1})
    life = Recorder(sim)
    assert life.open_connection(0, 0.0) is not None  # takes the only slot
    life.connect(1)  # refused at 0: retries at 1, 3, 7, ...
    sim.env.run(until=7.5)
    m = sim.metrics
    assert life.opened == []
    assert m.connections_refused == 4  # at 0, 1, 3 and 7 s
    assert m.reconnects == 3  # every attempt after the first refusal
    assert int(life.attempt[1]) == 4 and life.prev_delay[1] == 8.0
    assert life.reconnecting[1] and not life.reconnecting[0]


def test_getting_through_resets_the_backoff_and_is_not_a_reconnect():
    sim = _sim()
    life = Recorder(sim)
    life.back_off(2, t_detect=0.5)  # the client noticed a failure at 0.5 s: next try at 1.5 s
    sim.env.run(until=2.0)
    assert life.opened == [(2, 1.5)]
    assert sim.metrics.reconnects == 1  # the attempt after the failure
    life.went_live(2)
    assert int(life.attempt[2]) == 0 and life.prev_delay[2] == 0.0
    assert not life.reconnecting[2]


def test_a_crash_population_backs_off_with_the_same_schedule_vectorised():
    sim = _sim()
    life = Recorder(sim)
    life.attempt[:] = [0, 1, 2]
    life.back_off_many(np.arange(3))
    assert life.prev_delay.tolist() == [1.0, 2.0, 4.0]
    sim.env.run(until=5.0)
    assert sorted(t for _, t in life.opened) == [1.0, 2.0, 4.0]


def test_fcfs_pool_is_a_multi_server_queue_and_stops_at_a_crash():
    pool = FcfsPool(2)
    assert pool.serve(0.0, 3.0) == (0.0, 3.0)
    assert pool.serve(1.0, 3.0) == (1.0, 4.0)
    assert pool.serve(2.0, 1.0) == (3.0, 4.0)  # waits for the first worker
    assert pool.serve(3.5, 10.0, until=5.0) == (4.0, 14.0)  # cut: holds its worker until 5
    assert pool.free == sorted(pool.free) and min(pool.free) == 4.0 and max(pool.free) == 5.0


def test_receivers_use_the_same_pool():
    receivers = ReceiverPool(count=2, workers=1)
    assert receivers.process(0, 0.0, 2.0) == 2.0
    assert receivers.process(0, 1.0, 2.0) == 4.0  # queued behind the first POST
    assert receivers.process(1, 1.0, 2.0) == 3.0  # another receiver, its own workers
