"""Regenerate the README figures in ``figures/`` from ``experiments/scaling_clients.toml``.

One command, no shell needed::

    sim figures

It sweeps clients 100 -> 100,000 (log-spaced) for every registered mechanism
(a kind listed in the config but not registered is skipped with a warning),
keeps the sweep in ``results/figures/scaling_clients`` (an interrupted
regeneration resumes; a change to the model's code or the config starts
over), and writes one PNG per headline metric plus
an overview and the summary table into ``figures/``.  About 3 to 5 minutes on 2
cores; the figures are the same on any machine (same config, same seeds).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from simulator.cli.common import err_console, sweep_with_progress
from simulator.config import ConfigError
from simulator.output.atomic import write_atomic
from simulator.output.sweep_figures import sweep_figures
from simulator.workflow.grid import make_plan
from simulator.workflow.store import code_fingerprint
from simulator.workflow.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[2]  # the repository: simulator/cli/figures.py
CONFIG = ROOT / "experiments" / "scaling_clients.toml"
RESULTS = ROOT / "results" / "figures" / "scaling_clients"

#: (metric, file stem in figures/) of the README figures.
FIGURES = [
    ("requests.per_second", "scaling_requests_per_second"),
    ("network.bytes_per_second", "scaling_bytes_per_second"),
    ("latency.p99", "scaling_latency_p99"),
    ("server.cpu_utilization", "scaling_cpu"),
    ("server.memory_peak", "scaling_memory"),
]


def make_figures(
    out: str | Path = ROOT / "figures",
    workers: int | None = None,
    quiet: bool = False,
    config: str | Path = CONFIG,
    results: str | Path = RESULTS,
    grid: dict | None = None,
    replications: int | None = None,
) -> list[Path]:
    """Sweep ``config`` (resuming a previous regeneration) and write the README figures."""

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = make_plan(config, grid=grid, replications=replications, skip_unknown_kinds=True)
    for w in caught:
        print(f"warning: {w.message}")
    # Resume an interrupted regeneration, but start over when the model's code changed
    # since (the figures must show this version) or the config did (ConfigError).
    resume = _recorded_by_this_code(Path(results))
    try:
        outcome = _run(plan, results, workers, quiet, resume=resume)
    except ConfigError:
        outcome = _run(plan, results, workers, quiet, resume=False)
    if outcome.interrupted:
        raise KeyboardInterrupt
    if outcome.failed:
        print(f"warning: {outcome.counts['runs_failed']} run(s) failed; see {results}/manifest.json")
    out = Path(out)
    made = []
    for metric, stem in FIGURES:
        drawn = sweep_figures(results, x="clients.count", by="mechanism.kind", y=[metric], out=Path(results) / "readme")
        made.append(_copy(drawn[0], out / f"{stem}.png"))
    drawn = sweep_figures(results, x="clients.count", by="mechanism.kind", y=[m for m, _ in FIGURES],
                          out=Path(results) / "readme")
    made.append(_copy(drawn[-1], out / "scaling_overview.png"))
    made.append(_copy(Path(results) / "summary.csv", out / "scaling_clients_summary.csv"))
    return made


def _recorded_by_this_code(results: Path) -> bool:

    try:
        manifest = json.loads((results / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # nothing there yet: resume and fresh are the same
    return manifest.get("code", [None]) == [code_fingerprint()]


def _run(plan, results, workers, quiet, resume):

    if quiet:
        return run_sweep(plan, results, workers, None, resume=resume, force=not resume)

    return sweep_with_progress(plan, results, workers, None, resume, not resume, err_console)


def _copy(src: Path, dst: Path) -> Path:
    write_atomic(dst, src.read_bytes())
    return dst


if __name__ == "__main__":
    from simulator.cli.workflow import figures_command

    figures_command()


@click.command("figures")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder of the figures (default: figures/ of the repository).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Default: every core.")
@click.option("--quiet", is_flag=True)
def figures_command(out: str, workers: int | None, quiet: bool) -> None:
    """Regenerate the README figures from experiments/scaling_clients.toml."""

    kwargs = {"out": out} if out else {}
    for p in make_figures(workers=workers, quiet=quiet, **kwargs):
        click.echo(str(p))
