"""The backplane: how a published event reaches the nodes holding its subscribers.

``cluster.backplane = "ideal"``: after ``backplane_latency``, at no cost (as
before).  ``"redis"``: the event first goes through one pub/sub server, single
threaded as Redis executes commands, modelled as a first-come-first-served
queue (:class:`simulator.engine.fcfs.FcfsPool` with one worker).  A PUBLISH
costs ``backplane_cost`` for the event plus ``backplane_cost`` per node it is
sent to (Redis writes the message to each subscribed connection), so a
broadcast on a large fleet costs more than a per-client event, which goes to
the one node holding its client.  Once the server is busy more than it is
idle, publishes queue and every delivery waits: the fan-out latency shows the
saturation, and ``backplane.cpu_utilization`` its cause.

Publishes reach the server in time order (each is one log event), so the
virtual-time FCFS pool is an exact single-server queue.
"""

from __future__ import annotations

from simulator.config import ExperimentConfig
from simulator.engine.fcfs import FcfsPool


class Backplane:
    """The pub/sub hop between the publisher and the nodes (seconds)."""

    __slots__ = ("latency", "cost", "server", "t_start", "t_end", "busy_measured", "published")

    def __init__(self, config: ExperimentConfig, latency: float):
        self.latency = latency
        self.cost = config.cluster.backplane_cost
        self.server = FcfsPool(1) if config.cluster.backplane == "redis" else None
        self.t_start = config.experiment.warmup
        self.t_end = config.experiment.warmup + config.experiment.duration
        self.busy_measured = 0.0  # seconds of the server's CPU within the window
        self.published = 0

    def arrival(self, t: float, nodes: int) -> float:
        """When an event published at ``t`` and sent to ``nodes`` nodes reaches them."""
        server = self.server
        if server is None:
            return t + self.latency
        start, finish = server.serve(t, self.cost * (1 + nodes))
        lo = start if start > self.t_start else self.t_start
        hi = finish if finish < self.t_end else self.t_end
        if hi > lo:
            self.busy_measured += hi - lo
        return finish + self.latency

    def cpu_utilization(self) -> float:
        """Busy fraction of the pub/sub server over the measured window (0 when ideal)."""
        span = self.t_end - self.t_start
        return self.busy_measured / span if self.server is not None and span > 0 else 0.0
