"""Figures of a sweep: each metric against a swept axis, one line per value of another.

Reads a sweep folder (``manifest.json`` for the axes and the typed point
values, ``summary.csv`` for the means and 95 % half-widths) and draws, per
metric, mean lines with a shaded confidence band.  A numeric axis (numbers, or
durations/sizes such as ``"5s"``/``"64KiB"``) is the x axis, on a log scale
when it spans two decades or more; without one, grouped bars with error bars.
Axes beyond x and the line axis give one figure per combination of their
values.  Units are scaled for reading (ms, MiB/s, %) and named in the labels.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.config import ConfigError
from simulator.config.units import parse_duration, parse_rate, parse_size
from simulator.output.catalogue import KEY_METRICS, describe, display_scale, label_of, unit_of
from simulator.output.plotting import plt
from simulator.output.run_figures import save_figure

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
DASHES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1))]


def metric_label(metric: str, unit_label: str) -> str:
    """An axis label: the metric's label with its display unit."""
    label = label_of(metric)
    return f"{label} ({unit_label})" if unit_label else label


def numeric_axis(values: list[Any]) -> tuple[list[float], str] | None:
    """The axis values as numbers with their unit (durations in s, sizes in B), or None."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], ""
    if not all(isinstance(v, str) for v in values):
        return None
    for parse, unit in ((parse_duration, "s"), (parse_size, "B"), (parse_rate, "bit/s")):
        try:
            return [parse(v) for v in values], unit
        except ValueError:
            continue
    return None


@dataclass
class SweepData:
    """What the figures and the report need from a sweep folder."""

    folder: Path
    manifest: dict[str, Any]
    axes: dict[str, list[Any]]
    rows: list[dict[str, Any]]  # summary rows: typed swept values + float metrics

    @property
    def name(self) -> str:
        """The experiment's name, or the folder's."""
        return self.manifest.get("experiment") or self.folder.name

    def metrics(self) -> list[str]:
        """The metrics `summary.csv` holds with a confidence half-width."""
        if not self.rows:
            return []
        return [k for k in self.rows[0] if k.endswith(".ci95") is False and f"{k}.ci95" in self.rows[0]]


def load_sweep(folder: str | Path) -> SweepData:
    """Read a sweep folder's manifest and summary (ConfigError if it is not one)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"error: {folder}: not a sweep folder (no readable manifest.json)") from None
    values = {p["id"]: p["values"] for p in manifest.get("points", [])}
    rows = []
    path = folder / "summary.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            for raw in csv.DictReader(f):
                row: dict[str, Any] = {"point": raw["point"], **values.get(raw["point"], {})}
                for key, text in raw.items():
                    if key in row:
                        continue
                    row[key] = float(text) if text != "" else math.nan
                rows.append(row)
    return SweepData(folder, manifest, dict(manifest.get("axes", {})), rows)


def slug(text: str) -> str:
    """`text` reduced to a file-name-safe slug."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def choose_axes(data: SweepData, x: str | None, by: str | None) -> tuple[str | None, str | None, list[str]]:
    """The x axis, the line axis and the facet axes (defaults: numeric x with most values)."""
    axes = data.axes
    for key, what in ((x, "--x"), (by, "--by")):
        if key is not None and key not in axes:
            listed = ", ".join(axes) or "none: the sweep has no axes"
            raise ConfigError(f"error: {what} {key}: not a swept key of {data.folder} (swept: {listed})")
    if x is None:
        numeric = [k for k in axes if k != by and numeric_axis(axes[k]) is not None and len(axes[k]) > 1]
        candidates = numeric or [k for k in axes if k != by]
        x = max(candidates, key=lambda k: len(axes[k])) if candidates else None
    if by is None:
        rest = [k for k in axes if k != x]
        by = "mechanism.kind" if "mechanism.kind" in rest else (rest[0] if rest else None)
    if by == x:
        raise ConfigError(f"error: --by {by}: must differ from --x")
    facets = [k for k in axes if k not in (x, by)]
    return x, by, facets


def sweep_figures(
    folder: str | Path,
    x: str | None = None,
    y: list[str] | None = None,
    by: str | None = None,
    fmt: str = "png",
    out: str | Path | None = None,
) -> list[Path]:
    """Draw ``y`` (default :data:`KEY_METRICS`) against ``x`` per ``by``; the files written.

    Without ``x``, ``y`` or ``by`` these are the sweep's own figures
    (``METRIC--vs-X--by-BY``, ``overview``); with any of them, a custom plot
    named ``plot-METRIC--vs-X--by-BY`` (and ``plot-M1-M2--vs-...`` for several
    metrics together), so it never overwrites the sweep's figures.
    """
    custom = bool(x or y or by)
    data = load_sweep(folder)
    out_dir = Path(out) if out is not None else data.folder / "figures"
    available = data.metrics()
    metrics = list(y) if y else [m for m in KEY_METRICS if m in available]
    for metric in metrics:
        if available and metric not in available:
            raise ConfigError(f"error: --y {metric}: no such metric in {data.folder}/summary.csv")
    if not data.rows:
        return []
    x, by, facets = choose_axes(data, x, by)
    made = []
    for combo in itertools.product(*(data.axes[k] for k in facets)):
        fixed = dict(zip(facets, combo, strict=True))
        rows = [r for r in data.rows if all(r.get(k) == v for k, v in fixed.items())]
        if not rows:
            continue
        suffix = "".join(f"--{slug(k)}-{slug(str(v))}" for k, v in fixed.items())
        where = ", ".join(f"{k} = {v}" for k, v in fixed.items())
        along = (f"--vs-{slug(x)}" if x else "") + (f"--by-{slug(by)}" if by else "")
        prefix = "plot-" if custom else ""
        for metric in metrics:
            fig, ax = plt.subplots(figsize=(6.4, 4.2))
            draw_metric(ax, data, rows, metric, x, by)
            title = f"{label_of(metric)} — {data.name}"
            ax.set_title(title + (f"\n{where}" if where else ""), fontsize=10)
            path = out_dir / f"{prefix}{slug(metric)}{along}{suffix}.{fmt}"
            save_figure(fig, path)
            made.append(path)
        if not custom:
            made.append(overview(data, rows, metrics, x, by, out_dir / f"overview{suffix}.{fmt}", where))
        elif len(metrics) > 1:
            path = out_dir / f"plot-{_metrics_slug(metrics)}{along}{suffix}.{fmt}"
            made.append(overview(data, rows, metrics, x, by, path, where))
    return made


def _metrics_slug(metrics: list[str]) -> str:
    """``latency_p99-connections_peak`` (slugs never hold ``-``); a short digest past four
    metrics, so that file names stay short."""
    if len(metrics) <= 4:
        return "-".join(slug(m) for m in metrics)
    import hashlib

    return f"{len(metrics)}_metrics_" + hashlib.sha1("\n".join(metrics).encode()).hexdigest()[:8]


def _series(rows: list[dict[str, Any]], metric: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    mean = np.array([r.get(metric, math.nan) for r in rows], dtype=float) * scale
    ci = np.array([r.get(f"{metric}.ci95", math.nan) for r in rows], dtype=float) * scale
    return mean, ci


def draw_metric(ax, data: SweepData, rows: list[dict[str, Any]], metric: str, x: str | None, by: str | None) -> None:
    """One metric on ``ax``: lines with CI bands over a numeric x, else grouped bars.

    A count's y axis starts at 0 (a 12 % change must not look like 5x); a metric
    that is 0 at every point is said in words, not drawn on a -0.04..0.04 axis.
    """
    unit = unit_of(metric)
    known = [r[metric] for r in rows if not math.isnan(r.get(metric, math.nan))]
    if known and all(v == 0 for v in known):
        _say_zero_everywhere(ax, metric, x)
        return
    largest = max((abs(v) for v in known), default=0.0)
    scale, unit_label = display_scale(unit, largest)
    groups = data.axes[by] if by else [None]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    parsed = numeric_axis(data.axes[x]) if x else None
    if parsed is not None:
        xs_of = dict(zip(map(_hashable, data.axes[x]), parsed[0], strict=True))
        log_y = _spans_decades(rows, metric)
        zero: list[str] = []
        for i, group in enumerate(groups):
            sel = [r for r in rows if by is None or r.get(by) == group]
            sel.sort(key=lambda r: xs_of[_hashable(r[x])])
            if not sel:
                continue
            xs = np.array([xs_of[_hashable(r[x])] for r in sel])
            mean, ci = _series(sel, metric, scale)
            if log_y:  # a log axis cannot show 0: say so instead of drawing a dive to the bottom
                if np.all(mean[~np.isnan(mean)] <= 0):
                    zero.append(str(group))
                mean = np.where(mean > 0, mean, np.nan)
            colour = colours[i % len(colours)]
            # Distinct markers and dashes keep coinciding lines (SSE and WebSocket) visible.
            ax.plot(xs, mean, marker=MARKERS[i % len(MARKERS)], ms=4.5, lw=1.6, color=colour,
                    ls=DASHES[i % len(DASHES)], label=str(group) if by else None)
            ok = ~np.isnan(ci)
            if ok.any():
                ax.fill_between(xs[ok], (mean - ci)[ok], (mean + ci)[ok], color=colour, alpha=0.2, lw=0)
        xvals = np.array(parsed[0])
        if xvals.min() > 0 and xvals.max() / xvals.min() >= 10:
            ax.set_xscale("log")
        ax.set_xlabel(_axis_label(x, parsed[1]))
        if log_y:
            ax.set_yscale("log")
        _plain_log_ticks(ax)
        if zero:
            ax.text(0.98, 0.03, f"0 at every point: {', '.join(zero)}", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7, color="0.3")
    else:
        cats = data.axes[x] if x else [""]
        width = 0.8 / len(groups)
        for i, group in enumerate(groups):
            heights, errs = [], []
            for cat in cats:
                sel = [r for r in rows if (x is None or r.get(x) == cat) and (by is None or r.get(by) == group)]
                mean, ci = _series(sel[:1], metric, scale) if sel else (np.array([np.nan]), np.array([np.nan]))
                heights.append(mean[0])
                errs.append(0.0 if np.isnan(ci[0]) else ci[0])
            pos = np.arange(len(cats)) + (i - (len(groups) - 1) / 2) * width
            ax.bar(pos, heights, width, yerr=errs, capsize=3, color=colours[i % len(colours)],
                   label=str(group) if by else None)
        ax.set_xticks(np.arange(len(cats)), [str(c) for c in cats], rotation=20 if len(cats) > 4 else 0)
        if x:
            ax.set_xlabel(x)
    if describe(metric).is_count and ax.get_yscale() == "linear":
        ax.set_ylim(bottom=0)
    ax.set_ylabel(metric_label(metric, unit_label))
    ax.grid(True, which="both", alpha=0.3)
    if by:
        ax.legend(title=by, fontsize=8, title_fontsize=8)


def _say_zero_everywhere(ax, metric: str, x: str | None) -> None:
    ax.text(0.5, 0.5, f"{label_of(metric)}: 0 at every point", transform=ax.transAxes,
            ha="center", va="center", fontsize=10, color="0.25")
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_ylabel(label_of(metric))
    if x:
        ax.set_xlabel(x)


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def _axis_label(key: str, unit: str) -> str:
    return f"{key} ({unit})" if unit else key


def _tick(value: float, _pos: int | None = None) -> str:
    if value >= 1 and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def _plain_log_ticks(ax) -> None:
    """Log axes labelled 100, 1,000, 0.01 (not 10², 2×10⁰); minor labels only on short spans."""
    from matplotlib import ticker

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale != "log":
            continue
        axis.set_major_formatter(ticker.FuncFormatter(_tick))
        low, high = sorted(ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
        short = low > 0 and high / low < 30
        axis.set_minor_formatter(ticker.FuncFormatter(_minor_tick) if short else ticker.NullFormatter())


def _minor_tick(value: float, _pos: int | None = None) -> str:
    """Label the minor ticks at 2, 3 and 5 x 10^k only (more would crowd)."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return _tick(value) if any(abs(mantissa - m) < 1e-6 for m in (2, 3, 5)) else ""


def _spans_decades(rows: list[dict[str, Any]], metric: str) -> bool:
    """A log y axis when the positive values span a factor of 10 or more."""
    values = np.array([r.get(metric, math.nan) for r in rows], dtype=float)
    values = values[values > 0]
    return values.size >= 2 and values.max() / values.min() >= 10


def overview(data: SweepData, rows, metrics: list[str], x, by, path: Path, where: str) -> Path:
    """All ``metrics`` as panels of one figure (for reports and the README)."""
    n = len(metrics)
    cols = 2 if n <= 4 else 3 if n <= 9 else 4
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.4 * nrows), squeeze=False)
    legend_kept = False  # one legend, on the first panel that has one (a 0-everywhere panel has none)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        draw_metric(ax, data, rows, metric, x, by)
        ax.set_title(label_of(metric), fontsize=9)
        if ax.get_legend() is not None:
            if legend_kept:
                ax.get_legend().remove()
            legend_kept = True
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{data.name}" + (f" ({where})" if where else ""), fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    return path
