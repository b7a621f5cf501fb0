"""The ``sim`` command line (DESIGN §3).

Each command is a thin shell over the Python API.  Bad input of any kind is a
:class:`~simulator.config.ConfigError` or a click usage error: printed as one
or a few lines, exit code 2, never a traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from simulator import registry
from simulator.config import ConfigError, load_config
from simulator.runner import check_fits, run
from simulator.summary import BooksDoNotBalance

console = Console()
err_console = Console(stderr=True)


class SimGroup(click.Group):
    """Turns ConfigError from any command into a clean exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for line in exc.lines:
                click.echo(line if line.startswith("error:") else f"error: {line}", err=True)
            ctx.exit(2)


@click.group(cls=SimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="sim")
def main() -> None:
    """Simulate how servers notify clients: short/long polling, SSE, WebSockets, webhooks."""


def default_out(name: str) -> Path:
    """``results/<name>/<timestamp>`` (local time, to the second)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / name / stamp


SUMMARY_ROWS = [
    ("latency.mean", "latency mean", "s"),
    ("latency.p50", "latency p50", "s"),
    ("latency.p99", "latency p99", "s"),
    ("latency.max", "latency max", "s"),
    ("deliveries.owed", "deliveries owed", ""),
    ("deliveries.delivered", "delivered", ""),
    ("deliveries.lost", "lost", ""),
    ("deliveries.pending", "pending at end", ""),
    ("deliveries.duplicates", "duplicates", ""),
    ("requests.total", "HTTP requests", ""),
    ("requests.per_second", "requests / s", ""),
    ("requests.empty_fraction", "empty responses", "%"),
    ("messages.pushed", "messages pushed", ""),
    ("messages.heartbeats", "heartbeats", ""),
    ("connections.peak", "open connections peak", ""),
    ("connections.mean", "open connections mean", ""),
    ("connections.dropped", "connections dropped", ""),
    ("connections.refused", "connections refused", ""),
    ("reconnects.total", "reconnects", ""),
    ("reconnects.peak_rate", "reconnects peak / s", ""),
    ("server.cpu_utilization", "CPU utilisation", "%"),
    ("server.cpu_utilization_peak", "CPU peak (node-window)", "%"),
    ("server.queue_wait_mean", "queue wait mean", "s"),
    ("server.queue_wait_p99", "queue wait p99", "s"),
    ("server.memory_peak", "server memory peak", "B"),
    ("network.bytes_per_second", "bandwidth", "B/s"),
    ("network.overhead_fraction", "overhead (non-payload bytes)", "%"),
    ("webhook.attempts", "webhook attempts", ""),
    ("webhook.retries", "webhook retries", ""),
    ("cost.total", "cost total", "$"),
    ("cost.per_hour", "cost per hour", "$"),
    ("cost.per_million_deliveries", "cost per million deliveries", "$"),
]


def format_value(value: float, unit: str) -> str:
    """A metric value for humans: seconds in ms/s, bytes in KiB/MiB, fractions in %."""
    if unit == "s":
        if value == 0:
            return "0"
        if value < 1e-3:
            return f"{value * 1e6:,.2f} µs"
        return f"{value * 1e3:,.2f} ms" if value < 1 else f"{value:,.3f} s"
    if unit == "%":
        return f"{value * 100:.2f} %"
    if unit in ("B", "B/s"):
        suffix = "/s" if unit == "B/s" else ""
        for name, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if value >= factor:
                return f"{value / factor:,.2f} {name}{suffix}"
        return f"{value:,.0f} B{suffix}"
    if unit == "$":
        return f"${value:,.4f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def summary_table(metrics: dict[str, float], title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("key", style="dim")
    for key, label, unit in SUMMARY_ROWS:
        if key not in metrics:
            continue
        if key.startswith("webhook.") and not metrics.get("webhook.attempts"):
            continue
        table.add_row(label, format_value(metrics[key], unit), key)
    return table


@main.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (dotted), e.g. network.latency=80ms.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Result folder (default results/<name>/<timestamp>).")
@click.option("--force", is_flag=True, help="Write into a non-empty --out; an earlier run's files are moved to DIR/.old-<time>/.")
@click.option("--quiet", is_flag=True, help="No progress and no table.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True, help="Figure format.")
@click.option("--no-figures", is_flag=True, help="Skip the figures (faster).")
def run_command(config: str, overrides: tuple[str, ...], out: str | None, force: bool, quiet: bool, fmt: str,
                no_figures: bool) -> None:
    """Run one simulation of CONFIG and write its results.

    Exit code 1 if the books do not balance or the results cannot be written,
    130 if interrupted (nothing is written then).
    """
    from simulator.atomic import WriteFailed
    from simulator.results import RunFolder, write_run

    cfg = load_config(config, list(overrides))
    check_fits(cfg, config)
    out_dir = Path(out) if out else default_out(cfg.experiment.name)
    # Checked before the run, not after it: a folder we may not or cannot write is refused at once.
    folder = RunFolder(out_dir, cfg.to_dict(), force=force)
    try:
        with _sigterm_as_interrupt():
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
            write_run(result, folder.stage, figures=not no_figures, fmt=fmt)
            folder.publish()
    except KeyboardInterrupt:
        folder.discard()
        click.echo(f"interrupted: nothing written to {out_dir}", err=True)
        sys.exit(130)
    except BooksDoNotBalance as exc:
        folder.discard()
        click.echo(f"error: {config}: {exc}", err=True)
        sys.exit(1)
    except WriteFailed as exc:
        folder.discard()
        click.echo(f"error: --out {out_dir}: cannot write {exc.path.name}: {exc.reason}; nothing written", err=True)
        sys.exit(1)
    except BaseException:
        folder.discard()
        raise
    if folder.moved_aside is not None:
        click.echo(f"earlier run moved to {folder.moved_aside}", err=True)
    if not quiet:
        title = f"{cfg.experiment.name}: {cfg.mechanism.kind}, {cfg.clients.count:,} clients, {cfg.experiment.duration:g} s measured"
        console.print(summary_table(result.metrics, title))
        r = result.run
        console.print(
            f"[dim]{r['events_processed']:,} events in {r['wall_seconds']:.2f} s wall"
            f" ({r['events_per_second']:,.0f} events/s)[/dim]"
        )
        console.print(f"results: {out_dir}")


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


@main.command("mechanisms")
def mechanisms_command() -> None:
    """List the mechanisms with their parameters, defaults and units."""
    from simulator.config import BackoffSection
    from simulator.config_keys import field_docs

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


from simulator.cli_plan import plan_command  # noqa: E402

main.add_command(plan_command)

from simulator.cli_workflow import figures_command, plot_command, report_command, sweep_command  # noqa: E402

for _command in (sweep_command, plot_command, report_command, figures_command):
    main.add_command(_command)

from simulator.cli_validate import validate_command  # noqa: E402

main.add_command(validate_command)

if __name__ == "__main__":
    main()
