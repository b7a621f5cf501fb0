"""The run figure of a fleet that changes: operations shaded, scaling steps marked, panels for
the node count and the online clients only when they vary (issue 11 item 6)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from simulator.output.run_figures import _scaling_steps
from tests.conftest import SMALL
from tests.test_present import _spans_of, _timeseries_figure

#: 40 WebSocket clients on 2 nodes; a rolling deploy at 20 s (2 batches of 2 + 1 + 0 s = 6 s each)
#: and a scale to 3 nodes at 40 s (booting 2 s).
DEPLOY = {
    "experiment.duration": "50s", "experiment.warmup": "10s", "mechanism.kind": "websocket",
    "server.nodes": 2,
    "operations": [
        {"kind": "rolling_deploy", "at": "20s", "batch": 1, "boot_time": "2s", "deregistration_delay": "1s",
         "drain": "0s"},
        {"kind": "scale_to", "at": "40s", "nodes": 3, "boot_time": "2s"},
    ],
}
WEBSOCKET = {k: v for k, v in SMALL.items() if k != "mechanism.interval"}


def test_operations_are_shaded_and_named_and_the_node_count_gets_a_panel(tmp_path, monkeypatch):
    fig = _timeseries_figure(tmp_path, monkeypatch, DEPLOY, base=WEBSOCKET)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    labels = [ax.get_ylabel() for ax in panels]
    # the deploy's surge node and the scale-out change the node count; the population is constant
    assert labels[0] == "server nodes" and "online clients" not in labels
    for ax in panels:  # the warm-up, the deploy (2 batches x 3 s), the scale-out (its boot)
        assert _spans_of(ax) == [(0.0, 10.0), (20.0, 26.0), (40.0, 42.0)]
    assert [t.get_text() for t in panels[0].texts] == ["warm-up", "rolling deploy", "scale to 3"]
    # both changes are inside the operations' spans: no separate scaling-step line
    assert not [line for line in panels[0].get_lines() if line.get_linestyle() == "--"]
    nodes = panels[0].get_lines()[0].get_ydata()
    assert nodes.min() == 2 and nodes.max() == 3  # 2 nodes, 3 during a batch and after the scale-out
    plt.close(fig)


def test_autoscaling_steps_are_lines_and_churn_gives_an_online_clients_panel(tmp_path, monkeypatch):
    autoscaled = {
        "experiment.duration": "60s", "experiment.warmup": "5s", "mechanism.kind": "sse", "server.nodes": 1,
        "server.max_connections": 20, "clients.session": "20s", "clients.offline": "10s",
        "autoscale": {"metric": "connections", "target": 0.5, "min_nodes": 1, "max_nodes": 4,
                      "evaluate_every": "5s", "scale_out_cooldown": "5s", "scale_in_cooldown": "5s",
                      "boot_time": "2s", "drain": "1s"},
    }
    fig = _timeseries_figure(tmp_path, monkeypatch, autoscaled, base=WEBSOCKET)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    labels = [ax.get_ylabel() for ax in panels]
    assert labels[:2] == ["server nodes", "online clients"]
    steps = [line for line in panels[0].get_lines() if line.get_linestyle() == "--"]
    assert steps and panels[0].get_legend().get_texts()[0].get_text() == "scaling step"
    # every panel carries the same lines, at window starts where the node count moved
    xs = sorted(float(line.get_xdata()[0]) for line in steps)
    assert all(sorted(float(ln.get_xdata()[0]) for ln in ax.get_lines() if ln.get_linestyle() == "--") == xs
               for ax in panels)
    plt.close(fig)


def test_a_scaling_step_spanning_windows_is_one_line_and_operations_are_skipped():
    starts = np.arange(8.0)
    nodes = np.array([2, 2, 2.5, 3, 3, 3, 2, 2])
    assert _scaling_steps(starts, nodes, []) == [2.0, 6.0]  # 2 -> 2.5 -> 3 is one step
    assert _scaling_steps(starts, nodes, [(5.0, 7.0, "scale to 2", "tab:purple")]) == [2.0]
    assert _scaling_steps(starts, np.full(8, 2.0), []) == []
