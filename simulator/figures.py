"""Figures of one run: the latency CDF and the time series (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from simulator.atomic import write_atomic  # noqa: E402


def save_figure(fig, path: Path) -> None:
    """Save a figure atomically and close it."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _title(config: dict) -> str:
    return f"{config['experiment']['name']}: {config['mechanism']['kind']}, {config['clients']['count']:,} clients"


def run_figures(run_dir: str | Path, fmt: str = "png") -> list[Path]:
    """Draw ``latency_cdf.FMT`` and ``timeseries.FMT`` in ``run_dir``; their paths."""
    from simulator.results import (
        LATENCY_CDF_COLUMNS,
        TIMESERIES_COLUMNS,
        read_csv_columns,
        read_summary,
    )

    run_dir = Path(run_dir)
    # every file is read and checked before anything is drawn: a bad one leaves no figure behind
    title = _title(read_summary(run_dir / "summary.json")["config"])
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
    fig, axes = plt.subplots(3, 2, figsize=(10, 7.5), sharex=True)
    t = ts["time"]
    for ax, (column, label, scale) in zip(axes.flat, panels, strict=True):
        if column == "latency_p99":
            ax.plot(t, ts["latency_p50"], label="p50", lw=1)
            ax.plot(t, ts["latency_p99"], label="p99", lw=1)
            ax.legend(fontsize=8)
        else:
            ax.plot(t, ts[column] * scale, lw=1)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("simulated time (s)")
    fig.suptitle(f"Time series — {title}", fontsize=11)
    fig.tight_layout()
    path = run_dir / f"timeseries.{fmt}"
    save_figure(fig, path)
    made.append(path)
    return made
