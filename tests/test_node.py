"""The node's virtual-time worker pool around a crash."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.engine.metrics import Metrics
from simulator.engine.node import ServerNode


def _node(workers: int = 1, crash: float = 5.0) -> tuple[ServerNode, Metrics]:
    metrics = Metrics(0.0, 100.0, 1.0, 1)
    node = ServerNode(0, workers, 10, None, None, metrics)
    node.next_crash = crash
    return node, metrics


def test_work_lost_in_a_crash_holds_its_worker_until_the_crash():
    node, metrics = _node()
    assert node.process(0.0, 10.0) == -1.0  # would finish at 10, the node dies at 5
    # the only worker is busy with it until the crash: a short job behind it dies too
    assert node.process(1.0, 1.0) == -1.0
    assert sum(metrics.w_busy[0]) == pytest.approx(5.0)  # CPU burnt until the crash, no more


def test_work_finishing_before_the_crash_is_served_fcfs():
    node, _ = _node(workers=1, crash=50.0)
    assert node.process(0.0, 2.0) == pytest.approx(2.0)
    assert node.process(1.0, 2.0) == pytest.approx(4.0)  # waits for the first


def test_a_burst_cut_by_a_crash_burns_cpu_only_until_it():
    node, metrics = _node(workers=2, crash=3.0)
    finish = node.process_many(0.0, np.full(10, 1.0))
    assert (finish[finish > 0] < 3.0).all() and (finish == -1.0).sum() == 6
    assert sum(metrics.w_busy[0]) == pytest.approx(6.0)  # two workers busy from 0 to the crash
