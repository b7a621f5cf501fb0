"""``sim plan``: fewest nodes meeting every SLO, per mechanism and client count, with cost.

With ``--out DIR`` each answered row is written at once, in the folder of
:class:`simulator.workflow.plan_store.PlanStore`, which ``--resume`` continues.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from simulator.cli.common import err_console
from simulator.cli.plan_compare import run_compare
from simulator.config import DEFAULT_KIND, ConfigError, registry
from simulator.engine.billing import HOURS_PER_MONTH
from simulator.output.catalogue import format_metric, format_value
from simulator.output.tables import Column, print_table
from simulator.workflow.plan_rows import PlanRow, cheapest, nodes_text
from simulator.workflow.plan_store import PlanStore, sim_plan_invocation
from simulator.workflow.planner import Planner, parse_tune, plan_data
from simulator.workflow.slo import METRIC_SET, parse_slo
from simulator.workflow.sweep import default_workers

console = Console()


def _int_list(option: str, text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"error: {option} {text!r}: expected whole numbers, e.g. 1000,100000") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"error: {option} {text!r}: expected whole numbers >= 1")
    return list(dict.fromkeys(values))


@click.command("plan")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--clients", required=True, metavar="N1,N2,...", help="Client counts to plan for.")
@click.option("--slo", "slos", multiple=True, required=True, metavar="METRIC<=VALUE",
              help="e.g. 'latency.p99<=2s' or 'server.cpu_utilization<=70%' (repeatable).")
@click.option("--mechanisms", default=None, metavar="KIND,...|all", help="Mechanisms to compare (default: the config's).")
@click.option("--tune", "tunes", multiple=True, metavar="KEY=V1,V2,...",
              help="Search a setting with the node count, e.g. mechanism.interval=1s,2s,5s; the cheapest pair wins.")
@click.option("--allow-loss", is_flag=True,
              help="Do not require every client served (no refused connection, <= 0.1 % of deliveries unserved).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--max-nodes", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=None, help="Parallel simulations (default: all cores).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write plan.csv, plan.json, configs/ and manifest.json here, each row as it is answered.")
@click.option("--resume", is_flag=True, help="Continue the plan in --out: answered rows and finished runs are reused.")
@click.option("--quiet", is_flag=True, help="No progress and no table.")
@click.option("--profiles", default=None, metavar="NAME,...|all",
              help="Compare own fleets of these server profiles (docs/profiles.md) on one table with --services.")
@click.option("--services", default=None, metavar="KIND,...|all",
              help="Managed services (docs/pricing.md) priced on the same traffic, e.g. api_gateway_websocket,ably.")
def plan_command(config, clients, slos, mechanisms, tunes, allow_loss, overrides, max_nodes, workers, out,
                 resume, quiet, profiles=None, services=None) -> None:
    """Fewest server nodes meeting every --slo, for each mechanism and client count.

    Besides the SLOs every client must be served (see --allow-loss). Each row
    names its binding constraint: what failed at one node fewer. Exit 1 if a
    row needs more than --max-nodes, 130 if interrupted.
    """
    if resume and out is None:
        raise click.UsageError("--resume needs --out DIR (the plan folder to continue)")
    counts = _int_list("--clients", clients)
    parsed = [parse_slo(s, METRIC_SET) for s in slos]
    tune = parse_tune(list(tunes))
    data = plan_data(config, list(overrides))
    kinds = registry.kinds()
    if mechanisms is None:
        chosen = [(data.get("mechanism") or {}).get("kind", DEFAULT_KIND)]
    elif mechanisms.strip() == "all":
        chosen = kinds
    else:
        chosen = list(dict.fromkeys(k.strip() for k in mechanisms.split(",") if k.strip()))
        bad = [k for k in chosen if k not in kinds]
        if bad or not chosen:
            what = f"unknown mechanism {bad[0]!r}" if bad else "no mechanism given"
            raise ConfigError(f"error: --mechanisms: {what} (choose from {', '.join(kinds)}, or all)")
    if profiles is not None or services is not None:  # build or buy: one table of fleets and services
        if tune or resume:
            raise ConfigError("error: --profiles/--services: not with --tune or --resume")
        run_compare(data, config, counts, parsed, chosen, profiles, services, max_nodes,
                    workers or default_workers(), allow_loss, out, quiet)
        return
    planner = Planner(data, counts, parsed, chosen, max_nodes, tune, allow_loss, source=config)
    invocation = sim_plan_invocation(config, clients, slos, mechanisms, tunes, allow_loss, overrides, max_nodes, out)
    store = PlanStore(Path(out), planner, invocation, resume) if out else None
    for line in planner.warnings:
        click.echo(f"warning: {line}", err=True)
    show_progress = not quiet and err_console.is_terminal
    try:
        if show_progress:
            rows = _run_with_progress(planner, workers or default_workers(), store, err_console)
        else:
            rows = planner.run(workers or default_workers(), None,
                               store.on_run if store else None, store.on_row if store else None)
    except KeyboardInterrupt:
        done = len([k for k in planner.row_keys() if k in planner.rows])
        total = len(planner.row_keys())
        if store is not None:
            store.write(status="interrupted")
            click.echo(f"interrupted: {done}/{total} rows written to {out};"
                       f" continue with: {invocation['resume_command']}", err=True)
        else:
            click.echo(f"interrupted: {done}/{total} rows answered, none kept (use --out DIR to keep them)",
                       err=True)
        sys.exit(130)
    if store is not None:
        store.write(status="complete")
    if not quiet:
        _print_plan(rows, planner, max_nodes)
        if store is not None:
            console.print(f"plan: {store.out / 'plan.csv'}")
    errors = [r for r in rows if r.error]
    for row in errors:
        click.echo(f"error: {row.mechanism}, {row.clients:,} clients: {row.error}", err=True)
    if errors or not all(row.feasible for row in rows):
        if not errors:
            click.echo(f"infeasible: some rows need more than --max-nodes {max_nodes}", err=True)
        sys.exit(1)


# ---------------------------------------------------------------------------
# Progress and the table


def _run_with_progress(planner: Planner, workers: int, store: PlanStore | None, err: Console) -> list[PlanRow]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    # Rich's own ETA restarts whenever the total changes, and a search's length is only known
    # as it goes: the ETA here is the elapsed time scaled by the work (clients x simulated
    # seconds) left over the work done.
    with Progress(TextColumn("[bold]plan[/bold]"), BarColumn(bar_width=16), MofNCompleteColumn(), TextColumn("runs"),
                  TextColumn("· rows {task.fields[rows]}"), TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                  TextColumn("{task.fields[now]}"), console=err, transient=True) as bar:
        total_rows = len(planner.row_keys())
        task = bar.add_task("plan", total=None, rows=f"0/{total_rows}", now="", eta="-:--:--")
        started = time.monotonic()
        done = 0

        def refresh() -> None:
            finished = sum(1 for k in planner.row_keys() if k in planner.rows)
            eta = "-:--:--"
            if planner.work_done > 0:
                left = (time.monotonic() - started) * planner.work_estimate() / planner.work_done
                eta = str(datetime.timedelta(seconds=round(left)))
            bar.update(task, completed=done, total=done + planner.runs_estimate(),
                       rows=f"{finished}/{total_rows}", eta=eta)

        def on_round(labels: list[str]) -> None:
            # what runs now, e.g. "sse 200,000@20 +3" (the runs total is an estimate: a search's
            # length is known only as it goes)
            more = f" +{len(labels) - 1}" if len(labels) > 1 else ""
            bar.update(task, now=f"[dim]{labels[0]}{more}[/dim]")
            refresh()

        def on_run(key: str, metrics: dict[str, float]) -> None:
            nonlocal done
            done += 1
            if store is not None:
                store.on_run(key, metrics)
            refresh()

        def on_row(row: PlanRow) -> None:
            if store is not None:
                store.on_row(row)
            refresh()

        return planner.run(workers, None, on_run, on_row, on_round)


def _print_plan(rows: list[PlanRow], planner: Planner, max_nodes: int) -> None:
    tuned = list(planner.tune)
    columns = [Column("mechanism", "left", key=True), Column("clients", key=True)]
    if tuned:
        columns.append(Column("setting", "left"))
    profiled = planner.profiled
    if profiled:  # the autoscaling bounds (trough, peak) and the cost over the profile
        columns += [Column("min_nodes"), Column("max_nodes"), Column("binding", "left"), Column("node_hours")]
    else:
        columns += [Column("nodes"), Column("binding", "left")]
    metrics = list(dict.fromkeys(s.metric for s in planner.slos))
    if planner.allow_loss:
        metrics += [m for m in ("connections.refused", "deliveries.lost", "deliveries.pending") if m not in metrics]
    columns += [Column(m) for m in metrics]
    columns += [Column("$/hour"), Column("$/month"), Column("runs")]
    notes = any(row.notes for row in rows)
    if notes:
        columns.append(Column("note", "left"))
    table_rows = []
    for row in rows:
        per_hour = row.metrics.get("cost.per_hour")
        cells = [row.mechanism, f"{row.clients:,}"]
        if tuned:
            cells.append(", ".join(f"{k.removeprefix('mechanism.')}={v}" for k, v in row.setting.items()) or "-")
        if profiled:
            low = str(row.min_nodes) if row.min_nodes is not None else "-"
            high = str(row.max_nodes) if row.max_nodes is not None else nodes_text(row, max_nodes)
            hours = row.metrics.get("server.node_hours") if row.profiled else None
            cells += [low, high, row.binding, f"{hours:.3g}" if hours is not None else "-"]
        else:
            cells += [nodes_text(row, max_nodes), row.binding]
        cells += [format_metric(m, row.metrics.get(m)) for m in metrics]
        if row.feasible and per_hour is not None:
            cells += [format_value(per_hour, "$").replace(",", ""), f"${per_hour * HOURS_PER_MONTH:,.0f}"]
        else:
            cells += ["-", "-"]
        cells.append(str(row.runs))
        if notes:
            cells.append("; ".join(row.notes) or "-")
        table_rows.append(cells)
    rule = "every client served" if not planner.allow_loss else "loss allowed"
    title = f"Fewest nodes meeting {', '.join(map(str, planner.slos))} ({rule})"
    if profiled:
        title = (f"Autoscaling bounds meeting {', '.join(map(str, planner.slos))} ({rule}) at the profile's"
                 " trough and peak; node-hours and cost from one run over the profile")
    print_table(console, title, columns, table_rows)
    if len(planner.mechanisms) > 1:
        best = cheapest(rows)
        for n in planner.clients:
            row = best.get(n)
            if row is None:
                console.print(f"cheapest for {n:,} clients: none meets every constraint")
                continue
            per_hour = row.metrics.get("cost.per_hour", 0.0)
            setting = "".join(f", {k}={v}" for k, v in row.setting.items())
            fleet = f"{row.min_nodes}-{row.max_nodes} nodes (autoscaling)" if row.profiled else f"{row.nodes} node(s)"
            console.print(f"cheapest for {n:,} clients: {row.mechanism}{setting} on {fleet},"
                          f" ${per_hour:,.2f}/hour (${per_hour * HOURS_PER_MONTH:,.0f}/month)")
