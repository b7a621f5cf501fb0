"""``sim run`` and ``sim mechanisms``.

Each command is a thin shell over the Python API.  Bad input of any kind is a
:class:`~simulator.config.ConfigError` or a click usage error: printed as one
or a few lines, exit code 2, never a traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click
from rich.table import Table

from simulator.cli.common import console, default_out, err_console, publishing
from simulator.config import BackoffSection, load_config, registry
from simulator.config.keys import field_docs
from simulator.engine.estimate import check_fits, notice
from simulator.engine.runner import run
from simulator.output.catalogue import CATALOGUE, format_value
from simulator.output.results import RunFolder, write_run
from simulator.output.tables import delivery_note


def summary_table(metrics: dict[str, float], title: str) -> Table:
    """The run's summary table: every run-table metric of the catalogue the run emitted."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("key", style="dim")
    for entry in CATALOGUE.values():
        key = entry.name
        if not entry.in_run_table or key not in metrics:
            continue
        if key.startswith("webhook.") and not metrics.get("webhook.attempts"):
            continue
        if entry.optional and not metrics[key]:
            continue  # a feature that is off in this run
        table.add_row(entry.label, format_value(metrics[key], entry.unit), key)
    return table


@click.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (dotted), e.g. network.latency=80ms.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Result folder (default results/<name>/<timestamp>).")
@click.option("--force", is_flag=True, help="Write into a non-empty --out; an earlier run's files are moved to DIR/.old-<time>/.")
@click.option("--quiet", is_flag=True, help="No progress and no table.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True, help="Figure format.")
@click.option("--no-figures", is_flag=True, help="Skip the figures (faster).")
@click.option("--yes", is_flag=True, help="Do not ask before a run estimated to be long or large (as experiment.confirm_large = true).")
def run_command(config: str, overrides: tuple[str, ...], out: str | None, force: bool, quiet: bool, fmt: str,
                no_figures: bool, yes: bool) -> None:
    """Run one simulation of CONFIG and write its results.

    Exit code 1 if the books do not balance or the results cannot be written,
    130 if interrupted (nothing is written then).
    """

    cfg = load_config(config, list(overrides))
    check_fits(cfg, config)
    _announce_if_large(cfg, config, yes or cfg.experiment.confirm_large)
    out_dir = Path(out) if out else default_out(cfg.experiment.name)
    # Checked before the run, not after it: a folder we may not or cannot write is refused at once.
    folder = RunFolder(out_dir, cfg.to_dict(), force=force)
    with publishing(folder, config, out_dir) as stage, _sigterm_as_interrupt():
        if quiet:
            result = run(cfg)
        else:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[sim]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task(f"{cfg.experiment.name} ({cfg.mechanism.kind})", total=1.0, sim="")

                def progress(now: float, end: float) -> None:
                    bar.update(task, completed=now / end, sim=f"{now:,.0f}/{end:,.0f} s simulated")

                result = run(cfg, progress=progress)
        write_run(result, stage, figures=not no_figures, fmt=fmt)
    if folder.moved_aside is not None:
        click.echo(f"earlier run moved to {folder.moved_aside}", err=True)
    if not quiet:
        title = f"{cfg.experiment.name}: {cfg.mechanism.kind}, {cfg.clients.count:,} clients, {cfg.experiment.duration:g} s measured"
        console.print(summary_table(result.metrics, title))
        note = delivery_note(result.metrics)
        if note:
            console.print(f"note: {note}", highlight=False)
        r = result.run
        console.print(
            f"[dim]{r['events_processed']:,} events in {r['wall_seconds']:.2f} s wall"
            f" ({r['events_per_second']:,.0f} events/s)[/dim]"
        )
        console.print(f"results: {out_dir}")


def _announce_if_large(cfg, source: str, confirmed: bool) -> None:
    """One stderr line for a run estimated to be long or large; at a terminal, ask before it.

    Asked only when stdin and stderr are terminals and nothing confirmed it (``--yes``,
    ``experiment.confirm_large``): a script or CI never waits on a question.
    """
    line = notice(cfg, source)
    if line is None:
        return
    click.echo(line, err=True)
    if not confirmed and sys.stdin.isatty() and sys.stderr.isatty():
        click.confirm("run it?", default=True, abort=True, err=True)


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM ends ``sim run`` like Ctrl-C (exit 130, nothing written)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("mechanisms")
def mechanisms_command() -> None:
    """List the mechanisms with their parameters, defaults and units."""

    def params_table(title: str, model, units: dict[str, str], column: str) -> Table:
        table = Table(title=title, title_justify="left", show_header=True)
        for name in (column, "default", "unit / values", "meaning"):
            table.add_column(name)
        for doc in field_docs(model):
            default = doc.default if isinstance(doc.default, str) else str(doc.default)
            table.add_row(doc.key, default, units.get(doc.key) or doc.unit, doc.description)
        return table

    for kind in registry.kinds():
        cls = registry.get(kind)
        console.print(params_table(f"{kind}: {cls.summary}", cls.Params, getattr(cls, "units", {}), "mechanism.<key>"))
    console.print(params_table("mechanism.backoff (reconnects and webhook retries)", BackoffSection, {}, "mechanism.backoff.<key>"))
