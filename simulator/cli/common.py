"""What every ``sim`` command shares: the consoles, the error convention, default folders."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulator.config import ConfigError
from simulator.engine.summary import BooksDoNotBalance
from simulator.output.atomic import WriteFailed
from simulator.output.results import RunFolder
from simulator.workflow.sweep import run_sweep

console = Console()
err_console = Console(stderr=True)


class SimGroup(click.Group):
    """Turns ConfigError from any command, and click's usage errors, into one line and exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's ``main``, but a usage error is one ``error:`` line (click prints four)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else (prog_name or "sim")
            click.echo(f"error: {where}: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context):
        """Run the command; a ConfigError becomes its lines on stderr and exit code 2."""
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for line in exc.lines:
                click.echo(line if line.startswith("error:") else f"error: {line}", err=True)
            ctx.exit(2)


def default_out(name: str) -> Path:
    """``results/<name>/<timestamp>`` (local time, to the second)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / name / stamp


def sweep_with_progress(plan, out_dir, workers, scheduler, resume, force, console, invocation=None):
    """Run a sweep with a progress bar (runs, points, failures, ETA) on ``console``."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("runs · {task.fields[points]}"), TimeElapsedColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(plan.experiment.name, total=None, points="")

        def progress(state) -> None:
            failed = f" · [red]{state.runs_failed} failed[/red]" if state.runs_failed else ""
            bar.update(task, total=state.runs_total, completed=state.runs_done,
                       points=f"points {state.points_done}/{state.points_total}{failed}")

        return run_sweep(plan, out_dir, workers, scheduler, resume, force, progress, invocation)


@contextmanager
def publishing(folder: RunFolder, config: str, out_dir: Path) -> Iterator[Path]:
    """Write a run into ``folder.stage``, then publish it whole; on any failure nothing is left.

    Ctrl-C exits 130, unbalanced books and unwritable files exit 1, each with one line.
    """
    try:
        yield folder.stage
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
