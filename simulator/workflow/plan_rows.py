"""A plan's answers: one :class:`PlanRow` per mechanism and client count, and the cheapest.

A row holds everything ``plan.csv``, ``plan.json`` and ``manifest.json`` show
(:mod:`simulator.workflow.plan_store`), and is rebuilt from its manifest state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simulator.engine.billing import HOURS_PER_MONTH
from simulator.output.catalogue import CATALOGUE
from simulator.workflow.slo import Slo


@dataclass
class PlanRow:
    """The answer for one mechanism and client count."""

    mechanism: str
    clients: int
    nodes: int | None  # None: no size up to max_nodes meets the constraints
    metrics: dict[str, float] = field(default_factory=dict)
    tried: dict[int, bool] = field(default_factory=dict)  # of the chosen setting
    setting: dict[str, Any] = field(default_factory=dict)
    binding: str = ""
    runs: int = 0
    applicable: bool = True
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # resolved config of the answer's run
    error: str | None = None
    #: With a [profile]: the autoscaling bounds (fewest nodes at the trough and at the peak); the
    #: metrics are then those of the verification run over the whole profile.
    min_nodes: int | None = None
    max_nodes: int | None = None
    #: The constraints the run over the profile broke ("" = none): such a row is never the cheapest.
    profile_broke: str = ""

    @property
    def profiled(self) -> bool:
        """Whether the row is an autoscaling policy (a plan over a ``[profile]``)."""
        return self.min_nodes is not None

    @property
    def feasible(self) -> bool:
        """Whether some size up to ``max_nodes`` met every constraint."""
        return self.nodes is not None

    @property
    def key(self) -> tuple[str, int]:
        """``(mechanism, clients)``: the row's place in the plan."""
        return self.mechanism, self.clients

    @property
    def config_name(self) -> str:
        """The file name of the row's resolved config in ``configs/``."""
        return f"{self.mechanism}-{self.clients}.toml"

    def as_dict(self, slos: list[Slo]) -> dict[str, Any]:
        """One line of ``plan.csv``: the answer, then every metric of its run."""
        out: dict[str, Any] = {"mechanism": self.mechanism, "clients": self.clients}
        out.update(self.setting)
        out.update(nodes=self.nodes, binding=self.binding, applicable=self.applicable)
        if self.profiled:
            out.update(min_nodes=self.min_nodes, max_nodes=self.max_nodes,
                       node_hours=self.metrics.get("server.node_hours"), profile_broke=self.profile_broke)
        for slo in slos:
            out[slo.metric] = self.metrics.get(slo.metric)
        per_hour = self.metrics.get("cost.per_hour")
        out["cost.per_hour"] = per_hour
        out["cost.per_month"] = per_hour * HOURS_PER_MONTH if per_hour is not None else None
        out["runs"] = self.runs
        out["note"] = "; ".join(self.notes)
        out["config"] = f"configs/{self.config_name}" if self.config else ""
        for name in CATALOGUE:
            out.setdefault(name, self.metrics.get(name))
        for name, value in self.metrics.items():
            out.setdefault(name, value)
        return out

    def state(self) -> dict[str, Any]:
        """Everything to rebuild the row (``manifest.json``)."""
        return {
            "mechanism": self.mechanism, "clients": self.clients, "nodes": self.nodes,
            "metrics": self.metrics, "tried": {str(k): v for k, v in self.tried.items()},
            "setting": self.setting, "binding": self.binding, "runs": self.runs,
            "applicable": self.applicable, "notes": self.notes, "config": self.config, "error": self.error,
            **({"min_nodes": self.min_nodes, "max_nodes": self.max_nodes, "profile_broke": self.profile_broke}
               if self.profiled else {}),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PlanRow:
        """The row :meth:`state` describes (a manifest's row)."""
        row = cls(**{k: v for k, v in state.items() if k != "tried"})
        row.tried = {int(k): bool(v) for k, v in state.get("tried", {}).items()}
        return row



def nodes_text(row: PlanRow, max_nodes: int) -> str:
    """The row's node count as shown: the count, or ``> max_nodes`` when none up to it sufficed."""
    return str(row.nodes) if row.feasible else f"> {max_nodes}"


def cheapest(rows: list[PlanRow]) -> dict[int, PlanRow]:
    """Per client count, the cheapest feasible row a mechanism can serve (ties: fewer nodes, then order)."""
    best: dict[int, PlanRow] = {}
    for row in rows:
        if not (row.feasible and row.applicable) or row.profile_broke:
            continue
        current = best.get(row.clients)
        if current is None or _price(row) < _price(current):
            best[row.clients] = row
    return best


def _price(row: PlanRow) -> tuple[float, int]:
    return row.metrics.get("cost.per_hour", math.inf), row.nodes or 0
