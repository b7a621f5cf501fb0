"""Reading a run folder back for ``sim report`` and ``sim plot``.

A result file that is not what a run writes (truncated, empty, edited by hand)
is one line, ``error: FILE: problem``, exit 2, not a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError

from simulator.config.files import read_text_file
from simulator.config.keys import ConfigError, error_message, loc_path

#: Columns the run figures draw from each CSV.
TIMESERIES_COLUMNS = (
    "time", "open_connections", "requests_per_second", "cpu_busy_fraction",
    "bytes_per_second", "memory_bytes", "latency_p50", "latency_p99",
)
LATENCY_CDF_COLUMNS = ("latency_seconds", "cumulative_fraction")

_Number = StrictInt | StrictFloat  # JSON numbers (NaN included); not strings, not true/false


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _SummaryExperiment(_Open):
    name: StrictStr = ""
    description: StrictStr = ""


class _SummaryMechanism(_Open):
    kind: StrictStr


class _SummaryClients(_Open):
    count: _Number


class _SummaryConfig(_Open):
    experiment: _SummaryExperiment = _SummaryExperiment()
    mechanism: _SummaryMechanism
    clients: _SummaryClients


class _SummaryRun(_Open):
    events_processed: _Number = 0
    wall_seconds: _Number = 0.0


class _Summary(_Open):
    """What report and figures read of ``summary.json`` (the rest passes through)."""

    metrics: dict[str, _Number | None]
    config: _SummaryConfig
    run: _SummaryRun = _SummaryRun()


#: Largest result file read back (a day of 1 s windows is ~20 MB of timeseries.csv).
MAX_RESULT_BYTES = 2**30


def _read_text(path: Path) -> str:
    return read_text_file(path, "result file", MAX_RESULT_BYTES)


def _refuse_constant(token: str) -> float:
    raise ValueError(f"the bare token {token} is not JSON")


def read_summary(path: str | Path) -> dict[str, Any]:
    """``summary.json`` as written by a run, checked: ``metrics``, ``config`` (with
    experiment, mechanism.kind, clients.count) and ``run`` of the right types."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise ConfigError(f"error: {path}: empty file; not a run's summary (rerun `sim run`)")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f"error: {path}: not valid JSON{where}; not a run's summary") from None
    except ValueError as exc:  # NaN / Infinity: not JSON, and no run writes them
        raise ConfigError(f"error: {path}: {exc}; not a run's summary (rerun `sim run`)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"error: {path}: a run's summary is a JSON object, got {type(data).__name__}")
    try:
        _Summary.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"error: {path}: {loc_path(tuple(err['loc']))}: {error_message(err)}") from None
    data.setdefault("run", {})
    # null is a metric without a value (a latency over zero deliveries): NaN in memory, "—" in tables
    data["metrics"] = {name: math.nan if value is None else value for name, value in data["metrics"].items()}
    return data


def read_csv_columns(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """A CSV of numbers as ``{column: array}`` (empty cells become NaN), checked:
    a header with the ``required`` columns, rows as long as the header, numbers only."""
    path = Path(path)
    rows = list(csv.reader(io.StringIO(_read_text(path), newline="")))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ConfigError(f"error: {path}: empty file: no header row")
    header, body = rows[0], rows[1:]
    missing = [name for name in required if name not in header]
    if missing:
        shown = ", ".join(repr(c) for c in header[:4]) + (", ..." if len(header) > 4 else "")
        raise ConfigError(f"error: {path}: missing column {missing[0]!r} (the header has {shown})")
    cols: dict[str, list[float]] = {name: [] for name in header}
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ConfigError(f"error: {path}: line {line}: {len(row)} cells, the header has {len(header)}")
        for name, cell in zip(header, row, strict=True):
            try:
                value = float(cell) if cell != "" else math.nan
            except ValueError:
                raise ConfigError(f"error: {path}: line {line}, column {name!r}: not a number: {cell[:20]!r}") from None
            cols[name].append(value)
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}
