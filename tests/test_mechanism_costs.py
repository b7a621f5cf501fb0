"""Per-mechanism server costs: server.websocket_message_cost and server.held_response_cost.

Each case is a short run whose busy CPU seconds in the window are pure arithmetic:
one worker, no idle_cpu, zero latency (a held poll's answer and the next request
meet at the node at once), so busy = sum of the costs charged in the window.
"""

from __future__ import annotations

import json

import pytest

from simulator.config import load_config
from simulator.engine.runner import run
from simulator.testbed.calibrate import calibrate, server_config, server_table
from simulator.validation.testbed import FIT, HELD_OUT, MECHANISM_COSTS, _fitted

REQUEST = 0.001  # request_cost, seconds
MESSAGE = 0.0002  # message_cost
FRAME = 0.00005  # websocket_message_cost
HELD = 0.0007  # held_response_cost
CLIENTS = 20
DURATION = 10.0

BASE = {
    "experiment.seed": 5, "experiment.warmup": 0, "experiment.duration": DURATION, "experiment.drain": "3s",
    "clients.count": CLIENTS, "clients.connect_over": "0.1s", "workload.rate": 1.0,
    "network.latency": 0, "network.bandwidth": "100Gbps", "http.keep_alive_timeout": "10h",
    "server.workers": 1, "server.request_cost": REQUEST, "server.message_cost": MESSAGE,
}


def _busy(metrics) -> float:
    return metrics["server.cpu_utilization"] * DURATION  # one worker, idle_cpu = 0


def _long_poll(**server):
    values = {**BASE, "mechanism.kind": "long_polling", "mechanism.hold": "2s"}
    values.update({f"server.{k}": v for k, v in server.items()})
    return run(load_config(None, values)).metrics


def test_each_held_poll_answered_costs_held_response_cost_else_message_cost():
    # Every request is held (the previous answer took all that was pending, the next request
    # arrives with no delay) and answered once, by news or by its hold running out; at the
    # window's end every client's poll is held, its answer after the window.  So the window
    # has requests.total request costs and requests.total - CLIENTS answers.
    for held, answer in ((HELD, HELD), (None, MESSAGE)):
        m = _long_poll(**({"held_response_cost": held} if held is not None else {}))
        requests = m["requests.total"]
        assert requests > 10 * CLIENTS
        expected = requests * REQUEST + (requests - CLIENTS) * answer
        # a request or answer cut in two by the window's end leaves out less than one of each
        assert _busy(m) == pytest.approx(expected, abs=REQUEST + answer)


def test_held_response_cost_set_to_message_cost_changes_nothing():
    assert _long_poll(held_response_cost=MESSAGE) == _long_poll()


def _stream(kind: str, heartbeat: float, **server):
    values = {**BASE, "mechanism.kind": kind, "mechanism.heartbeat": heartbeat}
    values.update({f"server.{k}": v for k, v in server.items()})
    return run(load_config(None, values)).metrics


def test_websocket_frames_cost_websocket_message_cost_sse_events_message_cost():
    # one opening request per client (all in the window), then one write per pushed frame
    ws = _stream("websocket", 0, websocket_message_cost=FRAME)
    assert ws["requests.total"] == CLIENTS and ws["messages.pushed"] > 100
    assert _busy(ws) == pytest.approx(CLIENTS * REQUEST + ws["messages.pushed"] * FRAME, abs=FRAME)
    sse = _stream("sse", 0, websocket_message_cost=FRAME)  # not a WebSocket: the key does not apply
    assert _busy(sse) == pytest.approx(CLIENTS * REQUEST + sse["messages.pushed"] * MESSAGE, abs=MESSAGE)
    assert _stream("websocket", 0) == _stream("websocket", 0, websocket_message_cost=MESSAGE)


def test_websocket_heartbeats_cost_two_frames_each_at_websocket_message_cost():
    # a ping written and a pong read per heartbeat, settled in bulk (accounting.py): their busy
    # time is spread over each connection's life, so the window holds its share, within one
    # heartbeat per connection of the count
    quiet = {"workload.rate": 0.0}
    values = {**BASE, **quiet, "mechanism.kind": "websocket", "mechanism.heartbeat": "1s",
              "server.websocket_message_cost": FRAME}
    m = run(load_config(None, values)).metrics
    beats = m["messages.heartbeats"]
    assert beats == pytest.approx(CLIENTS * DURATION, abs=CLIENTS)
    assert _busy(m) == pytest.approx(CLIENTS * REQUEST + 2 * beats * FRAME, abs=CLIENTS * 2 * FRAME)


# -- sim calibrate: one column per cost some run exercised ---------------------------------

def _fake_run(folder, kind, cpu, requests, pushed=0, heartbeats=0, held=None):
    folder.mkdir()
    config = load_config(None, {"mechanism.kind": kind}).to_dict()
    metrics = {"requests.total": requests, "messages.pushed": pushed, "messages.heartbeats": heartbeats,
               "messages.upstream": 0, "network.bytes_up": 0.0, "network.bytes_down": 0.0,
               "deliveries.delivered": 0, "deliveries.duplicates": 0}
    run = {"testbed": True, "server_cpu_seconds": cpu}
    if held is not None:
        run["requests_held"] = held
    (folder / "summary.json").write_text(json.dumps({"metrics": metrics, "config": config, "run": run}))
    (folder / "samples.csv").write_text("time,open_connections,server_rss_bytes,server_cpu_seconds\n0,0,60000000,0\n")
    return folder


def test_calibrate_fits_a_cost_per_mechanism_and_the_model_charges_what_it_fitted(tmp_path):
    # cpu = 80us x requests + 150us x SSE messages + 40us x WebSocket frames (a ping and a
    # pong per heartbeat) + 300us x held polls + 0.05 x seconds, exactly: the fit gives all back
    seconds = load_config(None, {}).experiment.duration
    cost = {"request": 80e-6, "message": 150e-6, "frame": 40e-6, "held": 300e-6, "idle": 0.05}
    runs = [
        ("short_polling", {"requests": 10_000}),
        ("short_polling", {"requests": 3_000}),
        ("sse", {"requests": 300, "pushed": 6_000, "heartbeats": 3_000}),
        ("long_polling", {"requests": 2_000, "held": 1_800}),
        ("websocket", {"requests": 200, "pushed": 2_000, "heartbeats": 2_000}),
    ]
    folders = []
    for i, (kind, n) in enumerate(runs):
        frames = 2 * n.get("heartbeats", 0) + n.get("pushed", 0) if kind == "websocket" else 0
        messages = n.get("heartbeats", 0) + n.get("pushed", 0) if kind == "sse" else 0
        cpu = (cost["request"] * n["requests"] + cost["message"] * messages + cost["frame"] * frames
               + cost["held"] * n.get("held", 0) + cost["idle"] * seconds)
        folders.append(_fake_run(tmp_path / f"r{i}", kind, cpu, **n))
    fit = calibrate(folders)
    assert fit["request_cost_mean"] == pytest.approx(cost["request"])
    assert fit["message_cost"] == pytest.approx(cost["message"])
    assert fit["websocket_message_cost"] == pytest.approx(cost["frame"])
    assert fit["held_response_cost"] == pytest.approx(cost["held"])
    assert fit["idle_cpu"]["cpu_fraction"] == pytest.approx(cost["idle"])
    assert fit["not_fitted"] == {}
    server = server_config(fit)["server"]
    config = load_config(None, {f"server.{k}": v for k, v in server.items()})
    assert config.server.websocket_message_cost.mean == pytest.approx(40e-6)
    assert config.server.held_response_cost.mean == pytest.approx(300e-6)
    table = server_table(fit)
    assert "websocket_message_cost x WebSocket frames" in table and "held_response_cost x held polls" in table

    # today's three runs (no long polling, no WebSocket): those two are not fitted, and say why
    fit = calibrate(folders[:3])
    assert fit["message_cost"] == pytest.approx(cost["message"])
    assert fit["websocket_message_cost"] is None and fit["held_response_cost"] is None
    server = server_config(fit)["server"]
    assert "websocket_message_cost" not in server and "held_response_cost" not in server
    table = server_table(fit)
    assert "# websocket_message_cost: not fitted (no websocket run" in table
    assert "# held_response_cost: not fitted (no long_polling run" in table


def test_calibrate_leaves_out_a_cost_its_runs_cannot_tell_apart(tmp_path):
    # one long-polling run: its held polls move with its requests, one equation for two costs
    fit = calibrate([_fake_run(tmp_path / "lp", "long_polling", 0.5, requests=2_000, held=1_800)])
    assert fit["request_cost_mean"] == pytest.approx(0.5 / 2_000)
    assert fit["held_response_cost"] is None
    assert "add a run of another mix or load" in fit["not_fitted"]["held_response_cost"]
    # a short-polling run beside it separates them
    sp = _fake_run(tmp_path / "sp", "short_polling", 1e-4 * 5_000, requests=5_000)
    fit = calibrate([tmp_path / "lp", sp])
    assert fit["request_cost_mean"] == pytest.approx(1e-4)
    assert fit["held_response_cost"] == pytest.approx((0.5 - 0.2) / 1_800)


# -- sim validate --testbed: fit runs per mechanism, held-out loads the fit never saw -------

def test_validate_testbed_fits_every_mechanism_cost_on_loads_it_then_does_not_predict():
    def load(settings):
        return (settings["mechanism.kind"], settings["clients.count"], settings["workload.rate"])

    fitted = {load(s) for s in FIT.values()}
    assert not fitted & {load(s) for s in HELD_OUT.values()}
    kinds = {s["mechanism.kind"] for s in FIT.values()}
    assert set(MECHANISM_COSTS) <= kinds  # each per-mechanism cost has its fit run
    assert {s["mechanism.kind"] for s in HELD_OUT.values()} <= kinds
    fit = {"runs": [{}] * 5, "request_cost_mean": 6e-4, "message_cost": 2e-4, "websocket_message_cost": 1.5e-4,
           "held_response_cost": 3e-4, "idle_cpu": {"cpu_fraction": 0.05}}
    line = _fitted(fit)
    for text in ("request cost 600 µs", "message cost (SSE) 200 µs", "WebSocket message cost 150 µs",
                 "held long-poll response cost 300 µs", "idle CPU 5.0%"):
        assert text in line
    assert "WebSocket message cost not fitted" in _fitted({**fit, "websocket_message_cost": None})


def test_validate_testbed_compares_the_median_of_repeated_runs(monkeypatch, tmp_path):
    """Held-out CPU is the median of HELD_OUT_REPEATS runs, with their spread; fits run FIT_REPEATS times."""
    from types import SimpleNamespace

    from simulator.validation import testbed as vt

    cpus = iter([0.2] * (len(vt.FIT) * vt.FIT_REPEATS) + [0.22, 0.29, 0.27] * len(vt.HELD_OUT) + [0.2] * 100)
    fit_runs = []

    def fake_testbed(config, work, emulate_costs=False):
        metrics = {name: 1.0 for name in vt.TARGETS} | {"server.cpu_utilization": next(cpus),
                                                         "latency.p99": 1.0, "requests.per_second": 1.0}
        return SimpleNamespace(metrics=metrics, run={"loadgen_cpu_fraction": 0.2, "loadgen_loop_lag_p99_seconds": 0.01})

    def fake_fit_testbed(config, work, emulate_costs=False):
        fit_runs.append(config.mechanism.kind)
        return fake_testbed(config, work)

    monkeypatch.setattr(vt, "run_testbed", fake_fit_testbed)
    monkeypatch.setattr(vt, "write_testbed", lambda measured, folder: None)
    monkeypatch.setattr(vt, "calibrate", lambda folders: {"folders": len(folders)})
    monkeypatch.setattr(vt, "server_config", lambda fit: {"server": {}, "http": {}})
    monkeypatch.setattr(vt, "run", lambda config: SimpleNamespace(
        metrics={name: 1.0 for name in vt.TARGETS} | {"server.cpu_utilization": 0.27, "reconnects.total": 1.0,
                                                      "deliveries.lost": 0.0, "connections.dropped": 1.0,
                                                      "latency.p99": 1.0, "requests.per_second": 1.0}))
    rows, fit = vt.validate_testbed(tmp_path, progress=lambda text: None)
    assert fit == {"folders": len(vt.FIT) * vt.FIT_REPEATS}
    assert fit_runs[: len(vt.FIT) * vt.FIT_REPEATS] == [s["mechanism.kind"] for s in vt.FIT.values()
                                                        for _ in range(vt.FIT_REPEATS)]
    first = next(iter(vt.HELD_OUT))
    cpu = [r for r in rows if r.case == first and r.metric.startswith("server.cpu_utilization")]
    assert cpu[0].measured == 0.27 and cpu[0].status == "pass"  # the median of 0.22, 0.29, 0.27
    assert (cpu[1].measured, cpu[1].predicted, cpu[1].status) == (0.22, 0.29, "info")
    assert "—" in vt.markdown(rows, {"runs": [], "request_cost_mean": None, "message_cost": None}, {})
