"""Distributions of durations (seconds), parsed once from config values.

A config duration is either a constant (``"5ms"``, ``0.005``) or a table such as
``{dist = "exponential", mean = "2ms"}``.  The model only ever sees a
:class:`Distribution`; sampling goes through :class:`Sampler`, which draws from
a numpy stream in blocks so a hot loop pays a list index per draw, not a numpy
call.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simulator.config.units import format_duration, parse_duration

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
        """A constant of `seconds` (draws nothing from a stream)."""
        return cls("constant", float(seconds))

    @property
    def is_constant(self) -> bool:
        """True when every draw is the same value."""
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


#: Largest lognormal sigma accepted: beyond it the mean (median * e^(sigma^2/2))
#: is more than 10^21 times the median, which no latency or cost could mean.
MAX_SIGMA = 10.0


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def parse_distribution(value: Any) -> Distribution:
    """A :class:`Distribution` from a constant duration or a ``{dist = ...}`` table.

    Raises ``ValueError`` with a user-facing message naming the offending
    table key (``mean: must be >= 0, got '-2ms'``).
    """
    if isinstance(value, Distribution):
        return value
    if not isinstance(value, dict):
        return Distribution.constant(parse_duration(value))
    kinds = ", ".join(_DIST_KEYS)
    if "dist" not in value:
        raise ValueError(f"a distribution table needs dist = one of {kinds}, got keys {', '.join(map(str, value)) or 'none'}")
    kind = value["dist"]
    if not isinstance(kind, str) or kind not in _DIST_KEYS:
        close = difflib.get_close_matches(str(kind), list(_DIST_KEYS), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"dist must be one of {kinds}, got {kind!r}{hint}")
    expected = _DIST_KEYS[kind]
    given = [k for k in value if k != "dist"]
    unknown = [k for k in given if k not in expected]
    missing = [k for k in expected if k not in value]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown key {', '.join(map(repr, unknown))}")
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        raise ValueError(
            f"{_article(kind)} {kind} distribution takes {', '.join(expected)}: {'; '.join(parts)}"
        )
    params: list[float] = []
    for key in expected:
        if key == "sigma":
            sigma = value["sigma"]
            if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not math.isfinite(sigma):
                raise ValueError(f"sigma: must be a number, got {sigma!r}")
            if not 0 <= sigma <= MAX_SIGMA:
                raise ValueError(f"sigma: must be between 0 and {MAX_SIGMA:g}, got {sigma!r}")
            params.append(float(sigma))
            continue
        try:
            params.append(parse_duration(value[key]))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if key == "median" and params[-1] <= 0:
            # log(0) is undefined: a lognormal of median 0 is not a distribution
            raise ValueError(f"median: must be > 0 (for a delay of 0, write \"0s\"), got {value['median']!r}")
    if kind == "uniform" and params[1] < params[0]:
        raise ValueError(
            f"uniform needs low <= high, got low={value['low']!r}, high={value['high']!r}"
        )
    return Distribution(kind, *params)


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
        """The next draw (from the numpy block; a constant draws nothing)."""
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
