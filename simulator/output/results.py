"""Writing results: every file atomically (a temporary file renamed into place)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import tomli_w

from simulator.engine.runner import Result
from simulator.output.atomic import write_atomic


def config_toml(config_dict: dict[str, Any]) -> str:
    """The resolved config as TOML text, runnable as it is."""
    return tomli_w.dumps(config_dict)


def summary_dict(result: Result) -> dict[str, Any]:
    return {"metrics": result.metrics, "config": result.config.to_dict(), "run": result.run}


def timeseries_csv(series: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    names = list(series)
    writer.writerow(names)
    columns = [series[name].tolist() for name in names]
    for row in zip(*columns, strict=True):
        writer.writerow(["" if v != v else _fmt(v) for v in row])
    return buf.getvalue()


def _fmt(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def write_run(result: Result, out: str | Path, figures: bool = True, fmt: str = "png") -> Path:
    """Write ``summary.json``, ``config.toml``, ``timeseries.csv`` (and figures) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "config.toml", config_toml(result.config.to_dict()))
    write_atomic(out / "timeseries.csv", timeseries_csv(result.timeseries))
    values, fractions = result.latency_cdf
    cdf = {"latency_seconds": values, "cumulative_fraction": fractions}
    write_atomic(out / "latency_cdf.csv", timeseries_csv(cdf))
    write_atomic(out / "summary.json", json.dumps(summary_dict(result), indent=2, sort_keys=False) + "\n")
    if figures:
        from simulator.output.run_figures import run_figures

        run_figures(out, fmt=fmt)
    return out
