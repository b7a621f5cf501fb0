"""The SLO contract (workflow/slo.py): each hook's default, the types metrics dispatch to, and a new type."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

from simulator.config import load_config
from simulator.engine.early_stop import LOWER_BOUNDS, Ceiling
from simulator.workflow import slo as slo_module
from simulator.workflow.slo import (
    METRIC_SET,
    UNSERVED_ALLOWED,
    ConnectionsSlo,
    CpuSlo,
    MemorySlo,
    PilotLoads,
    Slo,
    ceilings_of,
    constraint_name,
    default_policy,
    failures,
    node_floor,
    parse_slo,
    pilot_guess,
    register_slo,
    served,
    slo_type,
)

#: 1,000 SSE clients, nodes of 400 slots, 100 kB per connection over a 50 MB base.
SSE: dict = {
    "experiment.duration": "10s", "experiment.warmup": "2s", "clients.count": 1000, "clients.connect_over": "1s",
    "mechanism.kind": "sse", "server.max_connections": 400, "server.memory_per_connection": "100kB",
    "server.memory_base": "50MB", "server.idle_cpu": 0.1,
}


def _config(**changes):
    return load_config(None, {**SSE, **changes})


def test_the_base_class_is_a_plain_bound_with_every_default():
    slo = Slo("latency.p99", "<=", 2.0)
    assert type(slo) is Slo and slo.constraint == "latency.p99" and slo.family is None
    # check: the metric is there, not NaN, and compares true
    assert slo.holds({"latency.p99": 2.0}) and not slo.holds({"latency.p99": 2.1})
    assert not slo.holds({}) and not slo.holds({"latency.p99": math.nan})
    # early stop: an upper bound gives its own ceiling, a lower bound none
    assert slo.ceiling() == Ceiling("latency.p99", "<=", 2.0)
    assert Slo("latency.p99", ">=", 0.1).ceiling() is None
    # no floor, no pilot estimate, no autoscale target
    loads = PilotLoads(_config(), {"latency.p99": 1.0}, 1.0, 1.0)
    assert slo.node_floor(_config()) is None and slo.pilot_guess(loads) is None
    assert slo.autoscale_metric is None and not Slo.covers("latency.p99")


def test_metrics_dispatch_to_their_type_and_its_name():
    expected = {"server.cpu_utilization": CpuSlo, "server.cpu_utilization_peak": CpuSlo,
                "server.memory_peak": MemorySlo, "server.memory_peak_per_node": MemorySlo,
                "connections.peak": ConnectionsSlo, "connections.refused": ConnectionsSlo,
                "backplane.cpu_utilization": Slo, "latency.p99": Slo}
    for metric, cls in expected.items():
        assert slo_type(metric) is cls and type(Slo(metric, "<=", 1.0)) is cls
        assert type(parse_slo(f"{metric}<=1", METRIC_SET)) is cls
        assert constraint_name(metric) == (cls.family or metric) == Slo(metric, "<=", 1.0).constraint
    # equal by value and type; a copy keeps its type
    assert Slo("server.cpu_utilization", "<=", 0.7) == CpuSlo("server.cpu_utilization", "<=", 0.7)
    slo = parse_slo("server.cpu_utilization<=70%")
    assert copy.deepcopy(slo) == slo and pickle.loads(pickle.dumps(slo)) == slo


def test_every_client_served_comes_first_and_allow_loss_drops_it():
    assert served(True) == ()
    names = [s.constraint for s in served(False)]
    assert names == ["cpu", "connections", "loss"]
    user = [parse_slo("latency.p99<=1s"), parse_slo("server.cpu_utilization<=50%")]
    owed = 10_000
    broken = {"connections.refused": 1, "deliveries.owed": owed, "deliveries.lost": UNSERVED_ALLOWED * owed + 1,
              "latency.p99": 2.0, "server.cpu_utilization": 0.6}
    assert failures(broken, user) == ["connections", "loss", "latency.p99", "cpu"]
    assert failures(broken, user, allow_loss=True) == ["latency.p99", "cpu"]
    # at the allowed share of unserved deliveries a fleet still serves every client
    assert failures({"deliveries.owed": owed, "deliveries.pending": UNSERVED_ALLOWED * owed}, []) == []
    # CPU headroom is never judged itself (a saturated node shows as refusals or loss)
    assert failures({"server.cpu_utilization": 1.0}, []) == []


def test_ceilings_are_the_upper_bounds_the_engine_can_bound_so_far():
    user = [parse_slo("latency.p99<=1s"), parse_slo("server.memory_peak_per_node<=1GB"),
            parse_slo("requests.per_second>=10")]
    ceilings = ceilings_of(user, allow_loss=False)
    assert ceilings == (Ceiling("connections.refused", "<=", 0.0), Ceiling("server.memory_peak_per_node", "<=", 1e9))
    assert all(c.metric in LOWER_BOUNDS for c in ceilings)  # latency has no lower bound so far
    assert ceilings_of(user, allow_loss=True) == ceilings[1:]


def test_floors_are_the_slot_and_memory_laws():
    config = _config()
    # connection slots: ceil(clients / max_connections)
    assert node_floor(config, [], False) == (math.ceil(1000 / 400), "connections")
    assert node_floor(config, [], True) == (1, None)
    # memory per node: base + connections x per connection <= limit, so ceil(clients x per / (limit - base))
    limit = 50e6 + 10e6
    mem = [parse_slo(f"server.memory_peak_per_node<={limit:g}")]
    assert node_floor(config, mem, False) == (math.ceil(1000 * 100e3 / (limit - 50e6)), "memory")
    # a limit the slots already keep gives no floor of its own
    assert node_floor(config, [parse_slo("server.memory_peak_per_node<=1GB")], True) == (1, None)
    # a mechanism that holds no connection has no floor
    assert node_floor(_config(**{"mechanism.kind": "webhook"}), mem, False) == (1, None)


def test_the_pilots_estimate_scales_each_load_linearly():
    config = _config(**{"clients.count": 100_000})
    pilot_clients, pilot_nodes = 2000, 2
    conns = pilot_clients / pilot_nodes
    metrics = {"server.cpu_utilization": 0.1 + 0.2, "connections.peak": pilot_clients,
               "server.memory_peak_per_node": 50e6 + conns * 100e3}
    scale = 100_000 / pilot_clients * pilot_nodes  # pilot fleets needed at the real count, per unit of load
    # CPU: the work (0.2 above idle 0.1) against the 0.9 of a core left for it; slots: 1,000 a node of 400
    nodes, why = pilot_guess(config, [], False, pilot_clients, pilot_nodes, metrics)
    assert (nodes, why) == (max(math.ceil(scale * 0.2 / 0.9), math.ceil(scale * 1000 / 400)), "connections")
    # a CPU SLO of 40 %: 0.2 of work against 0.3 left above idle
    cpu = [parse_slo("server.cpu_utilization<=40%")]
    assert pilot_guess(config, cpu, True, pilot_clients, pilot_nodes, metrics) == (math.ceil(scale * 0.2 / 0.3), "cpu")
    # memory: 1,000 connections x 100 kB against (limit - base) per node
    mem = [parse_slo("server.memory_peak_per_node<=70MB")]
    expected = math.ceil(scale * 1000 * 100e3 / 20e6)
    assert pilot_guess(config, mem, True, pilot_clients, pilot_nodes, metrics) == (expected, "memory")
    # latency has no linear law: the floor alone
    assert pilot_guess(config, [parse_slo("latency.p99<=1s")], True, pilot_clients, pilot_nodes, metrics) == (1, None)


def test_the_autoscale_target_is_what_bound_connections_then_memory_else_cpu():
    assert default_policy("connections") == {"metric": "connections"}
    assert default_policy("loss, memory") == {"metric": "memory"}
    assert default_policy("memory, connections") == {"metric": "connections"}
    assert default_policy("latency.p99") == {"metric": "cpu"}
    assert default_policy("none (1 node is the minimum)") == {"metric": "cpu"}


def test_a_new_slo_type_is_one_class_and_its_registration(monkeypatch):
    monkeypatch.setattr(slo_module, "_TYPES", list(slo_module._TYPES))

    @register_slo
    class BackplaneSlo(Slo):
        """A made-up law: the backplane takes 250 clients a node."""

        family = "backplane"
        autoscale_metric = "connections"
        metric_prefix = "backplane."

        def node_floor(self, config):
            return math.ceil(config.clients.count / 250)

    slo = parse_slo("backplane.cpu_utilization<=50%")
    assert type(slo) is BackplaneSlo and slo.constraint == "backplane"
    assert node_floor(_config(), [slo], True) == (4, "backplane")
    assert failures({"backplane.cpu_utilization": 0.6}, [slo], True) == ["backplane"]
    assert default_policy("backplane") == {"metric": "connections"}


@pytest.mark.parametrize("text", ["server.cpu_utilization<=70%", "latency.p99<=2s", "connections.peak<=10"])
def test_parse_slo_round_trips_through_its_text(text):
    slo = parse_slo(text, METRIC_SET)
    assert parse_slo(f"{slo.metric}{slo.op}{slo.value!r}", METRIC_SET) == slo
