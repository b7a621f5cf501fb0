"""Distributions of durations (seconds), parsed once from config values.

A config duration is either a constant (``"5ms"``, ``0.005``) or a table such as
``{dist = "exponential", mean = "2ms"}``.  The model only ever sees a
:class:`Distribution`; sampling goes through :class:`Sampler`, which draws from
a numpy stream in blocks so a hot loop pays a list index per draw, not a numpy
call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simulator.units import format_duration, parse_duration

DistKind = Literal["constant", "exponential", "uniform", "lognormal"]

_DIST_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "exponential": ("mean",),
    "uniform": ("low", "high"),
    "lognormal": ("median", "sigma"),
}


@dataclass(frozen=True, slots=True)
class Distribution:
    """A non-negative random duration in seconds.

    ``a`` and ``b`` are the parameters in seconds: constant (value, -),
    exponential (mean, -), uniform (low, high), lognormal (median, sigma).
    """

    kind: DistKind
    a: float
    b: float = 0.0

    @classmethod
    def constant(cls, seconds: float) -> Distribution:
        return cls("constant", float(seconds))

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"

    @property
    def mean(self) -> float:
        """Expected value, seconds."""
        if self.kind in ("constant", "exponential"):
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        return self.a * math.exp(self.b**2 / 2)

    @property
    def second_moment(self) -> float:
        """E[X^2], seconds squared (for residual-time formulas such as E[S^2]/2E[S])."""
        if self.kind == "constant":
            return self.a**2
        if self.kind == "exponential":
            return 2 * self.a**2
        if self.kind == "uniform":
            return (self.a**2 + self.a * self.b + self.b**2) / 3
        return self.a**2 * math.exp(2 * self.b**2)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws, seconds."""
        if self.kind == "constant":
            return np.full(n, self.a)
        if self.kind == "exponential":
            return rng.exponential(self.a, n)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        return rng.lognormal(math.log(self.a), self.b, n)

    def to_config(self) -> Any:
        """The config form of this distribution (a string or a table)."""
        if self.kind == "constant":
            return format_duration(self.a)
        if self.kind == "exponential":
            return {"dist": "exponential", "mean": format_duration(self.a)}
        if self.kind == "uniform":
            return {"dist": "uniform", "low": format_duration(self.a), "high": format_duration(self.b)}
        return {"dist": "lognormal", "median": format_duration(self.a), "sigma": self.b}


def parse_distribution(value: Any) -> Distribution:
    """A :class:`Distribution` from a constant duration or a ``{dist = ...}`` table."""
    if isinstance(value, Distribution):
        return value
    if not isinstance(value, dict):
        return Distribution.constant(parse_duration(value))
    kind = value.get("dist")
    if kind not in _DIST_KEYS:
        raise ValueError(f"dist must be one of {', '.join(_DIST_KEYS)}, got {kind!r}")
    expected = set(_DIST_KEYS[kind])
    given = set(value) - {"dist"}
    if given != expected:
        raise ValueError(
            f"a {kind} distribution takes {', '.join(sorted(expected))}, got {', '.join(sorted(given)) or 'nothing'}"
        )
    if kind == "lognormal":
        sigma = value["sigma"]
        if isinstance(sigma, bool) or not isinstance(sigma, int | float) or sigma < 0:
            raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
        return Distribution("lognormal", parse_duration(value["median"]), float(sigma))
    if kind == "uniform":
        low, high = parse_duration(value["low"]), parse_duration(value["high"])
        if high < low:
            raise ValueError(f"uniform needs low <= high, got low={value['low']!r}, high={value['high']!r}")
        return Distribution("uniform", low, high)
    key = _DIST_KEYS[kind][0]
    return Distribution(kind, parse_duration(value[key]))


class Sampler:
    """Draws from one distribution on one stream, a block at a time.

    Calling the sampler returns one float (seconds).  Constants never touch
    the stream, so making a delay constant does not shift other draws.
    """

    __slots__ = ("_dist", "_rng", "_block", "_buffer", "_index", "_constant")

    def __init__(self, dist: Distribution, rng: np.random.Generator, block: int = 4096):
        self._dist = dist
        self._rng = rng
        self._block = block
        self._buffer: list[float] = []
        self._index = 0
        self._constant = dist.a if dist.is_constant else None

    def __call__(self) -> float:
        if self._constant is not None:
            return self._constant
        i = self._index
        if i >= len(self._buffer):
            self._buffer = self._dist.draw(self._rng, self._block).tolist()
            i = 0
        self._index = i + 1
        return self._buffer[i]

    def many(self, n: int) -> np.ndarray:
        """``n`` draws at once as an array (for bulk fan-out), seconds."""
        if self._constant is not None:
            return np.full(n, self._constant)
        return self._dist.draw(self._rng, n)
