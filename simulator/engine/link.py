"""Client access links: one-way delay = propagation latency + serialisation.

Each client sits on its own access link (``network.latency`` one way,
``network.bandwidth``), so links do not contend with each other and a link is
a delay computation, not a queue: ``latency + bytes * 8 / bandwidth``.  A
constant latency never touches the random stream.
"""

from __future__ import annotations

import numpy as np

from simulator.config.distributions import Distribution, Sampler


class Link:
    """The access link model shared by all clients (seconds, bytes, bits/s)."""

    def __init__(self, latency: Distribution, bandwidth_bps: float, rng: np.random.Generator):
        self.latency_dist = latency
        self.latency = Sampler(latency, rng)
        self.seconds_per_byte = 8.0 / bandwidth_bps
        self.constant_latency = latency.a if latency.is_constant else None
        self._handshake_seconds: dict[int, float] = {}  # constant latency: round trips -> seconds

    def one_way(self, num_bytes: float) -> float:
        """Seconds for ``num_bytes`` to cross the link one way (last byte)."""
        return self.latency() + num_bytes * self.seconds_per_byte

    def one_way_many(self, num_bytes: np.ndarray | float, n: int) -> np.ndarray:
        """``n`` independent one-way delays (seconds) for the given byte counts."""
        return self.latency.many(n) + np.asarray(num_bytes) * self.seconds_per_byte

    def round_trip(self) -> float:
        """Seconds for a small packet there and back (handshake round trips)."""
        return self.latency() + self.latency()

    def handshake(self, round_trips: int) -> float:
        """Seconds of ``round_trips`` small-packet round trips (TCP, TLS, Upgrade set-up)."""
        if self.constant_latency is not None:
            # a constant draws nothing from the stream: the sum is computed once, the same way
            seconds = self._handshake_seconds.get(round_trips)
            if seconds is None:
                seconds = self._handshake_seconds[round_trips] = self._round_trips(round_trips)
            return seconds
        return self._round_trips(round_trips)

    def _round_trips(self, round_trips: int) -> float:
        total = 0.0
        for _ in range(round_trips):
            total += self.latency() + self.latency()
        return total
