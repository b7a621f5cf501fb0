"""The mobile battery figure: radio energy per client-hour and the server's $/month against the
notification rate, one line per mechanism (from a sweep over ``workload.rate`` and
``mechanism.kind``, e.g. ``experiments/mobile_battery.toml``).

    python -m simulator.output.mobile_figures SWEEP_DIR OUT.png
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from simulator.config import ConfigError
from simulator.output.plotting import plt
from simulator.output.run_figures import save_figure
from simulator.output.sweep_figures import DASHES, MARKERS, load_sweep

ENERGY = "clients.energy_joules_per_hour"
COST = "cost.per_month"


def battery_figure(folder: str | Path, path: str | Path) -> Path:
    """Draw energy per client-hour (left) and $/month (right) against notifications per client-hour."""
    data = load_sweep(folder)
    for axis in ("workload.rate", "mechanism.kind"):
        if axis not in data.axes:
            raise ConfigError(f"error: {folder}: not swept over {axis} (the battery figure needs"
                              " workload.rate and mechanism.kind)")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, kind in enumerate(data.axes["mechanism.kind"]):
        rows = sorted((r for r in data.rows if r.get("mechanism.kind") == kind), key=lambda r: float(r["workload.rate"]))
        if not rows:
            continue
        x = np.array([float(r["workload.rate"]) * 3600 for r in rows])
        style = {"marker": MARKERS[i % len(MARKERS)], "linestyle": DASHES[i % len(DASHES)], "label": str(kind)}
        for ax, metric in ((left, ENERGY), (right, COST)):
            y = np.array([r.get(metric, math.nan) for r in rows], dtype=float)
            ci = np.nan_to_num(np.array([r.get(f"{metric}.ci95", math.nan) for r in rows], dtype=float))
            ax.errorbar(x, y, yerr=ci, capsize=3, **style)
    rates = sorted({float(r) * 3600 for r in data.axes["workload.rate"]})
    for ax in (left, right):
        ax.set_xscale("log")
        # ticks at the swept rates only: a log axis's many minor labels cost seconds to lay out
        ax.xaxis.set_major_locator(FixedLocator(rates))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("notifications per client-hour")
        ax.grid(True, alpha=0.3)
    left.set_ylabel("radio energy per client-hour (J)")
    left.set_ylim(bottom=0)
    right.set_ylabel("server cost per month ($)")
    right.set_ylim(bottom=0)
    left.set_title("battery: radio energy per phone-hour", fontsize=10)
    right.set_title("server: $ per month", fontsize=10)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(data.name, fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.22, wspace=0.25)
    out = Path(path)
    save_figure(fig, out)
    return out


def main(argv: list[str]) -> int:
    """`python -m simulator.output.mobile_figures SWEEP_DIR OUT.png`: draw the battery figure."""
    if len(argv) != 2:
        print("usage: python -m simulator.output.mobile_figures SWEEP_DIR OUT.png", file=sys.stderr)
        return 2
    try:
        print(battery_figure(argv[0], argv[1]))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
