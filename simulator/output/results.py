"""Writing results: every file atomically (a temporary file renamed into place).

``sim run`` writes a whole run folder at once (:class:`RunFolder`): the files
go into a hidden staging folder first and are moved into place only when all
of them are written, so an interrupted or failed run leaves nothing that
looks like a result, and an existing folder is never half-replaced.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import shutil
from pathlib import Path
from typing import Any

import tomli_w

from simulator.config import ConfigError
from simulator.engine.runner import Result
from simulator.output import strict_json
from simulator.output.atomic import WriteFailed, move_aside, unwritable, write_atomic
from simulator.output.run_figures import run_figures

#: The files a run folder may hold that ``sim run`` (or ``sim report``) wrote.
RUN_FILES = ("config.toml", "timeseries.csv", "latency_cdf.csv", "summary.json", "report.md", "report.html",
             *(f"{name}.{fmt}" for name in ("latency_cdf", "timeseries") for fmt in ("png", "svg", "pdf")))

#: What a run writes, and the marks of a sweep's or a plan's folder: their presence refuses --out.
CLASHING = frozenset((*RUN_FILES, "manifest.json", "runs.csv", "summary.csv", "plan.csv", "plan.json",
                      "points", "figures", "configs"))


def config_toml(config_dict: dict[str, Any]) -> str:
    """The resolved config as TOML text, runnable as it is."""
    return tomli_w.dumps(config_dict)


def summary_dict(result: Result) -> dict[str, Any]:
    """The contents of `summary.json`: metrics, resolved config and run info."""
    return {"metrics": result.metrics, "config": result.config.to_dict(), "run": result.run}


def timeseries_csv(series: dict[str, Any]) -> str:
    """The time series as CSV text, one row per sample window (NaN or infinite: an empty cell)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    names = list(series)
    writer.writerow(names)
    columns = [series[name].tolist() for name in names]
    for row in zip(*columns, strict=True):
        writer.writerow(["" if not math.isfinite(v) else _fmt(v) for v in row])
    return buf.getvalue()


def _fmt(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def write_run(result: Result, out: str | Path, figures: bool = True, fmt: str = "png") -> Path:
    """Write ``summary.json``, ``config.toml``, ``timeseries.csv`` (and figures) into ``out``.

    Raises :class:`~simulator.output.atomic.WriteFailed` if a file cannot be written.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "config.toml", config_toml(result.config.to_dict()))
        write_atomic(out / "timeseries.csv", timeseries_csv(result.timeseries))
        values, fractions = result.latency_cdf
        cdf = {"latency_seconds": values, "cumulative_fraction": fractions}
        write_atomic(out / "latency_cdf.csv", timeseries_csv(cdf))
        write_atomic(out / "summary.json", strict_json.dumps(summary_dict(result), indent=2, sort_keys=False) + "\n")
        if figures:

            run_figures(out, fmt=fmt)
    except WriteFailed:
        raise
    except OSError as exc:
        raise WriteFailed(exc.filename or out, exc) from exc
    return out


def _same_run(out: Path, config_dict: dict[str, Any]) -> bool:
    """Whether ``out`` holds a finished run of this very config (rewriting it changes nothing)."""
    try:
        return (out / "summary.json").is_file() and (out / "config.toml").read_text(
            encoding="utf-8") == config_toml(config_dict)
    except (OSError, UnicodeDecodeError):
        return False


class RunFolder:
    """The result folder of one ``sim run``, written all at once.

    Checked before the run: a non-empty folder that is not an earlier run of
    the same config is refused (``force`` writes there anyway, moving the
    earlier run's files into ``DIR/.old-<time>/``), and a folder that cannot
    be written is refused at once.  :attr:`stage` is where the run's files go;
    :meth:`publish` moves them into place, :meth:`discard` removes them.
    """

    def __init__(self, out: str | Path, config_dict: dict[str, Any], force: bool = False):
        self.out = Path(out)
        self.force = force
        self.moved_aside: Path | None = None
        out = self.out
        if out.exists() and not out.is_dir():
            raise ConfigError(f"error: --out {out}: exists and is not a folder")
        try:
            # files this run would write, or another command's results: never overwritten unasked
            # (a log the user redirects into the folder, say, is neither and stays untouched)
            existing = out.exists() and any(p.name in CLASHING for p in out.iterdir())
        except OSError as exc:
            raise ConfigError(f"error: --out {out}: cannot read the folder: {exc.strerror or exc}") from None
        if existing and not force and not _same_run(out, config_dict):
            what = "a run of another config" if (out / "summary.json").exists() else "results or files a run writes"
            raise ConfigError(f"error: --out {out}: already holds {what}; choose another --out"
                              " (or --force to write there, keeping the earlier run's files aside)")
        self._created: list[Path] = []  # parent folders made here, removed again if nothing is published
        existed = out.exists()
        try:
            if existed:
                self.stage = out / f".sim-run-{os.getpid()}.partial"
            else:
                parent = out.absolute().parent
                missing = [p for p in (parent, *parent.parents) if not p.exists()]
                parent.mkdir(parents=True, exist_ok=True)
                self._created = missing
                self.stage = parent / f".{out.name}.sim-run-{os.getpid()}.partial"
            self.stage.mkdir()
        except OSError as exc:
            self._remove_created()
            raise ConfigError(unwritable(out, exc, existed)) from None

    def publish(self) -> Path:
        """Move the staged files into the folder (``summary.json`` last: it marks a finished run)."""
        try:
            if not self.out.exists():
                os.rename(self.stage, self.out)
                return self.out
            if self.force:
                self._move_aside()
            names = sorted(os.listdir(self.stage), key=lambda n: n == "summary.json")
            for name in names:
                os.replace(self.stage / name, self.out / name)
            self.stage.rmdir()
        except OSError as exc:
            raise WriteFailed(self.out, exc) from exc
        return self.out

    def _move_aside(self) -> None:
        self.moved_aside = move_aside(self.out, list(RUN_FILES)) or self.moved_aside

    def discard(self) -> None:
        """Remove everything staged (and the parent folders made for it): nothing looks like a result."""
        shutil.rmtree(self.stage, ignore_errors=True)
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
