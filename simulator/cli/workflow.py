"""The experiment-workflow commands: ``sim sweep``, ``sim plot``, ``sim report``, ``sim figures``.

Registered on the ``sim`` group by :mod:`simulator.cli.run`.  Heavy modules
(matplotlib, scipy, dask) are imported inside the commands, and nothing from
:mod:`simulator.cli.run` at import time (it imports this module).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from simulator.cli.common import console, default_out, err_console, sweep_with_progress
from simulator.config import ConfigError
from simulator.engine.estimate import check_fits
from simulator.output.atomic import WriteFailed
from simulator.output.catalogue import format_metric, label_of, table_metrics
from simulator.output.report import write_report
from simulator.output.run_figures import run_figures
from simulator.output.sweep_figures import sweep_figures
from simulator.output.tables import Column, print_table
from simulator.workflow.executor import SchedulerLost
from simulator.workflow.grid import make_plan
from simulator.workflow.store import resume_command, resume_plan
from simulator.workflow.sweep import check_sweep_fits, default_workers, run_sweep

FORMATS = click.Choice(["png", "svg", "pdf"])


@click.command("sweep")
@click.argument("config", required=False, type=click.Path())
@click.option("--set", "sets", multiple=True, metavar="KEY=V1,V2,...",
              help="Add or replace a grid axis (several values) or override a key (one value).")
@click.option("--replications", type=click.IntRange(min=1), default=None,
              help="Replications per point (default [sweep] replications, 3).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes in parallel (default: every core; 1 = in this process).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run on a Dask distributed cluster, e.g. tcp://host:8786.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Result folder (default results/<name>/<timestamp>).")
@click.option("--resume", is_flag=True,
              help="Finish a sweep: `sim sweep --resume DIR` (as it was started), or CONFIG ... --out DIR --resume.")
@click.option("--force", is_flag=True, help="Start over in --out; earlier results are moved to DIR/.old-<time>/.")
@click.option("--quiet", is_flag=True, help="No progress bar and no table.")
@click.option("--format", "fmt", type=FORMATS, default="png", show_default=True, help="Figure format.")
@click.option("--no-figures", is_flag=True, help="Skip the figures.")
def sweep_command(config: str | None, sets: tuple[str, ...], replications: int | None, workers: int | None,
                  scheduler: str | None, out: str | None, resume: bool, force: bool, quiet: bool,
                  fmt: str, no_figures: bool) -> None:
    """Run CONFIG over a grid of parameters, several replications per point, in parallel.

    The grid is [sweep.grid] of CONFIG plus every --set with several values,
    e.g. --set clients.count=100,1000,10000 --set mechanism.kind=short_polling,sse.
    `sim sweep --resume DIR` finishes an interrupted sweep with the options it
    was started with.  Exit code 1 if any run failed (the others are kept),
    130 if interrupted.
    """
    import shlex


    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    folder = Path(config) if config is not None and Path(config).is_dir() else None
    if folder is not None and not resume:
        raise click.UsageError(f"{config} is a folder; to finish the sweep in it: sim sweep --resume {shlex.quote(config)}")
    if resume and (folder is not None or config is None):
        if folder is None and out is None:
            raise click.UsageError("--resume needs the sweep folder: sim sweep --resume DIR")
        if folder is not None and out is not None and Path(out).resolve() != folder.resolve():
            raise click.UsageError(f"--out {out}: differs from the folder to resume ({config})")
        if sets or replications is not None:
            raise click.UsageError("--resume DIR finishes the sweep as it was started: --set and --replications"
                                   " cannot change it (start a new one with CONFIG --out DIR --force)")
        out_dir = folder if folder is not None else Path(out)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _warn_line
            plan, stored = resume_plan(out_dir)
        # --workers alone runs here even if the sweep was started on a (perhaps lost) Dask cluster
        scheduler = scheduler or (stored.get("scheduler") if workers is None else None)
        workers = workers or stored.get("workers")
        invocation = {**stored, "workers": workers, "scheduler": scheduler}
        source = stored.get("config") or str(out_dir / "config.toml")
    else:
        if config is None:
            raise click.UsageError("missing CONFIG (or `sim sweep --resume DIR` to finish a sweep)")
        if resume and out is None:
            raise click.UsageError("--resume needs --out DIR (the sweep folder to finish), or: sim sweep --resume DIR")
        plan = make_plan(config, grid=list(sets), replications=replications)
        invocation = {"config": str(Path(config).resolve()), "set": list(sets), "replications": replications,
                      "workers": workers, "scheduler": scheduler}
        out_dir = Path(out) if out else default_out(plan.experiment.name)
        source = config
    if scheduler is None:  # a Dask cluster's memory is its workers', not ours
        check_sweep_fits(plan, workers or default_workers(), source)
    else:
        for point in plan.points:
            check_fits(point.config, source)
    # Ctrl-C and SIGTERM end the sweep cleanly (run_sweep): what finished is recorded.
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _warn_line
        try:
            if quiet:
                outcome = run_sweep(plan, out_dir, workers, scheduler, resume, force, invocation=invocation)
            else:
                outcome = sweep_with_progress(plan, out_dir, workers, scheduler, resume, force, err_console, invocation)
        except (WriteFailed, SchedulerLost) as exc:
            click.echo(f"error: {out_dir}: {exc}; the runs recorded so far are kept;"
                       f" finish with: {resume_command(out_dir)}", err=True)
            sys.exit(1)
    if outcome.store.moved_aside is not None:
        click.echo(f"earlier results moved to {outcome.store.moved_aside}", err=True)
    counts = outcome.counts
    if outcome.interrupted:
        click.echo(
            f"interrupted: {counts['runs_ok']}/{counts['runs']} runs recorded in {out_dir};"
            f" finish with: {resume_command(out_dir)}", err=True)
        sys.exit(130)
    if not no_figures and counts["runs_ok"]:

        sweep_figures(out_dir, fmt=fmt)
    if not quiet:
        _print_outcome(outcome, out_dir)
    if outcome.failed:
        for line in _error_lines(outcome)[:5]:
            click.echo(line, err=True)
        click.echo(f"error: {counts['runs_failed']} run(s) failed at {counts['points_failed']} point(s);"
                   f" see {out_dir}/manifest.json", err=True)
        sys.exit(1)


def _warn_line(message, *_args, **_kwargs) -> None:
    click.echo(f"warning: {message}", err=True)


def _error_lines(outcome) -> list[str]:
    lines = []
    index = {p.id: p for p in outcome.plan.points}
    for (pid, rep), rec in sorted(outcome.store.records.items()):
        if rec["status"] != "ok":
            where = ", ".join(f"{k}={v}" for k, v in index[pid].values.items()) or pid
            lines.append(f"error: point {where} replication {rep}: {rec.get('error')}")
    return lines


def _print_outcome(outcome, out_dir: Path) -> None:
    """The sweep's key-metric table; columns that do not fit the terminal go on in a
    second table (whole columns, never a cut value), each repeating the swept keys."""
    plan, store = outcome.plan, outcome.store
    rows = store.summary_rows()
    metrics = table_metrics(rows)
    columns = [Column(key.split(".")[-1] if len(plan.grid) > 1 else key, justify="left", key=True) for key in plan.grid]
    columns += [Column("n", key=True)] + [Column(label_of(k)) for k in metrics]
    cells = [[str(row[key]) for key in plan.grid] + [str(row["replications"])]
             + [format_metric(k, row.get(k, float("nan")), row.get(f"{k}.ci95")) for k in metrics] for row in rows]
    print_table(console, f"{plan.experiment.name}: mean ± 95 % CI over {plan.replications} replications", columns, cells)
    c = outcome.counts
    console.print(f"[dim]{outcome.ran} runs in {outcome.wall_seconds:.1f} s wall"
                  f" ({outcome.skipped} already done); {c['runs_ok']}/{c['runs']} ok[/dim]")
    console.print(f"results: {out_dir}")


@click.command("plot")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--x", "x", metavar="KEY", default=None, help="Swept key on the x axis (default: the numeric one).")
@click.option("--y", "ys", metavar="METRIC", multiple=True, help="Metric(s) to draw (default: the key metrics).")
@click.option("--by", metavar="KEY", default=None, help="Swept key drawn as one line per value.")
@click.option("--format", "fmt", type=FORMATS, default="png", show_default=True)
def plot_command(folder: str, x: str | None, ys: tuple[str, ...], by: str | None, fmt: str) -> None:
    """Draw the figures of a run folder or a sweep folder (into FOLDER or FOLDER/figures)."""

    path = Path(folder)
    if (path / "manifest.json").exists():

        made = sweep_figures(path, x=x, y=list(ys) or None, by=by, fmt=fmt)
    elif (path / "summary.json").exists():
        if x or ys or by:
            raise ConfigError(f"error: {path}: --x/--y/--by apply to sweep folders; this is a run folder")

        made = run_figures(path, fmt=fmt)
    else:
        raise ConfigError(f"error: {path}: not a run or sweep folder (no summary.json or manifest.json)")
    for p in made:
        click.echo(str(p))


@click.command("report")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="png", show_default=True, help="Figure format to show.")
@click.option("--embed", is_flag=True, help="Inline the figures into report.html (one file to send).")
def report_command(folder: str, fmt: str, embed: bool) -> None:
    """Write FOLDER/report.md and FOLDER/report.html for a run or a sweep.

    Both link the figures with paths relative to FOLDER, so the folder can be
    moved or copied whole; --embed puts the figures inside report.html.
    """

    for p in write_report(folder, fmt=fmt, embed=embed):
        click.echo(str(p))
