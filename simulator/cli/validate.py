"""``sim validate``: the theory and published-figure checks as a table; exit 1 if any fails."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from simulator.output.atomic import write_atomic
from simulator.testbed.calibrate import server_table
from simulator.testbed.extra import require
from simulator.testbed.run import host
from simulator.validation import build_cases, run_cases
from simulator.validation.report import rich_table, summary_line, write_outputs
from simulator.validation.testbed import markdown, validate_testbed

# Piped or captured output gets a wide table rather than rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 180)
err_console = Console(stderr=True)


@click.command("validate")
@click.option("--quick", is_flag=True, help="Fewer replications and shorter runs (CI: under 2 minutes on 2 cores).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Also write validation.csv and validation.md into this folder.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes to run replications on (default: all cores).")
@click.option("--only", metavar="TEXT", default=None, help="Only the cases whose name or group contains TEXT.")
@click.option("--per-case", is_flag=True, help="Judge each case at its own 95 % CI instead of the suite's family-wise 95 %.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--testbed", is_flag=True, help="Instead: fit the model on testbed runs (five loads, each twice), then compare its predictions with testbed runs it never saw, each three times (about 11 minutes; 127.0.0.1 only).")
def validate_command(quick: bool, out: str | None, workers: int | None, only: str | None, per_case: bool, quiet: bool,
                     testbed: bool) -> None:
    """Check the simulator against queueing theory and published measurements.

    Each row compares a simulated quantity (mean and 95 % Student-t CI over
    replications) with a closed form or a published figure; a row passes when
    the expected value lies in the interval widened by the case's stated
    model-resolution allowance.  Rows whose mechanism is not available are
    shown as skipped.  Exit code 1 if any row fails.
    """

    if testbed:
        _validate_testbed(out)
        return
    cases = build_cases(quick=quick, only=only)
    if not cases:
        raise click.UsageError(f"no validation case matches --only {only!r}")
    started = time.perf_counter()
    if quiet:
        verdicts = run_cases(cases, workers=workers, familywise=not per_case)
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("[bold]validating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("runs", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            verdicts = run_cases(cases, workers=workers, progress=progress, familywise=not per_case)
    wall = time.perf_counter() - started
    title = f"sim validate{' --quick' if quick else ''}: {len(cases)} cases"
    console.print(rich_table(verdicts, title))
    family = max((v.family for v in verdicts), default=1)
    decision = (
        "each case judged at its own 95 % CI"
        if per_case
        else f"judged at family-wise 95 % (Bonferroni over {family} stochastic"
        f" case{'s' if family != 1 else ''}: {100 - 5 / family:.2f} % each)"
    )
    console.print(f"{summary_line(verdicts)} in {wall:.0f} s; {decision}.")
    if out:
        for path in write_outputs(verdicts, Path(out)):
            console.print(f"wrote {path}")
    if any(v.status == "fail" for v in verdicts):
        sys.exit(1)


def _validate_testbed(out: str | None) -> None:
    """``sim validate --testbed``: the table of docs/validation.md's testbed section."""
    require("sim validate --testbed")
    rows, fit = validate_testbed(Path(out) if out else None, progress=lambda text: err_console.print(f"[dim]{text}[/dim]"))
    table = Table(title="sim validate --testbed: the calibrated model against held-out testbed runs")
    for name in ("case", "metric", "testbed", "model", "error", "target", "status"):
        table.add_column(name, justify="right" if name in ("testbed", "model", "error", "target") else "left")
    for r in rows:
        target = f"±{r.tolerance:.0%}" if r.tolerance is not None else "-"
        error = "-" if r.two_values else f"{r.error:+.1%}"
        table.add_row(r.case, r.metric, f"{r.measured:.4g}", f"{r.predicted:.4g}", error, target, r.status)
    console.print(server_table(fit))
    console.print(table)
    text = markdown(rows, fit, host())
    if out:
        write_atomic(Path(out) / "validation-testbed.md", text)
        console.print(f"wrote {Path(out) / 'validation-testbed.md'}")
    if any(r.status == "miss" for r in rows):
        sys.exit(1)
