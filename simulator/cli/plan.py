"""``sim plan``: fewest nodes meeting every SLO, per mechanism and client count, with cost."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from simulator.config import ConfigError, registry
from simulator.output.atomic import write_atomic
from simulator.workflow.capacity import (
    HOURS_PER_MONTH,
    METRIC_SET,
    load_plan_config,
    parse_slo,
    plan,
)

console = Console()


def _int_list(option: str, text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"error: {option} {text!r}: expected whole numbers, e.g. 1000,100000") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"error: {option} {text!r}: expected whole numbers >= 1")
    return values


@click.command("plan")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--clients", required=True, metavar="N1,N2,...", help="Client counts to plan for.")
@click.option("--slo", "slos", multiple=True, required=True, metavar="METRIC<=VALUE", help="e.g. 'latency.p99<=2s' (repeatable).")
@click.option("--mechanisms", default=None, metavar="KIND,...|all", help="Mechanisms to compare (default: the config's).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--max-nodes", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=None, help="Parallel searches (default: all cores).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Also write plan.csv and plan.json here.")
def plan_command(config, clients, slos, mechanisms, overrides, max_nodes, workers, out) -> None:
    """Fewest server nodes meeting every --slo, for each mechanism and client count."""
    cfg = load_plan_config(config, list(overrides))
    counts = _int_list("--clients", clients)
    kinds = registry.kinds()
    if mechanisms is None:
        chosen = [cfg.mechanism.kind]
    elif mechanisms == "all":
        chosen = kinds
    else:
        chosen = [k.strip() for k in mechanisms.split(",") if k.strip()]
        bad = [k for k in chosen if k not in kinds]
        if bad:
            raise ConfigError(f"error: --mechanisms: unknown mechanism {bad[0]!r} (choose from {', '.join(kinds)})")
    parsed = [parse_slo(s, METRIC_SET) for s in slos]
    rows = plan(cfg, counts, parsed, chosen, max_nodes, workers or os.cpu_count() or 1)
    table = Table(title=f"Fewest nodes meeting {', '.join(map(str, parsed))}")
    for name in ("mechanism", "clients", "nodes", *[s.metric for s in parsed], "$/hour", "$/month", "runs"):
        table.add_column(name, justify="left" if name == "mechanism" else "right", overflow="fold", min_width=min(len(name), 14))
    records = []
    for row in rows:
        record = row.as_dict(parsed)
        records.append(record)
        per_hour = record["cost.per_hour"]
        table.add_row(
            row.mechanism,
            f"{row.clients:,}",
            str(row.nodes) if row.feasible else f"> {max_nodes}",
            *[f"{record[s.metric]:.4g}" for s in parsed],
            f"{per_hour:,.2f}" if row.feasible else "-",
            f"{per_hour * HOURS_PER_MONTH:,.0f}" if row.feasible else "-",
            str(record["runs"]),
        )
    console.print(table)
    if out:
        out_dir = Path(out)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
        write_atomic(out_dir / "plan.csv", buf.getvalue())
        write_atomic(out_dir / "plan.json", json.dumps({"slos": [str(s) for s in parsed], "rows": records}, indent=2))
        console.print(f"plan: {out_dir / 'plan.csv'}")
    if not all(row.feasible for row in rows):
        click.echo(f"infeasible: some rows need more than --max-nodes {max_nodes}", err=True)
        sys.exit(1)
