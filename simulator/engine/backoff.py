"""Exponential backoff with jitter, shared by every reconnect and retry.

The four policies of AWS's "Exponential Backoff and Jitter" (Brooker, 2015),
with ``base = initial``, ``cap = max`` and ``attempt`` counting from 0 for the
first retry:

- ``none``:         ``min(cap, base * factor**attempt)``
- ``full``:         ``uniform(0, min(cap, base * factor**attempt))``
- ``equal``:        ``v/2 + uniform(0, v/2)`` with ``v`` as above
- ``decorrelated``: ``min(cap, uniform(base, previous * 3))``, ``previous`` starting at ``base``
"""

from __future__ import annotations

import numpy as np

from simulator.config import BackoffSection


class Backoff:
    """Delays (seconds) before retry number ``attempt`` (0-based)."""

    def __init__(self, section: BackoffSection, rng: np.random.Generator):
        self.initial = section.initial
        self.max = section.max
        self.factor = section.factor
        self.jitter = section.jitter
        self._rng = rng
        self._uniform: list[float] = []
        self._i = 0

    def _u(self) -> float:
        if self._i >= len(self._uniform):
            self._uniform = self._rng.random(4096).tolist()
            self._i = 0
        self._i += 1
        return self._uniform[self._i - 1]

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay ``min(max, initial * factor**attempt)``, seconds."""
        if attempt > 200:  # factor**attempt would overflow; the cap has long been reached
            return self.max
        return min(self.max, self.initial * self.factor**attempt)

    def delay(self, attempt: int, previous: float = 0.0) -> float:
        """Seconds to wait before retry ``attempt``; ``previous`` is the last delay (decorrelated)."""
        jitter = self.jitter
        if jitter == "none":
            return self.ceiling(attempt)
        if jitter == "full":
            return self._u() * self.ceiling(attempt)
        if jitter == "equal":
            v = self.ceiling(attempt)
            return v / 2 + self._u() * v / 2
        prev = previous if previous > 0 else self.initial
        return min(self.max, self.initial + self._u() * (prev * 3 - self.initial))

    def delays(self, attempts: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        """Vector form of :meth:`delay` for many clients at once (a reconnect storm)."""
        attempts = np.minimum(np.asarray(attempts, dtype=np.float64), 200)
        ceiling = np.minimum(self.max, self.initial * self.factor**attempts)
        n = len(ceiling)
        if self.jitter == "none":
            return ceiling
        u = self._rng.random(n)
        if self.jitter == "full":
            return u * ceiling
        if self.jitter == "equal":
            return ceiling / 2 + u * ceiling / 2
        prev = np.full(n, self.initial) if previous is None else np.where(previous > 0, previous, self.initial)
        return np.minimum(self.max, self.initial + u * (prev * 3 - self.initial))
