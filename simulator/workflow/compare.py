"""Build or buy: self-hosted fleets of each server profile against managed services, per client count.

``sim plan CONFIG --clients 10000,1000000 --slo ... --profiles go_gobwas,centrifugo
--services api_gateway_websocket,ably`` sizes a self-hosted fleet for every
profile (the usual node search of :mod:`simulator.workflow.planner`, with the
profile's values in place of the config's ``[server]`` costs) and prices the same
traffic under every service: a service's bill is a function of what the load
uses (connection-minutes, messages, peak connections, ...), so each service row
reuses the run of the cheapest fleet that served every client at that client
count (:func:`simulator.engine.billing.service_bill`).  A service's quotas are
not simulated here (a steady load hardly meets them); ``sim run`` with
``[deployment] kind`` shows them acting.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.config import ConfigError, validate_config
from simulator.config.server_profiles import PROFILE_KEYS, PROFILE_NAMES
from simulator.config.services import SELF_HOSTED, SERVICES
from simulator.engine.billing import HOURS_PER_MONTH, Usage, service_bill
from simulator.workflow.plan_rows import PlanRow
from simulator.workflow.planner import Planner
from simulator.workflow.slo import Slo


@dataclass
class OptionRow:
    """One option (a stack on our own fleet, or a service) at one client count."""

    option: str  # "centrifugo (own fleet)" or "ably"
    kind: str  # self_hosted or the service kind
    profile: str  # the server profile of a fleet ("" for a service)
    clients: int
    per_month: float | None  # None: no fleet met the constraints, or no published price
    nodes: int | None = None
    binding: str = ""
    note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict, as written to the comparison CSV."""
        return {"option": self.option, "kind": self.kind, "profile": self.profile, "clients": self.clients,
                "nodes": self.nodes, "binding": self.binding, "cost.per_month": self.per_month, "note": self.note}


def parse_choices(option: str, text: str | None, valid: tuple[str, ...]) -> list[str]:
    """``a,b`` or ``all`` into names from ``valid`` (an unknown name is a one-line error)."""
    if text is None:
        return []
    if text.strip() == "all":
        return list(valid)
    names = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    bad = [n for n in names if n not in valid]
    if bad or not names:
        what = f"unknown name {bad[0]!r}" if bad else "nothing given"
        raise ConfigError(f"error: {option}: {what} (choose from {', '.join(valid)}, or all)")
    return names


def fleet_data(data: dict[str, Any], profile: str) -> dict[str, Any]:
    """``data`` with ``profile``'s values for the stack costs (the config's own ones dropped), self-hosted."""
    out = copy.deepcopy(data)
    server = out.setdefault("server", {})
    for key in PROFILE_KEYS:
        server.pop(key, None)
    server["profile"] = profile
    out.pop("deployment", None)
    return out


def service_row(kind: str, clients: int, base: OptionRow | None, config_data: dict[str, Any],
                source: str) -> OptionRow:
    """``kind``'s monthly bill for the traffic of ``base`` (a fleet's answer at ``clients``)."""
    service = SERVICES[kind]
    if base is None:
        return OptionRow(kind, kind, "", clients, None, note="no fleet's traffic to price")
    config = validate_config(copy.deepcopy(config_data), source)
    usage = Usage.from_metrics(base.metrics, config.workload.payload, config.experiment.duration,
                               config.server.workers)
    bill = service_bill(kind, usage)
    note = f"on {base.profile}'s traffic"
    if service.bills_egress:
        scale = HOURS_PER_MONTH * 3600.0 / config.experiment.duration
        bill += base.metrics.get("network.bytes_down", 0.0) / 1e9 * scale * config.cost.egress_gb
        note += ", + egress"
    if math.isnan(bill):
        return OptionRow(kind, kind, "", clients, None, note="beyond the largest published plan")
    return OptionRow(kind, kind, "", clients, bill, note=note)


def compare(
    data: dict[str, Any],
    clients: list[int],
    slos: list[Slo],
    mechanism: str,
    profiles: list[str],
    services: list[str],
    max_nodes: int = 64,
    workers: int = 1,
    allow_loss: bool = False,
    source: str = "<plan>",
    on_row: Callable[[OptionRow], None] | None = None,
) -> list[OptionRow]:
    """Every (option, client count) row: fleets first (in ``profiles`` order), then services."""
    if not profiles:  # services are priced on the traffic of the config's own stack
        profiles = [(data.get("server") or {}).get("profile", "generic")]
    for name in profiles:
        if name not in PROFILE_NAMES:
            raise ConfigError(f"error: --profiles: unknown profile {name!r} (choose from {', '.join(PROFILE_NAMES)})")
    rows: list[OptionRow] = []
    fleets: dict[int, list[OptionRow]] = {n: [] for n in clients}
    for profile in profiles:
        planner = Planner(fleet_data(data, profile), list(clients), list(slos), [mechanism], max_nodes, {},
                          allow_loss, source=source)
        for plan_row in planner.run(workers):
            row = _fleet_row(profile, plan_row, max_nodes)
            rows.append(row)
            fleets[row.clients].append(row)
            if on_row is not None:
                on_row(row)
    base_data = fleet_data(data, profiles[0])
    base_data.setdefault("mechanism", {})["kind"] = mechanism
    for kind in services:
        for n in clients:
            served = [r for r in fleets[n] if r.per_month is not None]
            base = min(served, key=lambda r: r.per_month) if served else None
            row = service_row(kind, n, base, {**base_data, "clients": {**base_data.get("clients", {}), "count": n}},
                              source)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _fleet_row(profile: str, plan_row: PlanRow, max_nodes: int) -> OptionRow:
    per_hour = plan_row.metrics.get("cost.per_hour")
    ok = plan_row.feasible and plan_row.applicable and per_hour is not None and not plan_row.error
    note = "; ".join(plan_row.notes)
    if not plan_row.feasible:
        note = f"needs more than {max_nodes} nodes" + (f"; {note}" if note else "")
    return OptionRow(f"{profile} (own fleet)", SELF_HOSTED, profile, plan_row.clients,
                     per_hour * HOURS_PER_MONTH if ok else None, plan_row.nodes, plan_row.binding, note,
                     dict(plan_row.metrics))


def cheapest(rows: list[OptionRow]) -> dict[int, OptionRow]:
    """Per client count, the option with the lowest monthly cost (ties: the order given)."""
    best: dict[int, OptionRow] = {}
    for row in rows:
        if row.per_month is None:
            continue
        if row.clients not in best or row.per_month < best[row.clients].per_month:
            best[row.clients] = row
    return best
