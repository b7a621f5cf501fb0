"""The build-or-buy figure: dollars per month against clients, one line per option.

Takes plain rows (``option``, ``clients``, ``cost.per_month``) so it knows
nothing of how they were planned; an option without a price at some client
count (no fleet met the constraints, no published plan) leaves a gap there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.output.plotting import plt
from simulator.output.run_figures import save_figure

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]


def cost_by_clients(rows: Iterable[Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Draw $/month against clients (log-log), one line per option; returns the file written."""
    lines: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        points = lines.setdefault(str(row["option"]), [])
        cost = row.get("cost.per_month")
        if cost is not None and math.isfinite(cost) and cost > 0:
            points.append((float(row["clients"]), float(cost)))
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (option, points) in enumerate(lines.items()):
        if not points:
            continue
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], linestyle="--" if "own fleet" not in option else "-",
                label=option)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("clients")
    ax.set_ylabel("$ per month (730 h)")
    ax.set_title(title or "Build or buy: monthly cost against clients")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    out = Path(path)
    save_figure(fig, out)
    return out
