"""Capacity planning: the fewest nodes that meet every SLO, per mechanism and client count.

``sim plan CONFIG --clients 1000,100000 --slo 'latency.p99<=2s' --slo
'server.cpu_utilization<=70%'`` runs the experiment with ``server.nodes`` set to
a first guess (the fewest nodes whose connection slots and memory can hold
every client, computed without simulating; 1 when nothing limits), doubles it
until every constraint holds, then bisects down to the fewest nodes that still
meet them, so the size one node smaller is always simulated and seen to fail.
This assumes that adding nodes never makes a metric worse, which holds for the
load-driven metrics (latency, CPU, queue wait, memory per node) this is meant
for.

At scale (``PILOT_MIN_CLIENTS`` clients and more) a *pilot* comes first: the
same config with 1/``PILOT_SCALE`` of the clients on a few nodes.  Its CPU,
connections and memory per node, scaled linearly to the real client count
(:func:`pilot_guess`), give a first guess usually within a node of the answer;
the search then gallops from it (1, 2, 4, ... nodes away) instead of doubling
from the floor, so 2-3 sizes near the answer are simulated.  The guess only
decides what runs first: the answer is still the fewest size seen to pass with
the size below seen to fail.  A run of a failing size stops as soon as it
breaks a limit for certain (a refused connection, busy time past the CPU
target, ...: ``engine/early_stop.py``), except at ``max_nodes``, whose metrics
an infeasible row shows; its binding constraint then names what it had broken
by then.

Besides the user's SLOs a fleet must serve every client: no refused
connection, and at most 0.1 % of the deliveries owed still pending or lost at
the end (``allow_loss`` turns these two off).  Each answer names its *binding
constraint*: what failed at one node fewer.

``tune`` (``--tune KEY=V1,V2``) searches a setting together with the node
count; each row then reports the cheapest (setting, nodes) pair meeting every
constraint (ties: fewer nodes, then the value order given).  Every simulation
goes through the sweep executor (:func:`simulator.workflow.sweep.execute`), in
rounds: each round runs the next size every unfinished search needs.  No
(config, seed) is simulated twice.

With a ``[profile]`` the answer is an autoscaling policy: ``min_nodes`` is the
search above at the profile's lowest multiplier over the run (1 if the load
drops to 0), ``max_nodes`` at its highest, each on the config without
``[profile]``/``[autoscale]`` with the load scaled as ``applies_to`` says.  One
run over the whole profile with ``[autoscale]`` between those bounds (the
config's policy, else target tracking on what bound the peak) then gives the
node-hours and the monthly cost, and shows whether the SLOs held over the run.

The code is in five modules, this one re-exports their names:
:mod:`~simulator.workflow.slo` (the SLO contract: check, early-stop ceiling,
floor, pilot estimate, autoscale target), :mod:`~simulator.workflow.search`
(the node search, the pilot's size, runs that stop early),
:mod:`~simulator.workflow.plan_rows` (the answers),
:mod:`~simulator.workflow.planner` (the planner and :func:`plan`) and
:mod:`~simulator.workflow.plan_store` (the result folder and ``resume``).
"""

from simulator.workflow.plan_rows import PlanRow, cheapest
from simulator.workflow.planner import (
    Candidate,
    Planner,
    check_tune,
    load_plan_config,
    mechanism_data,
    parse_tune,
    plan,
    plan_data,
    profile_range,
    scaled_data,
    settings_for,
)
from simulator.workflow.search import (
    PILOT,
    PILOT_MIN_CLIENTS,
    PILOT_SCALE,
    STOPPED_AT,
    NodeSearch,
    PlanTask,
    execute,
    pilot_size,
    run_plan_task,
)
from simulator.workflow.slo import (
    METRIC_SET,
    UNSERVED_ALLOWED,
    Slo,
    ceilings_of,
    constraint_name,
    default_policy,
    failures,
    node_floor,
    parse_slo,
    pilot_guess,
)

__all__ = [
    "METRIC_SET", "PILOT", "PILOT_MIN_CLIENTS", "PILOT_SCALE", "STOPPED_AT", "UNSERVED_ALLOWED", "Candidate",
    "NodeSearch", "PlanRow", "PlanTask", "Planner", "Slo", "ceilings_of", "cheapest", "check_tune",
    "constraint_name", "default_policy", "execute", "failures", "load_plan_config", "mechanism_data",
    "node_floor", "parse_slo", "parse_tune", "pilot_guess", "pilot_size", "plan", "plan_data", "profile_range",
    "run_plan_task", "scaled_data", "settings_for",
]
