"""``sim plan --profiles ... --services ...``: own fleets of each stack against managed services.

Prints one table (option, clients, nodes, binding constraint, $/month) and the
cheapest option per client count; with ``--out DIR`` writes ``compare.csv``,
``compare.json`` and ``cost_by_clients.png`` ($/month against clients, one line
per option).  See :mod:`simulator.workflow.compare`.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from simulator.config import ConfigError
from simulator.config.server_profiles import PROFILE_NAMES
from simulator.config.services import SERVICES
from simulator.output import strict_json
from simulator.output.atomic import write_atomic
from simulator.output.catalogue import format_value
from simulator.output.cost_figures import cost_by_clients
from simulator.output.tables import Column, print_table
from simulator.workflow.compare import OptionRow, cheapest, compare, parse_choices
from simulator.workflow.slo import Slo

console = Console()


def run_compare(data: dict[str, Any], source: str, clients: list[int], slos: list[Slo], mechanisms: list[str],
                profiles_text: str | None, services_text: str | None, max_nodes: int, workers: int,
                allow_loss: bool, out: str | None, quiet: bool) -> None:
    """The whole ``--profiles/--services`` command (after the common options are parsed)."""
    if len(mechanisms) != 1:
        raise ConfigError("error: --profiles/--services: compare one mechanism at a time (give one in --mechanisms)")
    profiles = parse_choices("--profiles", profiles_text, PROFILE_NAMES)
    services = parse_choices("--services", services_text, tuple(SERVICES))
    folder = Path(out) if out else None
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"error: --out {folder}: choose an empty or new folder")

    def progress(row: OptionRow) -> None:
        if not quiet:
            price = format_value(row.per_month, "$") if row.per_month is not None else "-"
            click.echo(f"  {row.option}, {row.clients:,} clients: {price}/month", err=True)

    rows = compare(data, clients, slos, mechanisms[0], profiles, services, max_nodes, workers, allow_loss,
                   source, on_row=progress)
    if folder is not None:
        _write(folder, rows, mechanisms[0])
    if not quiet:
        _print(rows, slos, mechanisms[0], allow_loss)
        if folder is not None:
            console.print(f"compare: {folder / 'compare.csv'}, figure: {folder / 'cost_by_clients.png'}")
    best = cheapest(rows)
    if any(n not in best for n in clients):
        click.echo("infeasible: no option serves some client count within the constraints", err=True)
        sys.exit(1)


def _write(folder: Path, rows: list[OptionRow], mechanism: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    records = [row.as_dict() for row in rows]
    best = {id(r) for r in cheapest(rows).values()}
    for record, row in zip(records, rows, strict=True):
        record["cheapest"] = id(row) in best
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]) if records else ["option"])
    writer.writeheader()
    writer.writerows(records)
    write_atomic(folder / "compare.csv", buf.getvalue())
    write_atomic(folder / "compare.json", strict_json.dumps({"mechanism": mechanism, "rows": records}, indent=2))
    cost_by_clients(records, folder / "cost_by_clients.png", f"Build or buy ({mechanism}): $/month against clients")


def _print(rows: list[OptionRow], slos: list[Slo], mechanism: str, allow_loss: bool) -> None:
    columns = [Column("option", "left", key=True), Column("clients", key=True), Column("nodes"),
               Column("binding", "left"), Column("$/month"), Column("note", "left")]
    order = sorted(rows, key=lambda r: (r.clients, r.per_month if r.per_month is not None else float("inf")))
    cells = [[r.option, f"{r.clients:,}", str(r.nodes) if r.nodes is not None else "-", r.binding or "-",
              f"${r.per_month:,.0f}" if r.per_month is not None else "-", r.note or "-"] for r in order]
    rule = "every client served" if not allow_loss else "loss allowed"
    print_table(console, f"Build or buy, {mechanism}: own fleets meeting {', '.join(map(str, slos))} ({rule})"
                         " and managed services on the same traffic", columns, cells)
    for n, row in sorted(cheapest(rows).items()):
        console.print(f"cheapest for {n:,} clients: {row.option}, ${row.per_month:,.0f}/month")
