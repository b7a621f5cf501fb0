"""`sim plan` answers a user can act on: every client served, the binding constraint,
each mechanism's own settings, --tune, client kinds, percent SLOs."""

from __future__ import annotations

import math
import tomllib

import pytest

from simulator.config import ConfigError, load_config
from simulator.engine.runner import run
from simulator.workflow.planner import plan, plan_data
from simulator.workflow.search import NodeSearch
from simulator.workflow.slo import parse_slo
from tests.conftest import PLAN_CONFIG, drive_search

#: The plan of tests/conftest.py (3 nodes hold its 100 clients) for short and long polling
#: (long polling holds a request 5 s).
SMALL = PLAN_CONFIG.replace('interval = "1s"\n', 'interval = "1s"\nhold = "5s"\n') + """[sweep.grid]
"mechanism.kind" = ["short_polling", "long_polling"]
"""

@pytest.fixture
def small(write_toml):
    return write_toml(SMALL)


def test_a_fleet_that_refuses_clients_is_never_recommended(small):
    # Latency alone passes on 1 node (latency counts only what arrived), which refuses
    # 60 of the 100 clients: the plan must size the fleet for every connection.
    slo = [parse_slo("latency.p99<=2s")]
    loose = plan(small, [100], slo, allow_loss=True)[0]
    assert loose.nodes == 1 and loose.metrics["connections.refused"] > 0
    row = plan(small, [100], slo)[0]
    assert row.nodes == math.ceil(100 / 40) == 3
    assert row.metrics["connections.refused"] == 0
    unserved = row.metrics["deliveries.pending"] + row.metrics["deliveries.lost"]
    assert unserved <= 0.001 * row.metrics["deliveries.owed"]
    # the binding constraint is what failed at one node fewer, and that size was simulated
    assert row.tried[2] is False and row.binding.startswith("connections")
    # started from the computed floor: 3 passes, 2 fails, nothing else run (doubling from 1 takes 4)
    assert row.runs == 2 and sorted(row.tried) == [2, 3]


def test_binding_constraint_names(small):
    one = plan(small, [30], [parse_slo("latency.p99<=2s")])[0]
    assert one.nodes == 1 and one.binding == "none (1 node is the minimum)"
    # polling every 1 s: p99 ~ 1 s whatever the size -> infeasible, and the row says why
    stuck = plan(small, [30], [parse_slo("latency.p99<=100ms")], max_nodes=2)[0]
    assert stuck.nodes is None and stuck.binding == "latency.p99 (still at 2 nodes)"


def test_each_mechanism_keeps_its_settings_of_the_config(small):
    # The file runs short polling and carries long polling's hold = 5s for its sweep.
    row = plan(small, [30], [parse_slo("latency.p99<=2s")], ["long_polling"])[0]
    assert row.config["mechanism"]["hold"] == "5s"
    assert "interval" not in row.config["mechanism"]
    expected = run(load_config(small, ["mechanism.kind=long_polling", "clients.count=30",
                                       f"server.nodes={row.nodes}"])).metrics
    assert row.metrics == expected  # the plan's run is sim run's run, to the last digit


def test_plan_data_keeps_other_kinds_keys_and_drops_sweep(small):
    data = plan_data(small, ["clients.count=7"])
    assert data["mechanism"]["hold"] == "5s" and data["clients"]["count"] == 7 and "sweep" not in data


def test_tune_finds_the_cheapest_pair(small):
    # 200 clients, one worker, 5 ms per poll: CPU = 200 / T * 5 ms per node (+ the 0.5 ms
    # shared-state read per poll on a cluster). T = 1 s: 100 % on 1 node, 55 % on 2;
    # T = 2 s: 50 % on 1 node; T = 4 s fails p99 <= 2.5 s at any size.
    sets = {"server.workers": 1, "server.request_cost": "5ms", "server.max_connections": 1000}
    data = plan_data(small, [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in sets.items()])
    slos = [parse_slo("latency.p99<=2.5s"), parse_slo("server.cpu_utilization<=60%")]
    row = plan(data, [200], slos, tune={"mechanism.interval": ["1s", "2s", "4s"]}, max_nodes=4)[0]
    assert row.setting == {"mechanism.interval": "2s"} and row.nodes == 1
    assert row.config["mechanism"]["interval"] == "2s"
    assert row.binding == "none (1 node is the minimum)"
    # each (value, nodes) pair simulated once: 1 s fails at 1 node, passes at 2; 2 s passes
    # at 1; 4 s fails at 1, 2 and 4 (= max_nodes)
    assert row.runs == 2 + 1 + 3


def test_tune_ties_go_to_the_value_order_given(small):
    # experiment.name changes nothing in the run: same nodes, same cost, so the first value wins
    slo = [parse_slo("latency.p99<=2s")]
    assert plan(small, [30], slo, tune={"experiment.name": ["b", "a"]})[0].setting == {"experiment.name": "b"}
    assert plan(small, [30], slo, tune={"experiment.name": ["a", "b"]})[0].setting == {"experiment.name": "a"}


def test_tune_key_must_exist_and_skips_kinds_without_it(small):
    with pytest.raises(ConfigError, match="did you mean 'mechanism.interval'"):
        plan(small, [30], [parse_slo("latency.p99<=2s")], ["short_polling"], tune={"mechanism.intervl": ["1s"]})
    with pytest.raises(ConfigError, match="not a parameter of sse"):
        plan(small, [30], [parse_slo("latency.p99<=2s")], ["sse"], tune={"mechanism.interval": ["1s"]})
    rows = plan(small, [30], [parse_slo("latency.p99<=2s")], ["short_polling", "sse"],
                tune={"mechanism.interval": ["1s", "2s"]})
    assert rows[0].setting == {"mechanism.interval": "1s"}
    assert rows[1].setting == {} and "mechanism.interval: not a setting of sse" in rows[1].notes
    with pytest.raises(ConfigError, match="cannot be tuned"):
        plan(small, [30], [parse_slo("latency.p99<=2s")], tune=["server.nodes=1,2"])


def test_webhook_is_not_applicable_to_browsers_nor_chosen_cheapest(small):
    from simulator.workflow.plan_rows import cheapest

    slo = [parse_slo("latency.p99<=2s")]
    rows = plan(small, [30], slo, ["short_polling", "webhook"])
    hook = rows[1]
    # a webhook on 1 node is the cheapest fleet here, but a browser has no endpoint to POST to
    assert hook.metrics["cost.per_hour"] < rows[0].metrics["cost.per_hour"] or hook.nodes <= rows[0].nodes
    assert not hook.applicable and any("not applicable" in n for n in hook.notes)
    assert cheapest(rows)[30].mechanism == "short_polling"
    backend = plan_data(small, ["clients.kind=backend"])
    rows = plan(backend, [30], slo, ["short_polling", "webhook"])
    assert rows[1].applicable and not rows[1].notes


def test_slo_percent_and_fraction_checks():
    assert parse_slo("server.cpu_utilization<=70%").value == pytest.approx(0.7)
    assert parse_slo("server.cpu_utilization<=0.7").value == pytest.approx(0.7)
    with pytest.raises(ConfigError, match=r"did you mean server\.cpu_utilization<=70%"):
        parse_slo("server.cpu_utilization<=70")
    for bad in ("latency.p99<=nan", "latency.p99<=inf", "server.cpu_utilization<=-inf%"):
        with pytest.raises(ConfigError, match="finite"):
            parse_slo(bad)
    with pytest.raises(ConfigError, match="not a fraction"):
        parse_slo("latency.p99<=50%")
    with pytest.raises(ConfigError, match="cannot read"):
        parse_slo("latency.p99<=2GiB")  # a size is not a duration


def test_node_search_finds_the_fewest_and_simulates_one_fewer():
    # against every answer, floor and cap: the answer is the fewest passing size,
    # the size below it was tried (it names the binding constraint), no size twice
    for cap in (1, 5, 17):
        for answer in range(1, cap + 3):
            for floor in (1, 2, 7, 40):
                drive_search(NodeSearch(floor, cap), answer, cap)


def test_resolved_config_reproduces_the_row(small, tmp_path):
    row = plan(small, [100], [parse_slo("latency.p99<=2s")])[0]
    path = tmp_path / "row.toml"
    import tomli_w

    path.write_text(tomli_w.dumps(row.config))
    assert tomllib.loads(path.read_text())["server"]["nodes"] == row.nodes == 3
    assert run(load_config(path)).metrics == row.metrics


def test_memory_per_node_bounds_the_search_and_binds(small):
    # SSE holds a connection per client: 100 clients x 1 MiB on top of 16 MiB per node fit
    # under 50 MiB per node from ceil(100 / 34) = 3 nodes; the search starts there.
    data = plan_data(small, ["server.memory_per_connection='1MiB'", "server.memory_base='16MiB'",
                             "server.max_connections=1000"])
    row = plan(data, [100], [parse_slo("server.memory_peak_per_node<=50MiB")], ["sse"])[0]
    assert row.nodes == 3 and row.binding == "memory" and row.runs == 2
    assert row.metrics["server.memory_peak_per_node"] <= 50 * 2**20
