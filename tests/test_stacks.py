"""Server profiles, managed-service bills and quotas, load-balancer cost (docs/pricing.md, docs/profiles.md)."""

from __future__ import annotations

import math

import pytest

from simulator.config import ConfigError, load_config
from simulator.config import services as S
from simulator.config.sections import ServerSection
from simulator.config.server_profiles import ASSUMED, GENERIC, PROFILE_KEYS, PROFILES
from simulator.engine import billing as B
from simulator.engine.runner import run

ZERO = dict(connection_minutes=0.0, peak_connections=0.0, connects=0.0, messages_out=0.0, heartbeats=0.0,
            messages_in=0.0, published=0.0, payload_bytes=200.0, active_seconds=0.0)


def usage(**kw) -> B.Usage:
    return B.Usage(**{**ZERO, **kw})


# -- profiles -------------------------------------------------------------------------


def test_generic_profile_is_exactly_the_old_defaults():
    assert load_config(None, {"server.profile": "generic"}).server == load_config(None).server
    assert ServerSection().model_dump() == ServerSection(**dict(GENERIC)).model_dump()


def test_a_profile_fills_its_values_and_written_keys_win():
    c = load_config(None, {"server.profile": "centrifugo", "server.message_cost": "20us"})
    assert c.server.memory_per_connection == 27000  # 27 GB / 1M connections
    assert c.server.max_connections == 50000  # 1M connections / 20 pods
    assert c.server.request_cost.mean == pytest.approx(3e-3)
    assert c.server.message_cost.mean == pytest.approx(20e-6)  # the written key, not 60 us
    # the resolved config shows the values a run used, and loads back the same
    assert load_config(None, _flat(c.to_dict())).server == c.server


def test_every_profile_sets_every_key_and_names_what_it_assumed():
    for name, values in PROFILES.items():
        assert set(values) == set(PROFILE_KEYS), name
        ServerSection(profile=name)  # parses
    assert set(ASSUMED) <= set(PROFILES)


def test_the_gorilla_anchor_arithmetic():
    # 2,085 MiB for 51,010 connections (gorilla/websocket#72)
    assert PROFILES["go_gorilla"]["memory_per_connection"] == f"{round(2085 * 2**20 / 51010)}B"


def test_unknown_profile_is_one_line_naming_the_key_and_the_choices():
    with pytest.raises(ConfigError) as err:
        load_config(None, {"server.profile": "tomcat"})
    (line,) = err.value.lines
    assert "server.profile" in line and "tomcat" in line and "centrifugo" in line


# -- service bills against hand computations -----------------------------------------------


def test_api_gateway_connection_minutes_the_published_example():
    # 10,000 connections for 8 h = 4.8 M connection-minutes = $1.20 at $0.25 per million
    minutes = 10_000 * 8 * 60
    assert minutes == 4_800_000
    assert B.api_gateway(usage(connection_minutes=minutes)) == pytest.approx(1.20, abs=1e-12)


def test_api_gateway_messages_count_in_32_kb_increments():
    # 1 M notifications of 33 KiB are 2 M billed messages; heartbeats and 1 M upstream of 33 KiB 2 M more
    u = usage(messages_out=1e6, messages_in=1e6, heartbeats=5e5, payload_bytes=33 * 1024)
    assert B.api_gateway(u) == pytest.approx((2e6 + 2e6 + 5e5) / 1e6 * 1.00)


def test_azure_signalr_units_and_message_quota():
    # 2,500 peak -> 3 units of 1,000; included 3 M outbound messages per day over 730/24 days
    included = 3 * 1_000_000 * 730 / 24
    u = usage(peak_connections=2500, messages_out=included + 4e6)
    assert B.azure_signalr(u) == pytest.approx(3 * 49.10 + 4.0)
    # 3 KB messages count as two 2 KB messages: one unit's quota of them bills as much again
    one_unit = 1_000_000 * 730 / 24
    assert B.azure_signalr(usage(peak_connections=1, messages_out=one_unit, payload_bytes=3000)) == pytest.approx(
        49.10 + one_unit / 1e6)


def test_ably_messages_in_and_out_and_peak_connections():
    # 1 M published to 10 subscribers each = 11 M messages; 10,000 peak connections
    u = usage(published=1e6, messages_out=1e7, peak_connections=10_000)
    assert B.ably(u) == pytest.approx(11 * 2.50 + 10 * 20.00)


def test_pusher_picks_the_cheapest_plan_that_fits():
    assert B.pusher(usage(peak_connections=1_800, published=30e6)) == 99.0  # Pro: 2K, 4M/day
    assert B.pusher(usage(peak_connections=1_800, published=200e6)) == 299.0  # 6.6 M/day: Business
    assert math.isnan(B.pusher(usage(peak_connections=40_000)))  # beyond Growth Plus: no list price


def test_durable_objects_requests_20_to_1_and_hibernating_duration():
    # 2 M upgrades + 3 M publishes + 40 M incoming messages (= 2 M requests); 10 M active s at 128 MB
    u = usage(connects=2e6, published=3e6, messages_in=4e7, active_seconds=1e7)
    requests = 2e6 + 3e6 + 4e7 / 20
    gb_s = 1e7 * 0.125
    assert B.durable_objects(u) == pytest.approx(5.0 + (requests - 1e6) / 1e6 * 0.15 + (gb_s - 4e5) / 1e6 * 12.50)
    assert B.durable_objects(usage()) == 5.0  # idle, hibernated connections cost nothing


def test_balancer_bills_the_largest_lcu_dimension():
    assert B.balancer_lcus(50, 3000, 0.5) == 2.0  # new connections: 50 / 25
    assert B.balancer_lcus(1, 30_000, 0.5) == 10.0  # active connections: 30,000 / 3,000
    assert B.balancer_cost(730, S.ALB_DOLLARS_PER_HOUR, S.ALB_DOLLARS_PER_LCU_HOUR, 10.0) == pytest.approx(
        730 * (0.0225 + 0.008 * 10))


# -- on the model ---------------------------------------------------------------------

RUN = {
    "experiment.duration": "5s", "experiment.warmup": "0s", "experiment.drain": "0s",
    "clients.count": 400, "clients.connect_over": "0s", "mechanism.kind": "websocket",
    "mechanism.heartbeat": "0s", "workload.rate": 0.0, "server.max_connections": 100_000,
    "network.latency": "25ms",
}


def test_the_new_connection_quota_slows_a_storm_to_the_quota_rate():
    # 400 attempts at t = 0 against 500/s: the k-th is admitted at k/500 s, so over a
    # window of D seconds the mean open count falls by sum(k/500)/D = N(N-1)/(2 * 500 * D).
    free = run(load_config(None, RUN)).metrics
    gated = run(load_config(None, {**RUN, "deployment.kind": "api_gateway_websocket"})).metrics
    n, rate, span = 400, 500.0, 5.0
    assert free["quota.throttled"] == 0
    assert gated["quota.throttled"] == n - 1  # all but the first waited
    assert gated["connections.opened"] == free["connections.opened"] == n
    expected = n * (n - 1) / (2 * rate * span)
    assert free["connections.mean"] - gated["connections.mean"] == pytest.approx(expected, rel=1e-9)


def test_api_gateway_brings_its_age_and_idle_limits_unless_written():
    c = load_config(None, {"deployment.kind": "api_gateway_websocket"})
    assert (c.cluster.max_connection_age, c.cluster.idle_timeout) == (7200.0, 600.0)
    c = load_config(None, {"deployment.kind": "api_gateway_websocket", "cluster.idle_timeout": "60s"})
    assert c.cluster.idle_timeout == 60.0


def test_a_service_bill_replaces_node_hours_and_the_balancer_adds_to_a_fleet():
    m = run(load_config(None, {**RUN, "deployment.kind": "ably"})).metrics
    assert m["cost.service"] == pytest.approx(400 / 1000 * 20.00)  # no messages: peak connections only
    assert m["cost.per_month"] == pytest.approx(m["cost.service"])  # no node-hours, no egress
    plain = run(load_config(None, {**RUN, "cost.balancer_hour": 0, "cost.lcu_hour": 0})).metrics
    alb = run(load_config(None, RUN)).metrics  # the default: an AWS ALB (docs/pricing.md)
    assert plain["cost.balancer"] == 0.0
    lcus = max(alb["connections.opened"] / 5.0 / 25, alb["connections.mean"] / 3000,
               (alb["network.bytes_down"] + alb["network.bytes_up"]) / 1e9 / (5 / 3600))
    assert alb["cost.balancer"] == pytest.approx(730 * (0.0225 + 0.008 * lcus))
    assert alb["cost.per_month"] - plain["cost.per_month"] == pytest.approx(alb["cost.balancer"])


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("grid",):
            out.update(_flat(value, f"{prefix}{key}."))
        elif key != "grid":
            out[f"{prefix}{key}"] = value
    return out


def test_a_broadcast_is_one_published_notification_owed_to_every_client():
    m = run(load_config(None, {**RUN, "workload.rate": 1.0, "workload.pattern": "broadcast",
                               "workload.arrivals": "periodic"})).metrics
    assert m["notifications.published"] > 0
    assert m["deliveries.owed"] == m["notifications.published"] * 400


def test_pricing_a_runs_metrics_gives_the_bill_the_run_reports():
    # sim plan prices services from a run's metrics: the same bill as a run on the service
    config = load_config(None, {**RUN, "workload.rate": 0.5, "mechanism.heartbeat": "1s",
                                "deployment.kind": "api_gateway_websocket"})
    m = run(config).metrics
    u = B.Usage.from_metrics(m, config.workload.payload, config.experiment.duration, config.server.workers)
    assert m["messages.pushed"] > 0 and m["messages.heartbeats"] > 0
    assert B.api_gateway(u) == pytest.approx(m["cost.service"], rel=1e-9)


def test_compare_prices_every_service_on_the_cheapest_fleet_traffic(tmp_path):
    from simulator.workflow.compare import cheapest, compare
    from simulator.workflow.slo import parse_slo

    data = {"experiment": {"duration": "5s", "warmup": "1s", "drain": "10s"},
            "clients": {"connect_over": "1s"}, "mechanism": {"kind": "websocket"}, "workload": {"rate": 0.2}}
    rows = compare(data, [30], [parse_slo("latency.p99<=2s")], "websocket", ["go_gobwas"], ["ably", "pusher"],
                   max_nodes=4)
    fleet, ably, pusher = rows
    assert fleet.option == "go_gobwas (own fleet)" and fleet.nodes == 1
    m = fleet.metrics
    month = 730 * 3600 / 5
    messages = (m["notifications.published"] + m["messages.pushed"]) * month
    assert ably.per_month == pytest.approx(messages / 1e6 * 2.50 + m["connections.peak"] / 1000 * 20.00)
    per_day = messages / (730 / 24)  # 30 clients x 0.2/s, published and delivered: ~1.04 M a day
    assert 1_000_000 < per_day <= 4_000_000
    assert pusher.per_month == 99.0  # past Startup's 1 M a day: Pro
    # one node at $0.10/h ($73/month) + egress + the ALB's $16.43 + LCUs: Ably's $87 is cheaper
    assert fleet.per_month == pytest.approx(m["cost.per_month"])
    assert fleet.per_month > 73.0 + 730 * 0.0225
    assert cheapest(rows)[30] is min(rows, key=lambda r: r.per_month) is ably


COMPARE_CONFIG = """
[experiment]
duration = "5s"
warmup = "1s"
drain = "10s"
[clients]
connect_over = "1s"
[mechanism]
kind = "websocket"
[workload]
rate = 0.2
"""


def test_plan_compares_fleets_and_services_on_one_table_with_a_figure(write_toml, tmp_path):
    import csv

    from click.testing import CliRunner

    from simulator.cli import main

    cfg = write_toml(COMPARE_CONFIG)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["plan", str(cfg), "--clients", "20,40", "--slo", "latency.p99<=2s",
                                       "--profiles", "go_gobwas,centrifugo", "--services", "ably,azure_signalr",
                                       "--max-nodes", "4", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [r["option"] for r in rows if r["clients"] == "20"] == [
        "go_gobwas (own fleet)", "centrifugo (own fleet)", "ably", "azure_signalr"]
    assert all(float(r["cost.per_month"]) > 0 for r in rows)
    assert (out / "cost_by_clients.png").stat().st_size > 1000
    assert "cheapest for 40 clients" in result.output


def test_plan_compare_refuses_an_unknown_service_in_one_line(write_toml, tmp_path):
    from click.testing import CliRunner

    from simulator.cli import main

    cfg = write_toml(COMPARE_CONFIG)
    result = CliRunner().invoke(main, ["plan", str(cfg), "--clients", "20", "--slo", "latency.p99<=2s",
                                       "--services", "firebase", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --services: unknown name 'firebase' (choose from api_gateway_websocket, azure_signalr, ably,"
        " pusher, cloudflare_durable_objects, or all)"]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("value", [[], {}, 3, "nope"])
def test_a_bad_deployment_kind_is_a_config_error(value):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"deployment.kind": value})
    assert all("deployment.kind" in line for line in err.value.lines)
