"""Golden metrics: every experiment in ``experiments/`` gives exactly the stored metrics.

Each experiment is run shortened (at most 150 clients, 10 s of warm-up and 60 s
measured, failures and operations moved into that span and ``max_connections`` scaled with the
clients, so crashes, refusals and outages still happen), once per mechanism
kind it sweeps.  A few variants on top exercise every path of the connection
lifecycle: both failure experiments under every mechanism, and long polling,
short polling, SSE and WebSocket with the keys that change their paths
(broadcast and topic feeds, the balancer's idle cut, no keep-alive, replay
and resume).  The ``metrics`` dict must equal ``tests/golden_metrics.json``
exactly, floats included: the engine is deterministic for a config and seed,
so any difference is a behaviour change.

Regenerate (``python tests/test_golden.py --regenerate``) only for an
intentional behaviour change that its commit message states (a fixed bias, a
new metric, a changed default), never to make a refactoring pass: a
refactoring that changes a number is not one.  Review the diff of the JSON.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from simulator.config import registry  # noqa: E402
from simulator.config.keys import set_dotted  # noqa: E402
from simulator.config.load import read_toml, validate_config  # noqa: E402
from simulator.engine.runner import run  # noqa: E402

GOLDEN = Path(__file__).with_name("golden_metrics.json")
EXPERIMENTS = ROOT / "experiments"
KINDS = ("short_polling", "long_polling", "sse", "websocket", "webhook")
CLIENTS = 150

#: Variants on top of the shortened experiments: (experiment, kind, overrides).
VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    **{f"cluster_polling@{k}": ("cluster_polling", k, {}) for k in KINDS if k != "short_polling"},
    **{f"reconnect_storm@{k}": ("reconnect_storm", k, {}) for k in KINDS if k != "websocket"},
    "reconnect_storm@websocket+jitter_none": ("reconnect_storm", "websocket", {"mechanism.backoff.jitter": "none"}),
    "long_polling+broadcast+crash": (
        "reconnect_storm", "long_polling", {"workload.pattern": "broadcast", "mechanism.hold": "5s"}
    ),
    "long_polling+topics+idle_cut": (
        "compare_mechanisms", "long_polling",
        {"workload.pattern": "topics", "workload.topics": 7, "cluster.idle_timeout": "8s", "mechanism.hold": "20s"},
    ),
    "long_polling+no_keep_alive+gap": (
        "cluster_polling", "long_polling",
        {"http.keep_alive": False, "mechanism.rerequest_delay": "500ms", "mechanism.hold": "4s"},
    ),
    "long_polling+keep_alive_expiry": (
        "quickstart", "long_polling", {"http.keep_alive_timeout": "2s", "mechanism.rerequest_delay": "3s"}
    ),
    "short_polling+after_response+no_keep_alive": (
        "cluster_polling", "short_polling", {"mechanism.schedule": "after_response", "http.keep_alive": False}
    ),
    "short_polling+idle_cut+exp_interval": (
        "reconnect_storm", "short_polling",
        {"cluster.idle_timeout": "1s", "mechanism.interval": {"dist": "exponential", "mean": "3s"}},
    ),
    "sse+idle_cut+small_replay": (
        "reconnect_storm", "sse",
        {"cluster.idle_timeout": "10s", "mechanism.heartbeat": "0s", "mechanism.replay_buffer": 2},
    ),
    "sse+per_client+least_conn": ("cluster_polling", "sse", {"cluster.balancer": "least_connections"}),
    "websocket+resume+upstream+hash": (
        "reconnect_storm", "websocket",
        {"mechanism.resume": True, "workload.upstream_rate": 0.2, "cluster.balancer": "hash"},
    ),
    "websocket+broadcast+crash+bulk": (
        "reconnect_storm", "websocket",
        {"workload.pattern": "broadcast", "server.nodes": 2, "server.max_connections": 100},
    ),
    "webhook+topics+slow_receiver": (
        "webhook_outage", "webhook",
        {"workload.pattern": "topics", "workload.topics": 5, "workload.rate": 0.5,
         "mechanism.receiver_cost": "200ms", "mechanism.timeout": "150ms", "mechanism.max_attempts": 3},
    ),
    "websocket+broadcast+big_burst": (
        "quickstart", "websocket", {"workload.pattern": "broadcast", "workload.rate": 2.0, "clients.count": 120}
    ),
}


def shorten(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of an experiment's TOML data that runs in a fraction of a second."""
    data = copy.deepcopy(data)
    data.pop("sweep", None)
    e = data.setdefault("experiment", {})
    e["duration"], e["warmup"] = 60, 10
    clients = data.setdefault("clients", {})
    before = clients.get("count", 1000)
    clients["count"] = min(before, CLIENTS)
    clients["connect_over"] = 5
    server = data.setdefault("server", {})
    if "max_connections" in server:  # keep the same headroom per client
        server["max_connections"] = max(1, round(server["max_connections"] * clients["count"] / before))
    for f in data.get("failures", []):
        f["at"], f["duration"] = (30, 15) if f["kind"] == "node_crash" else (20, 25)
    for op in data.get("operations", []):  # into the measured span, booting quickly
        op["at"], op["boot_time"] = 20, 5
    return data


def with_kind(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """``data`` running ``kind``, keeping only that kind's own mechanism keys."""
    data = copy.deepcopy(data)
    own = set(registry.get(kind).Params.model_fields) | {"backoff"}
    mech = {k: v for k, v in data.get("mechanism", {}).items() if k in own}
    mech["kind"] = kind
    data["mechanism"] = mech
    return data


def cases() -> dict[str, dict[str, Any]]:
    """Every golden case: its name and its TOML data."""
    out: dict[str, dict[str, Any]] = {}
    base = {p.stem: read_toml(p) for p in sorted(EXPERIMENTS.glob("*.toml"))}
    for name, data in base.items():
        grid = data.get("sweep", {}).get("grid", {})
        kinds = grid.get("mechanism.kind", [data.get("mechanism", {}).get("kind", "short_polling")])
        for kind in kinds:
            out[f"{name}@{kind}" if len(kinds) > 1 else name] = with_kind(shorten(data), kind)
    for name, (experiment, kind, overrides) in VARIANTS.items():
        data = with_kind(shorten(base[experiment]), kind)
        for key, value in overrides.items():
            set_dotted(data, key, value)
        out[name] = data
    return out


def metrics_of(data: dict[str, Any], name: str) -> dict[str, float]:
    return run(validate_config(data, f"golden:{name}")).metrics


def same(a: float, b: float) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


CASES = cases()


def test_the_golden_file_covers_every_case():
    stored = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(stored) == sorted(CASES), "experiments changed: regenerate (see the module docstring)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_metrics_are_identical_to_the_golden_file(name: str):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    got = metrics_of(CASES[name], name)
    assert sorted(got) == sorted(expected)
    different = {k: (got[k], expected[k]) for k in expected if not same(got[k], expected[k])}
    assert not different, different


def regenerate() -> None:
    golden = {name: metrics_of(data, name) for name, data in sorted(CASES.items())}
    tmp = GOLDEN.with_suffix(".tmp")
    tmp.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(GOLDEN)
    print(f"wrote {GOLDEN} ({len(golden)} cases)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_golden.py --regenerate")
    regenerate()
