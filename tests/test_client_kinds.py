"""clients.kind: sweeps and reports say when a mechanism cannot serve the clients (issue 13 item 1)."""

from __future__ import annotations

import warnings
from pathlib import Path

from simulator.config import registry
from simulator.output.report import sweep_blocks
from simulator.workflow.grid import make_plan
from simulator.workflow.sweep import run_sweep

CONFIG = """
[experiment]
name = "kinds"
duration = "20s"
warmup = "5s"
[clients]
count = 5
kind = "mobile"
[mechanism]
kind = "sse"
[workload]
rate = 0.2
[sweep]
replications = 1
[sweep.grid]
"mechanism.kind" = ["sse", "webhook"]
"""


def test_registry_names_what_a_kind_cannot_serve():
    assert registry.client_kind_note("sse", "mobile") is None
    assert registry.client_kind_note("webhook", "mobile") == (
        "webhook cannot serve clients.kind = 'mobile' (it serves backend clients)")
    assert "backend" in registry.client_kind_note("platform_push", "backend")
    assert registry.client_kind_note("no_such_kind", "mobile") is None


def test_sweep_warns_and_report_flags_unserved_rows(tmp_path: Path):
    path = tmp_path / "kinds.toml"
    path.write_text(CONFIG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = make_plan(str(path))
    messages = [str(w.message) for w in caught]
    assert any("not applicable: webhook cannot serve clients.kind = 'mobile'" in m for m in messages), messages
    assert not any("sse cannot" in m for m in messages)
    run_sweep(plan, tmp_path / "out", workers=1)
    texts = [b.text for b in sweep_blocks(tmp_path / "out", "png", draw=False) if b.kind == "p"]
    flagged = [t for t in texts if t.startswith("Not applicable")]
    assert len(flagged) == 1 and "webhook" in flagged[0] and "sse" not in flagged[0]


def test_a_config_that_does_not_say_who_its_clients_are_is_not_flagged(tmp_path: Path):
    path = tmp_path / "default.toml"
    path.write_text(CONFIG.replace('kind = "mobile"\n', ""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_plan(str(path))
    assert not [w for w in caught if "not applicable" in str(w.message)]


def test_mobile_clients_get_the_carrier_nat_timeout_unless_the_config_says():
    from simulator.config import load_config
    from simulator.config.sections import MOBILE_NAT_TIMEOUT

    assert MOBILE_NAT_TIMEOUT == 300.0
    assert load_config(None, {"clients.kind": "mobile"}).network.nat_timeout == MOBILE_NAT_TIMEOUT
    assert load_config(None, {"clients.kind": "mobile", "network.nat_timeout": "0s"}).network.nat_timeout == 0.0
    assert load_config(None, {"clients.kind": "browser"}).network.nat_timeout == 0.0
    resolved = load_config(None, {"clients.kind": "mobile"}).to_dict()
    assert resolved["network"]["nat_timeout"] == "5m"  # written out, so the resolved config runs as it is
