"""Load over time: the ``[profile]`` multiplier as a function of simulated time (seconds)."""

from __future__ import annotations

import math

import numpy as np

from simulator.config import ProfileSection
from simulator.config.profile import read_trace


class LoadProfile:
    """``multiplier(t)``: diurnal (cosine), steps (piecewise constant) or trace (linear)."""

    def __init__(self, profile: ProfileSection):
        self.kind = profile.kind
        self.applies_to = frozenset(profile.applies_to)
        if profile.kind == "diurnal":
            self.period, self.peak_at, self.trough = profile.period, profile.peak_at, profile.trough
            self.peak = 1.0
            self.breaks: list[float] = []
        else:
            if profile.kind == "steps":
                times = np.array([t for t, _ in profile.points], dtype=float)
                values = np.array([m for _, m in profile.points], dtype=float)
            else:
                times, values = read_trace(profile.file)
            self.times, self.values = times, values
            self.peak = float(values.max())
            self.breaks = times.tolist()  # when a steps profile changes (trace: its rows)

    def multiplier(self, t):
        """The multiplier at ``t`` (a number or an array of seconds)."""
        if self.kind == "diurnal":
            phase = 2.0 * math.pi * (np.asarray(t, dtype=float) - self.peak_at) / self.period
            out = self.trough + (1.0 - self.trough) * 0.5 * (1.0 + np.cos(phase))
        elif self.kind == "steps":
            i = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1
            out = self.values[np.clip(i, 0, len(self.values) - 1)]
        else:
            out = np.interp(np.asarray(t, dtype=float), self.times, self.values)
        return float(out) if np.ndim(out) == 0 else out

    def zero_after(self, t: float) -> bool:
        """Whether the multiplier is 0 from ``t`` on, for good."""
        if self.kind == "diurnal":
            return False
        return t >= self.breaks[-1] and float(self.values[-1]) <= 0.0

    def integral(self, t0: float, t1: float, points: int = 20001) -> float:
        """∫ multiplier dt over ``[t0, t1]`` (seconds), by the trapezoid rule on a fine grid plus the breaks."""
        grid = np.union1d(np.linspace(t0, t1, points), [b for b in self.breaks if t0 < b < t1])
        if self.kind == "steps":  # exact: the value on each piece
            left = grid[:-1]
            return float(np.sum(self.multiplier(left) * np.diff(grid)))
        return float(np.trapezoid(self.multiplier(grid), grid))
