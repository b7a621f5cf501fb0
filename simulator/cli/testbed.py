"""``sim testbed`` and ``sim calibrate``: the model against a real server on loopback."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import click

from simulator.cli.common import console, default_out, publishing
from simulator.cli.run import summary_table
from simulator.config import ConfigError, load_config
from simulator.output.atomic import write_atomic
from simulator.output.results import RunFolder
from simulator.testbed.calibrate import calibrate, server_table
from simulator.testbed.extra import require
from simulator.testbed.output import write_testbed
from simulator.testbed.run import export_schedule, run_testbed, testbed_config


def _check_target(target: str | None) -> None:
    if target is None:
        return
    url = urlparse(target)
    if url.scheme != "http" or not url.hostname:
        raise ConfigError(f"error: --target {target}: expected http://HOST:PORT (plain HTTP, your own test host)")


@click.command("testbed")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (dotted).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Result folder (default results/<name>/<timestamp>).")
@click.option("--target", metavar="URL", default=None,
              help="A server of your own implementing docs/testbed.md's endpoints (loopback or your own test host); default: the built-in aiohttp server on 127.0.0.1.")
@click.option("--server-cmd", metavar="CMD", default=None,
              help="Start your own server with CMD ({schedule} = the exported schedule file, {port} = its port): pinned, measured, killed for node_crash.")
@click.option("--server-pid", type=int, metavar="PID", default=None, help="With --target: measure this running process's CPU and RSS.")
@click.option("--export-schedule", "schedule_out", type=click.Path(dir_okay=False), default=None,
              help="Write the schedule (client -> feed, publish times, payload, window, mechanism) as JSON and exit; no server is started.")
@click.option("--emulate-costs", is_flag=True, help="The server also busy-loops server.request_cost per request and server.message_cost per message (a slower stack; a saturation test).")
@click.option("--force", is_flag=True, help="Write into a non-empty --out (an earlier run's files are moved aside).")
@click.option("--quiet", is_flag=True, help="No table.")
def testbed_command(config: str, overrides: tuple[str, ...], out: str | None, target: str | None,
                    server_cmd: str | None, server_pid: int | None, schedule_out: str | None, emulate_costs: bool,
                    force: bool, quiet: bool) -> None:
    """Run CONFIG against a real server and clients on this machine; write the measured metrics.

    The same metric names as `sim run` (summary.json), measured: latency from publish to
    receipt, requests, bytes on the wire (kernel TCP counters), server CPU seconds and
    RSS, connections, reconnects after a killed server process, webhook attempts.
    Bounded: at most 5000 clients and 300 s; exit 1 if the books do not balance.
    """
    require("sim testbed")
    _check_target(target)
    cfg, notes = testbed_config(load_config(config, list(overrides)), config)
    for note in notes:
        click.echo(f"note: {config}: {note}", err=True)
    if schedule_out is not None:
        export_schedule(cfg, Path(schedule_out))
        click.echo(f"schedule: {schedule_out}")
        return
    if server_cmd is not None and (target is not None or server_pid is not None):
        raise ConfigError("error: --server-cmd: starts its own server on 127.0.0.1; not with --target or --server-pid")
    if server_pid is not None and target is None:
        raise ConfigError("error: --server-pid: measures the server behind --target; give --target too")
    if cfg.failures and server_cmd is None and target is not None:
        raise ConfigError(f"error: {config}: failures: the testbed kills only a server it started"
                          " (the built-in one or --server-cmd), not --target's")
    out_dir = Path(out) if out else default_out(f"{cfg.experiment.name}-testbed")
    folder = RunFolder(out_dir, cfg.to_dict(), force=force)
    with publishing(folder, config, out_dir) as stage:
        with tempfile.TemporaryDirectory(prefix="sim-testbed-") as work:
            measured = run_testbed(cfg, Path(work), target, emulate_costs, server_cmd, server_pid)
        write_testbed(measured, stage)
    if not quiet:
        title = f"{cfg.experiment.name} on the testbed: {cfg.mechanism.kind}, {cfg.clients.count:,} clients, {cfg.experiment.duration:g} s measured"
        console.print(summary_table(measured.metrics, title))
        r = measured.run
        cpu = r["server_cpu_seconds"]
        if not r["loadgen_kept_schedule"]:
            console.print(f"[bold red]the load generator did not keep its schedule: loop lag p99"
                          f" {r['loadgen_loop_lag_p99_seconds'] * 1e3:.1f} ms > {r['loadgen_loop_lag_bound_seconds'] * 1e3:g} ms"
                          f" (run.loadgen_kept_schedule = false): the run measured a lighter load[/bold red]")
        console.print(f"[dim]server CPU {cpu if cpu is None else f'{cpu:.2f} s'} on cores {r['server_core']};"
                      f" load generator CPU {r['loadgen_cpu_seconds']:.2f} s ({r['loadgen_cpu_fraction']:.0%} of a core)"
                      f" on cores {r['loadgen_cores']}; {r['wall_seconds']:.1f} s wall[/dim]")
        console.print(f"results: {out_dir}")


@click.command("calibrate")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the tables here (default: calibration.toml in the first folder).")
def calibrate_command(folders: tuple[str, ...], out: str | None) -> None:
    """Fit [server] request_cost, message_cost, idle_cpu and memory_per_connection from testbed runs.

    Least squares over the runs: server CPU seconds = request_cost x requests +
    message_cost x SSE messages + websocket_message_cost x WebSocket frames +
    held_response_cost x held long polls (+ idle_cpu x seconds with a run more than
    the costs), each cost only when some run exercised it; RSS = memory_base +
    memory_per_connection x connections.  Prints the tables ready to paste, with the
    fit's residuals and what was not fitted, and why.
    """
    fit = calibrate([Path(f) for f in folders])
    text = server_table(fit)
    click.echo(text, nl=False)
    path = Path(out) if out else Path(folders[0]) / "calibration.toml"
    try:
        write_atomic(path, text)
        write_atomic(path.with_suffix(".json"), json.dumps(fit, indent=2) + "\n")
    except OSError as exc:
        click.echo(f"error: --out {path}: cannot write: {exc.strerror or exc}", err=True)
        sys.exit(1)
    click.echo(f"# wrote {path}", err=True)
