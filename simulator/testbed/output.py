"""A testbed run's folder: summary.json (same metric names as a simulated run), config.toml, samples.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from simulator.output import strict_json
from simulator.output.atomic import write_atomic
from simulator.output.results import config_toml
from simulator.testbed.run import Measured

SAMPLE_COLUMNS = ("time", "open_connections", "server_rss_bytes", "server_cpu_seconds")


def write_testbed(measured: Measured, folder: str | Path) -> Path:
    """Write a testbed run's folder (config, samples, summary) atomically."""
    folder = Path(folder)
    write_atomic(folder / "config.toml", config_toml(measured.config.to_dict()))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(SAMPLE_COLUMNS)
    writer.writerows(measured.samples)
    write_atomic(folder / "samples.csv", buf.getvalue())
    summary = {"metrics": measured.metrics, "config": measured.config.to_dict(), "run": measured.run}
    write_atomic(folder / "summary.json", strict_json.dumps(summary, indent=2) + "\n")
    return folder


def read_samples(folder: str | Path) -> list[tuple[float, ...]]:
    """The samples of a testbed run folder (none if it has no samples.csv)."""
    path = Path(folder) / "samples.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [tuple(float(x) for x in row) for row in rows]
