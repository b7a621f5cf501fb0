"""`sim plan` at scale: the pilot's guess, galloping from it, and early stop of failing fleets."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config import load_config
from simulator.engine.runner import run
from simulator.workflow.grid import Task, run_task
from simulator.workflow.planner import Planner
from simulator.workflow.search import STOPPED_AT, NodeSearch, PlanTask, pilot_size, run_plan_task
from simulator.workflow.slo import ceilings_of, failures, parse_slo, pilot_guess
from tests.conftest import drive_search

#: 200 polls/s of 2 ms on single-worker nodes (+1 ms shared-state read on a cluster):
#: CPU = 0.4 on 1 node, 0.6 / n on n > 1 nodes (the utilisation law).
CPU_BOUND = {
    "experiment.duration": "10s", "experiment.warmup": "2s", "experiment.drain": "1s",
    "clients.count": 200, "clients.connect_over": "1s", "mechanism.interval": "1s",
    "server.workers": 1, "server.request_cost": "2ms", "cluster.store_cost": "1ms",
    "server.max_connections": 100_000,
}


def _data(**changes) -> dict:
    data: dict = {}
    for key, value in {**CPU_BOUND, **changes}.items():
        section, name = key.split(".")
        data.setdefault(section, {})[name] = value
    return data


def test_pilot_guess_is_within_one_node_of_the_exhaustive_answer():
    # every size 1..7 simulated once; for each target the exhaustive answer is the fewest
    # passing size, and the pilot (1/10 of the clients on 2 nodes) guesses it to +-1 node
    config = load_config(None, CPU_BOUND)
    cpu = {n: run(load_config(None, {**CPU_BOUND, "server.nodes": n})).metrics["server.cpu_utilization"]
           for n in range(1, 8)}
    clients, nodes = pilot_size(config, scale=10)
    assert (clients, nodes) == (20, 2)
    pilot = run(load_config(None, {**CPU_BOUND, "clients.count": clients, "server.nodes": nodes})).metrics
    for target in (0.45, 0.25, 0.17, 0.13, 0.11):  # answers 1, 3, 4, 5, 6 (none on a boundary)
        slos = [parse_slo(f"server.cpu_utilization<={target}")]
        answer = min(n for n, u in cpu.items() if u <= target)
        guess, why = pilot_guess(config, slos, False, clients, nodes, pilot)
        assert abs(guess - answer) <= 1 and why == "cpu", (target, guess, answer)


def test_a_plan_with_a_pilot_gives_the_same_answer_in_fewer_runs():
    slos = [parse_slo("server.cpu_utilization<=17%")]
    kwargs = dict(data=_data(), clients=[200], slos=slos, mechanisms=["short_polling"], max_nodes=16)
    plain = Planner(**kwargs, pilot_min_clients=10**9).run()[0]
    piloted = Planner(**kwargs, pilot_min_clients=50, pilot_scale=10).run()[0]
    assert piloted.nodes == plain.nodes == 4 and piloted.binding == plain.binding == "cpu"
    assert piloted.metrics == plain.metrics
    # doubling from 1 ran 1, 2, 4, 3 (and 8 when bisecting); the pilot's guess runs 4 and 3 only
    assert sorted(piloted.tried) == [3, 4] and piloted.runs == 3 < plain.runs


def test_a_failed_pilot_falls_back_to_the_floor_search():
    slos = [parse_slo("server.cpu_utilization<=17%")]
    planner = Planner(_data(), [200], slos, ["short_polling"], 16, pilot_min_clients=50, pilot_scale=10)
    (cand,) = planner.candidates[("short_polling", 200)]
    planner._apply_pilot(cand, None)
    assert cand.pilot is None and not cand.search.gallop and cand.search.next() == 1
    assert planner.run()[0].nodes == 4


@settings(max_examples=100, deadline=None)
@given(cap=st.integers(1, 64), answer=st.integers(1, 70), guess=st.integers(1, 70))
def test_galloping_search_finds_the_fewest_near_its_guess(cap, answer, guess):
    seen = drive_search(NodeSearch(guess, cap, gallop=True), answer, cap)
    if answer <= cap and cap > 1:
        # an answer d nodes from the guess: about 2 log2(d) + 2 runs, 2 when the guess is right
        distance = abs(answer - min(guess, cap))
        assert len(seen) <= 2 * math.ceil(math.log2(distance + 1)) + 2
        if distance == 0 and answer > 1:
            assert len(seen) == 2


def _verdicts(data: dict, slos, allow_loss: bool = False):
    full = run_task(Task(data, "<test>", "p", 0, 1))["metrics"]
    watched = run_plan_task(PlanTask(data, "<test>", "p", 0, 1, ceilings=ceilings_of(slos, allow_loss)))["metrics"]
    return full, watched


def test_early_stop_gives_the_verdict_of_the_full_run():
    # refused connections (2 nodes of 75 slots for 200 clients) and CPU (0.6 on 1 node > 25 %)
    cases = [
        (_data(**{"server.max_connections": 75, "server.nodes": 2}), [parse_slo("latency.p99<=2s")]),
        (_data(**{"server.nodes": 1}), [parse_slo("server.cpu_utilization<=25%")]),
        (_data(**{"server.nodes": 2}), [parse_slo("server.cpu_utilization<=25%")]),
    ]
    for data, slos in cases:
        full, watched = _verdicts(data, slos)
        broken = failures(full, slos)
        assert broken, "the full run fails"
        assert 0 < watched[STOPPED_AT] < 12.0  # stopped before the window's end
        stopped = failures(watched, [s for s in slos if s.metric in watched])
        assert stopped and set(stopped) <= set(broken)
        for metric, value in watched.items():  # the values so far never exceed the final ones
            assert metric == STOPPED_AT or value <= full[metric]


def test_a_watched_run_that_passes_is_the_full_run():
    slos = [parse_slo("server.cpu_utilization<=25%")]
    full, watched = _verdicts(_data(**{"server.nodes": 3}), slos)
    assert STOPPED_AT not in watched and watched == full
