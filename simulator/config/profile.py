"""The ``[profile]`` section's trace file and checks: load over time (docs/design.md, "The fleet over time")."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from simulator.config.files import read_bounded_text
from simulator.config.sections import PROFILE_KEYS, ProfileSection

Problem = tuple[str, str]


#: A trace is read whole into memory: a week at one row per second is 604,800 rows
#: (about 12 MiB of CSV), so these caps leave room while keeping a run's memory bounded.
MAX_TRACE_BYTES = 32 * 2**20
MAX_TRACE_ROWS = 1_000_000


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A trace CSV's (times in seconds, multipliers); ``ValueError`` with one line if it is bad.

    Columns ``time`` and ``multiplier`` (a header row naming them, or none); times
    strictly increasing and >= 0, multipliers finite and >= 0, at least one row and at
    most :data:`MAX_TRACE_ROWS`; a regular file of at most :data:`MAX_TRACE_BYTES`.
    """
    text = read_bounded_text(Path(path), "trace CSV", MAX_TRACE_BYTES)
    rows = []
    for row in csv.reader(io.StringIO(text, newline="")):
        if row and any(cell.strip() for cell in row):
            rows.append(row)
            if len(rows) > MAX_TRACE_ROWS + 1:  # enough to know (+ 1: a header row)
                break
    if rows and [cell.strip().lower() for cell in rows[0]] == ["time", "multiplier"]:
        rows = rows[1:]
    if len(rows) > MAX_TRACE_ROWS:
        raise ValueError(f"{str(path)!r} has more than {MAX_TRACE_ROWS:,} rows, the most a trace may have")
    if not rows:
        raise ValueError(f"{str(path)!r} has no rows (columns: time in seconds, multiplier)")
    times, mults = [], []
    for line, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise ValueError(f"{str(path)!r} row {line}: expected 2 columns (time, multiplier), got {len(row)}")
        try:
            t, m = float(row[0]), float(row[1])
        except ValueError:
            raise ValueError(f"{str(path)!r} row {line}: not numbers: {','.join(row)!r}") from None
        if not (math.isfinite(t) and math.isfinite(m)) or t < 0 or m < 0:
            raise ValueError(f"{str(path)!r} row {line}: time and multiplier must be finite and >= 0")
        if times and t <= times[-1]:
            raise ValueError(f"{str(path)!r} row {line}: times must increase ({t:g} after {times[-1]:g})")
        times.append(t)
        mults.append(m)
    return np.asarray(times), np.asarray(mults)


def profile_problems(profile: ProfileSection | None) -> list[Problem]:
    """Keys that do not belong to the kind, and steps that cannot be used (the file is read at load)."""
    if profile is None:
        return []
    problems: list[Problem] = []
    allowed = ("kind", "applies_to", *PROFILE_KEYS[profile.kind])
    for key in sorted(profile.model_fields_set - set(allowed)):
        problems.append((f"profile.{key}", f"{profile.kind} does not take {key} (it takes {', '.join(PROFILE_KEYS[profile.kind])})"))
    if not profile.applies_to:
        problems.append(("profile.applies_to", "must name clients, rate or both"))
    if profile.kind == "steps":
        if not profile.points:
            problems.append(("profile.points", 'steps needs points, e.g. [["0s", 0.5], ["1h", 1.0]]'))
        times = [t for t, _ in profile.points]
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            problems.append(("profile.points", "times must increase"))
        if any(m < 0 for _, m in profile.points):
            problems.append(("profile.points", "multipliers must be >= 0"))
        if "clients" in profile.applies_to and any(m > 1 for _, m in profile.points):
            problems.append(("profile.points", "a multiplier of the clients must be <= 1 (clients.count is the peak population)"))
    if profile.kind == "trace" and not profile.file:
        problems.append(("profile.file", "trace needs file = a CSV of time (seconds), multiplier"))
    return problems


def resolve_trace(profile: ProfileSection | None, config_path: str | Path | None) -> list[Problem]:
    """Make a trace's file relative to the config file absolute and check it reads; the problems."""
    if profile is None or profile.kind != "trace" or not profile.file:
        return []
    path = Path(profile.file)
    if not path.is_absolute() and config_path is not None:
        path = Path(config_path).resolve().parent / path
    profile.file = str(path)
    try:
        _, mults = read_trace(path)
    except ValueError as exc:
        return [("profile.file", str(exc))]
    if "clients" in profile.applies_to and float(mults.max()) > 1:
        return [("profile.file", "a multiplier of the clients must be <= 1 (clients.count is the peak population)")]
    return []
