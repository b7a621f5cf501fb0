"""Per-component random streams derived from the experiment seed.

Each component asks for its stream by a stable name (``"link"``,
``"node.0.service"``, ``"workload"``).  The stream's seed is the experiment
seed's :class:`numpy.random.SeedSequence` with a spawn key derived from the
name, which is what ``SeedSequence.spawn`` does with a counter.  Keying by
name instead of by spawn order means adding a component never changes the
draws of another one.
"""

from __future__ import annotations

import zlib

import numpy as np

from simulator.config.distributions import Distribution, Sampler


class RandomStreams:
    """Factory of independent numpy generators, one per named component."""

    def __init__(self, seed: int):
        self.seed = seed
        self._root = np.random.SeedSequence(seed)

    def generator(self, name: str) -> np.random.Generator:
        """A fresh generator for component ``name``; the same name gives the same stream."""
        key = zlib.crc32(name.encode("utf-8"))
        child = np.random.SeedSequence(self._root.entropy, spawn_key=(key,))
        return np.random.Generator(np.random.PCG64(child))

    def sampler(self, name: str, dist: Distribution, block: int = 4096) -> Sampler:
        """A block :class:`Sampler` of ``dist`` on the stream ``name``."""
        return Sampler(dist, self.generator(name), block)
