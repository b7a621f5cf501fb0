"""A log-bucketed histogram of non-negative values (latencies, waits), bounded memory.

Bucket ``i`` covers ``[lo * r**i, lo * r**(i+1))`` with ``r = 1.02``; a
percentile is reported as the geometric middle of its bucket, so its relative
error is at most ``sqrt(r) - 1`` (0.995 %), whatever the number of values.
Values below ``lo`` (1 ns) go to an exact-zero bucket.  The mean and maximum
are kept exactly.  Memory is a fixed ~1,600 counters, not one per value.
"""

from __future__ import annotations

import math

import numpy as np

RATIO = 1.02
LOWEST = 1e-9  # seconds; anything smaller counts as zero
BUCKETS = 1600  # LOWEST * RATIO**1600 ~ 5.6e4 s: well past any simulated latency
_LOG_RATIO = math.log(RATIO)
_LOG_LOWEST = math.log(LOWEST)
MAX_RELATIVE_ERROR = math.sqrt(RATIO) - 1


class LatencyHistogram:
    """Counts of values in log buckets, with exact count, sum and max."""

    __slots__ = ("_counts", "_bulk", "zeros", "count", "total", "max")

    def __init__(self) -> None:
        self._counts = [0] * BUCKETS  # scalar adds: a list is faster than numpy
        self._bulk = np.zeros(BUCKETS, dtype=np.int64)
        self.zeros = 0
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, value: float) -> None:
        """Record one value (seconds)."""
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value
        if value < LOWEST:
            self.zeros += 1
            return
        i = int((math.log(value) - _LOG_LOWEST) / _LOG_RATIO)
        self._counts[i if i < BUCKETS else BUCKETS - 1] += 1

    def add_many(self, values: np.ndarray) -> None:
        """Record an array of values (seconds) in one pass."""
        if len(values) == 0:
            return
        self.count += len(values)
        self.total += float(values.sum())
        self.max = max(self.max, float(values.max()))
        positive = values[values >= LOWEST]
        self.zeros += len(values) - len(positive)
        idx = ((np.log(positive) - _LOG_LOWEST) / _LOG_RATIO).astype(np.int64)
        np.minimum(idx, BUCKETS - 1, out=idx)
        self._bulk += np.bincount(idx, minlength=BUCKETS)

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's values into this one."""
        self._bulk += other.counts()
        self.zeros += other.zeros
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def counts(self) -> np.ndarray:
        """Counts per log bucket (zeros excluded)."""
        return self._bulk + np.asarray(self._counts, dtype=np.int64)

    @property
    def mean(self) -> float:
        """Exact mean (seconds); 0 when empty."""
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (0..1), within :data:`MAX_RELATIVE_ERROR`; 0 when empty."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        cumulative = np.cumsum(self.counts())
        i = int(np.searchsorted(cumulative, rank - self.zeros))
        i = min(i, BUCKETS - 1)
        value = LOWEST * RATIO ** (i + 0.5)
        return min(value, self.max)

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, cumulative fractions) at the bucket middles, for CDF plots."""
        counts = self.counts()
        nonzero = np.nonzero(counts)[0]
        values = LOWEST * RATIO ** (nonzero + 0.5)
        cumulative = (self.zeros + np.cumsum(counts[nonzero])) / max(1, self.count)
        return values, cumulative
