"""The testbed: a real aiohttp server and asyncio clients on 127.0.0.1, one short run per mechanism.

The runs are tiny (60 clients, 1 s measured) so the suite stays fast; the full comparison
with the model is `sim validate --testbed`.  aiohttp and websockets come with `.[test]`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.config import load_config
from simulator.output.catalogue import CATALOGUE
from simulator.testbed.calibrate import calibrate, server_config
from simulator.testbed.run import run_testbed
from simulator.testbed.run import testbed_config as bench_config
from simulator.testbed.wire import sse_frame

CLIENTS = 60
LATENCY = 0.005
PAYLOAD = 200
SETTINGS = {
    "experiment.duration": "1s", "experiment.warmup": "1s", "experiment.drain": "5s", "experiment.seed": 3,
    "clients.count": CLIENTS, "clients.connect_over": "0.3s", "workload.rate": 2.0,
    "workload.payload": f"{PAYLOAD}B", "network.latency": f"{LATENCY * 1000:g}ms",
}
KIND_SETTINGS = {
    "short_polling": {"mechanism.interval": "0.25s"},
    "long_polling": {"mechanism.hold": "1s"},
    "sse": {"mechanism.heartbeat": "0.5s"},
    "websocket": {"mechanism.heartbeat": "0.5s"},
    "webhook": {"mechanism.receiver_cost": "1ms"},
}


@pytest.mark.parametrize("kind", list(KIND_SETTINGS))
def test_testbed_run_measures_every_metric_and_balances_its_books(kind, tmp_path):
    config, _ = bench_config(load_config(None, {"mechanism.kind": kind, **SETTINGS, **KIND_SETTINGS[kind]}), "t")
    measured = run_testbed(config, tmp_path)
    m = measured.metrics
    assert set(m) <= set(CATALOGUE), "the testbed writes the simulator's metric names only"
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in m.values())
    # books: every delivery owed in the window arrived (loopback, no failure), none twice
    assert m["deliveries.owed"] > 0
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    # all arrive on loopback; a loaded machine may leave a few pending when the bounded drain ends
    assert m["deliveries.delivered"] >= 0.95 * m["deliveries.owed"]
    assert m["deliveries.duplicates"] == 0
    # latency: at least the one-way delay added on the way down, and well under a second on loopback
    assert LATENCY <= m["latency.p50"] <= m["latency.p99"] <= m["latency.max"] < 1.0
    # bytes: the kernel counted at least the payloads (and, for SSE, the event framing) delivered
    assert m["network.bytes_down"] >= PAYLOAD * m["deliveries.delivered"]
    assert 0 < m["network.overhead_fraction"] < 1
    assert 0 < m["server.cpu_utilization"] < 1.0
    assert m["server.memory_peak"] > 10 * 2**20  # a Python process with aiohttp: tens of MiB
    if kind == "short_polling":
        # fixed schedule: each client polls every 0.25 s, so 4 polls per client-second (+/- one each)
        assert abs(m["requests.total"] - CLIENTS * 4) <= CLIENTS
        assert 0 < m["requests.empty_fraction"] < 1
    if kind in ("sse", "websocket"):
        assert m["connections.peak"] >= 0.9 * CLIENTS  # sampled once a second by the server's own count
        # per-client feeds: one frame per delivery (frames count when written, deliveries by publish time)
        assert abs(m["messages.pushed"] - m["deliveries.delivered"]) <= 0.05 * m["deliveries.delivered"] + 5
        assert m["messages.heartbeats"] >= CLIENTS  # one per client per 0.5 s
    if kind == "sse":
        framing = sum(len(sse_frame(9, b"x" * PAYLOAD)) for _ in range(int(m["messages.pushed"])))
        assert m["network.bytes_down"] >= framing
    if kind == "webhook":
        # attempts count when made in the window, deliveries by publish time: equal but at the edges
        assert m["webhook.attempts"] >= 0.95 * m["deliveries.delivered"]
        assert m["requests.total"] == m["webhook.attempts"]
    run = measured.run
    assert run["server_cpu_seconds"] > 0 and run["loadgen_cpu_seconds"] > 0


def _fake_run(folder, kind, requests, messages, cpu, rss_slope):
    folder.mkdir()
    config = load_config(None, {"mechanism.kind": kind}).to_dict()
    metrics = {"requests.total": requests, "messages.pushed": messages, "messages.heartbeats": 0,
               "messages.upstream": 0, "network.bytes_up": 0.0, "network.bytes_down": 0.0,
               "deliveries.delivered": 0, "deliveries.duplicates": 0}
    run = {"testbed": True, "server_cpu_seconds": cpu, "request_cpu": {"n": 100, "sigma": 0.5}}
    (folder / "summary.json").write_text(json.dumps({"metrics": metrics, "config": config, "run": run}))
    rows = "\n".join(f"{t},{c},{60e6 + rss_slope * c},0" for t, c in enumerate(range(0, 1000, 100)))
    (folder / "samples.csv").write_text("time,open_connections,server_rss_bytes,server_cpu_seconds\n" + rows + "\n")


def test_calibrate_recovers_the_costs_that_made_the_cpu_seconds(tmp_path):
    # cpu = 80us x requests + 20us x messages exactly: least squares must give them back
    _fake_run(tmp_path / "a", "short_polling", 10_000, 0, 0.8, 20_000)
    _fake_run(tmp_path / "b", "sse", 1_000, 20_000, 0.08 + 0.4, 20_000)
    fit = calibrate([tmp_path / "a", tmp_path / "b"])
    assert fit["request_cost_mean"] == pytest.approx(80e-6)
    assert fit["message_cost"] == pytest.approx(20e-6)
    assert fit["memory_per_connection"] == pytest.approx(20_000)
    tables = server_config(fit)
    cost = tables["server"]["request_cost"]
    assert cost["dist"] == "lognormal" and cost["sigma"] == 0.5
    # the table loads as a config: it is ready to paste
    config = load_config(None, {f"server.{k}": v for k, v in tables["server"].items()})
    assert config.server.request_cost.mean == pytest.approx(80e-6, rel=1e-2)


def test_testbed_refuses_unbounded_or_foreign_input_in_one_line_and_writes_nothing(tmp_path):
    config = tmp_path / "big.toml"
    config.write_text('[clients]\ncount = 100000\n[experiment]\nduration = "1h"\n')
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(main, ["testbed", str(config), "--out", str(out)])
    assert result.exit_code == 2
    assert "error: " in result.output and "clients.count" in result.output and "Traceback" not in result.output
    assert not out.exists()
    result = runner.invoke(main, ["testbed", str(config), "--target", "ftp://example.org"])
    assert result.exit_code == 2 and result.output.startswith("error: --target")
    result = runner.invoke(main, ["calibrate", str(tmp_path)])
    assert result.exit_code == 2 and "not a testbed run folder" in result.output


# -- the extra is optional: sim runs without aiohttp and websockets --------------------------

HIDE_EXTRA = "import sys; sys.modules['aiohttp'] = None; sys.modules['websockets'] = None\n"


def test_sim_runs_without_the_testbed_extra(tmp_path):
    """README's first command installs no extra: `sim run` must work, `sim testbed` refuse in one line."""
    run_args = ["run", "experiments/quickstart.toml", "--set", "clients.count=50", "--set", "experiment.duration=10s",
                "--out", str(tmp_path / "run"), "--quiet", "--no-figures"]
    testbed_args = ["testbed", "experiments/quickstart.toml", "--out", str(tmp_path / "tb")]
    code = HIDE_EXTRA + f"""
import json
from click.testing import CliRunner
from simulator.cli import main
results = [CliRunner().invoke(main, args) for args in ({run_args!r}, {testbed_args!r})]
print(json.dumps([(r.exit_code, r.output) for r in results]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    (ran, ran_out), (refused, refused_out) = json.loads(done.stdout.strip().splitlines()[-1])
    assert ran == 0, ran_out
    assert (tmp_path / "run" / "summary.json").exists()
    assert refused == 2
    assert refused_out.strip().splitlines() == [
        'error: sim testbed: needs aiohttp and websockets, the optional testbed extra: pip install -e ".[testbed]"']
    assert not (tmp_path / "tb").exists()


def test_export_schedule_holds_the_event_log_a_simulation_sees(tmp_path):
    """The exported schedule is the engine's own event log: same feeds, same publish times."""
    from simulator.testbed.wire import EventLog

    cfg = tmp_path / "t.toml"
    cfg.write_text('[experiment]\nname = "t"\nduration = "20s"\nwarmup = "2s"\n[clients]\ncount = 7\n'
                   '[mechanism]\nkind = "sse"\n[workload]\nrate = 0.5\npayload = "120B"\n')
    out = tmp_path / "schedule.json"
    res = CliRunner().invoke(main, ["testbed", str(cfg), "--export-schedule", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    log = EventLog.from_config(load_config(str(cfg)))
    assert doc["clients"] == 7 and len(doc["client_feed"]) == 7
    assert doc["client_feed"] == log.client_feed.tolist()
    assert doc["publish_times_seconds"] == [t.tolist() for t in log.times]
    assert doc["payload_bytes"] == 120 and doc["window_seconds"] == [2.0, 22.0]
    assert doc["mechanism"]["kind"] == "sse"


@pytest.mark.parametrize("extra, message", [
    (["--target", "http://127.0.0.1:9", "--server-cmd", "x {port}"], "--server-cmd"),
    (["--server-pid", "1"], "--server-pid"),
])
def test_testbed_option_conflicts_are_one_line_and_exit_2(tmp_path, extra, message):
    cfg = tmp_path / "t.toml"
    cfg.write_text('[experiment]\nname = "t"\nduration = "5s"\n[clients]\ncount = 2\n')
    res = CliRunner().invoke(main, ["testbed", str(cfg), *extra, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_failures_against_a_foreign_target_are_refused(tmp_path):
    """A node_crash can only be made on a server the testbed started itself."""
    cfg = tmp_path / "t.toml"
    cfg.write_text('[experiment]\nname = "t"\nduration = "30s"\n[clients]\ncount = 2\n[mechanism]\nkind = "sse"\n'
                   '[[failures]]\nkind = "node_crash"\nnode = 0\nat = "10s"\nduration = "5s"\n')
    res = CliRunner().invoke(main, ["testbed", str(cfg), "--target", "http://127.0.0.1:9", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "failures" in res.output.lower() or "node_crash" in res.output
    assert not (tmp_path / "o").exists()
