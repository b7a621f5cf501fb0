"""Figures of one run: the latency CDF and the time series (matplotlib, Agg)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter, MultipleLocator

from simulator.config import FailureSpec
from simulator.config.sections import OperationSpec
from simulator.config.units import parse_duration
from simulator.output.atomic import write_atomic
from simulator.output.plotting import plt
from simulator.output.readers import (
    LATENCY_CDF_COLUMNS,
    TIMESERIES_COLUMNS,
    read_csv_columns,
    read_summary,
)


def save_figure(fig, path: Path) -> None:
    """Save a figure atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _title(run_dir: Path, config: dict) -> str:
    try:
        return (
            f"{config['experiment']['name']}: {config['mechanism']['kind']},"
            f" {config['clients']['count']:,} clients"
        )
    except KeyError:
        return run_dir.name


#: timeseries.csv columns sampled at the end of their window; the others are per-window rates.
GAUGES = ("open_connections", "memory_bytes")


def _window_ends(starts: np.ndarray, config: dict) -> np.ndarray:
    """Where each window ends: the next start, and the run's end for the last one."""

    if not len(starts):
        return starts
    exp = config.get("experiment", {})
    try:
        end = parse_duration(exp["warmup"]) + parse_duration(exp["duration"])
    except (KeyError, ValueError):
        end = starts[-1] + (starts[1] - starts[0] if len(starts) > 1 else 1.0)
    return np.append(starts[1:], max(end, starts[-1]))


def _per_window(ax, starts: np.ndarray, ends: np.ndarray, values: np.ndarray, **kw) -> None:
    """A per-window value drawn flat across its window (a step), not as a point at its start."""
    if len(starts):
        ax.step(np.append(starts, ends[-1]), np.append(values, values[-1]), where="post", lw=1, **kw)


def _spans(config: dict) -> list[tuple[float, float, str, str]]:
    """``(start s, end s, label, colour)``: the warm-up, then each failure."""

    spans = []
    try:
        warmup = parse_duration(config.get("experiment", {}).get("warmup", 0))
    except ValueError:
        warmup = 0.0
    if warmup > 0:
        spans.append((0.0, warmup, "warm-up", "0.5"))
    for raw in config.get("failures") or []:
        try:
            f = FailureSpec.model_validate(raw)
        except ValueError:
            continue
        what = f"node {f.node} down" if f.kind == "node_crash" else f"{f.fraction:.0%} of receivers down"
        spans.append((f.at, f.at + f.duration, what, "tab:red"))
    return spans + _operation_spans(config)


def _operation_spans(config: dict) -> list[tuple[float, float, str, str]]:
    """``(start s, end s, label, colour)`` for each [[operations]] entry.  The end is an estimate
    from the config (the run does not record it): a rolling deploy replaces ceil(nodes / batch)
    batches, each booting, deregistering then draining; a scale_to boots or drains once."""
    spans = []
    nodes = config.get("server", {}).get("nodes", 1)
    for raw in config.get("operations") or []:
        try:
            op = OperationSpec.model_validate(raw)
        except ValueError:
            continue
        if op.kind == "rolling_deploy":
            batches = -(-int(nodes) // op.batch)
            length = batches * (op.boot_time + op.deregistration_delay + op.drain)
            spans.append((op.at, op.at + length, "rolling deploy", "tab:purple"))
        else:
            length = op.boot_time if op.nodes >= nodes else op.drain
            nodes = op.nodes
            spans.append((op.at, op.at + max(length, 1.0), f"scale to {op.nodes}", "tab:purple"))
    return spans


def _scaling_steps(starts: np.ndarray, nodes: np.ndarray, spans: list) -> list[float]:
    """Where the node count starts to change (the start of each run of windows whose mean node
    count differs from the previous window's), outside the operations' spans already shaded."""
    steps = []
    changed = np.abs(np.diff(nodes)) > 1e-9
    for i in np.flatnonzero(changed) + 1:
        if i >= 2 and changed[i - 2]:
            continue  # the same step, still under way
        t = float(starts[i])
        if not any(start <= t <= end for start, end, _, colour in spans if colour == "tab:purple"):
            steps.append(t)
    return steps


def _varies(ts: dict, column: str) -> bool:
    """The column exists and is not constant (its panel would be a flat line otherwise)."""
    values = ts.get(column)
    if values is None or not len(values):
        return False
    finite = values[np.isfinite(values)]
    return len(finite) > 1 and float(finite.max()) != float(finite.min())


def run_figures(run_dir: str | Path, fmt: str = "png") -> list[Path]:
    """Draw ``latency_cdf.FMT`` and ``timeseries.FMT`` in ``run_dir``; their paths."""
    run_dir = Path(run_dir)
    # every file is read and checked before anything is drawn: a bad one leaves no figure behind
    config = read_summary(run_dir / "summary.json")["config"]
    title = _title(run_dir, config)
    cdf = read_csv_columns(run_dir / "latency_cdf.csv", LATENCY_CDF_COLUMNS)
    ts = read_csv_columns(run_dir / "timeseries.csv", TIMESERIES_COLUMNS)
    made = []
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if len(cdf["latency_seconds"]):
        ax.step(cdf["latency_seconds"], cdf["cumulative_fraction"], where="post")
        ax.set_xscale("log")
    ax.set_xlabel("notification latency, publish to client (s)")
    ax.set_ylabel("fraction of deliveries")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"Latency CDF — {title}", fontsize=10)
    path = run_dir / f"latency_cdf.{fmt}"
    save_figure(fig, path)
    made.append(path)

    panels = [
        ("open_connections", "open connections", 1.0),
        ("requests_per_second", "requests / s", 1.0),
        ("cpu_busy_fraction", "CPU busy (%)", 100.0),
        ("bytes_per_second", "bytes / s (MB/s)", 1e-6),
        ("memory_bytes", "server memory (MiB)", 1 / 2**20),
        ("latency_p99", "latency p50 / p99 (s)", 1.0),
    ]
    # reconnects_per_s is the docs/design.md name; runs written so far carry reconnects_per_second
    reconnects = next((c for c in ("reconnects_per_s", "reconnects_per_second") if c in ts), None)
    if reconnects and np.nansum(ts[reconnects]) > 0:
        panels.insert(2, (reconnects, "reconnects / s", 1.0))
    # a fleet or a population that changes over the run gets its own panels, first
    for column, label in (("clients_online", "online clients"), ("nodes", "server nodes")):
        if _varies(ts, column):
            panels.insert(0, (column, label, 1.0))
    rows = -(-len(panels) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(10, 2.5 * rows), sharex=True, squeeze=False)
    t = ts["time"]  # the start of each sample window
    ends = _window_ends(t, config)
    spans = _spans(config)
    steps = _scaling_steps(t, ts["nodes"], spans) if _varies(ts, "nodes") else []
    for i, (ax, (column, label, scale)) in enumerate(zip(axes.flat, panels, strict=False)):
        for start, end, what, colour in spans:
            ax.axvspan(start, end, color=colour, alpha=0.15, lw=0)
            if i < 2:  # named once per column, at the top
                ax.text((start + end) / 2, 1.01, what, transform=ax.get_xaxis_transform(), ha="center",
                        va="bottom", fontsize=7, color=colour)
        for k, step in enumerate(steps):  # scaling steps: a line each, named once on the node panel
            named = column == "nodes" and k == 0
            ax.axvline(step, color="tab:green", lw=0.8, ls="--", alpha=0.7, label="scaling step" if named else None)
        if column == "latency_p99":
            _per_window(ax, t, ends, ts["latency_p50"], label="p50")
            _per_window(ax, t, ends, ts["latency_p99"], label="p99")
            ax.legend(fontsize=8)
        elif column in GAUGES:  # sampled at the end of each window
            ax.plot(ends, ts[column] * scale, lw=1)
        else:
            _per_window(ax, t, ends, ts[column] * scale)
        if column == "nodes" and steps:
            ax.legend(fontsize=8)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    # a run of hours reads better in hours (ticks on whole hours); a shorter one stays in seconds
    hours = len(ends) and ends[-1] > 4 * 3600
    if hours:
        axes.flat[0].xaxis.set_major_locator(MultipleLocator(3600 * max(1, round(ends[-1] / 3600 / 8))))
        axes.flat[0].xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 3600:g}"))
    for ax in list(axes.flat)[len(panels) - 2:len(panels)]:
        ax.set_xlabel("simulated time (h)" if hours else "simulated time (s)")
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle(f"Time series — {title}", fontsize=11)
    fig.tight_layout()
    path = run_dir / f"timeseries.{fmt}"
    save_figure(fig, path)
    made.append(path)
    return made
