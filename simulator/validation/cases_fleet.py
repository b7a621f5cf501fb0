"""The fleet over time: node-hours are the node count integrated over time.

Two nodes serve 200 SSE clients from t = 0.  At 240 s a ``scale_to`` starts four
more (billed from then, serving after a 60 s boot); at 480 s another brings the
fleet back to three, the three leaving nodes draining their connections over
30 s and billed until they are gone.  Over the measured window [60 s, 660 s]:

    node-seconds = 2·(240 − 60) + 6·(480 − 240) + 6·30 + 3·(660 − 510) = 2,430

so ``server.node_hours`` = 0.675 h exactly, whatever the clients do; the mean
node count ``server.nodes`` is 2,430 / 600 = 4.05.  Deterministic: the check is
exact.
"""

from __future__ import annotations

from simulator.validation.core import Agree, Case, Scenario, metric

WARMUP, DURATION = 60.0, 600.0
NODE_SECONDS = 2 * (240 - 60) + 6 * (480 - 240) + 6 * 30 + 3 * (660 - 510)


def scenario() -> Scenario:
    """An SSE fleet with planned scale_to operations (boot, drain)."""
    return Scenario.config(
        "fleet-scale-to",
        {
            "mechanism.kind": "sse",
            "clients.count": 200,
            "server.nodes": 2,
            "experiment.warmup": WARMUP,
            "experiment.duration": DURATION,
            "operations": [
                {"kind": "scale_to", "at": "240s", "nodes": 6, "boot_time": "60s"},
                {"kind": "scale_to", "at": "480s", "nodes": 3, "drain": "30s"},
            ],
        },
    )


def cases(quick: bool) -> list[Case]:
    """Fleet checks: node-hours of a scale_to sequence, exactly."""
    exact = Agree(reason="none: the node count is deterministic")
    return [
        Case(
            "scale_to 2 → 6 → 3 (boot, drain): node-hours",
            "fleet",
            "server.node_hours",
            "h",
            NODE_SECONDS / 3600,
            "Σ billed nodes × time (booting and draining nodes are billed)",
            (scenario(),),
            metric("server.node_hours"),
            exact,
            1,
        ),
        Case(
            "scale_to 2 → 6 → 3 (boot, drain): mean nodes",
            "fleet",
            "server.nodes",
            "nodes",
            NODE_SECONDS / DURATION,
            "node-seconds / measured span",
            (scenario(),),
            metric("server.nodes"),
            exact,
            1,
        ),
    ]
