"""Bills: a managed service's monthly bill and a load balancer's, from what a run measured.

Pure functions of a :class:`Usage` (what one month of the measured load uses),
so ``sim plan`` can price a run's traffic under every service without running
it again.  Prices and quotas live in :mod:`simulator.config.services` (each
cited in docs/pricing.md).  A month is 730 h, as everywhere in the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.config import services as S

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0


@dataclass(frozen=True)
class Usage:
    """One month of the measured load (the window's rates times a 730 h month)."""

    connection_minutes: float
    peak_connections: float
    connects: float  # connections opened (WebSocket upgrades)
    messages_out: float  # notifications written to clients
    heartbeats: float  # keep-alive frames written to clients
    messages_in: float  # client -> server messages
    published: float  # notifications published by the backend
    payload_bytes: float  # bytes of one notification's payload
    active_seconds: float  # server busy seconds (what a hibernating object is billed for)

    @classmethod
    def from_metrics(cls, metrics: dict[str, float], payload_bytes: float, window_seconds: float,
                     workers: int) -> Usage:
        """A month of the load a run's ``metrics`` measured over ``window_seconds`` (``workers`` per node)."""
        scale = HOURS_PER_MONTH * 3600.0 / window_seconds
        busy = metrics.get("server.cpu_utilization", 0.0) * workers * metrics.get("server.nodes", 0.0) * window_seconds
        return cls(
            connection_minutes=metrics.get("connections.mean", 0.0) * HOURS_PER_MONTH * 60.0,
            peak_connections=metrics.get("connections.peak", 0.0),
            connects=metrics.get("connections.opened", 0.0) * scale,
            messages_out=metrics.get("messages.pushed", 0.0) * scale,
            heartbeats=metrics.get("messages.heartbeats", 0.0) * scale,
            messages_in=metrics.get("messages.upstream", 0.0) * scale,
            published=metrics.get("notifications.published", 0.0) * scale,
            payload_bytes=payload_bytes,
            active_seconds=busy * scale,
        )


def _increments(payload_bytes: float, increment: float) -> int:
    """How many billed messages one message of ``payload_bytes`` counts as."""
    return max(1, math.ceil(payload_bytes / increment))


def api_gateway(u: Usage) -> float:
    """Messages (sent and received, 32 KB increments) and connection-minutes."""
    k = _increments(u.payload_bytes, S.API_GATEWAY_MESSAGE_INCREMENT)
    messages = (u.messages_out + u.messages_in) * k + u.heartbeats
    return (messages / 1e6 * S.API_GATEWAY_PER_MILLION_MESSAGES
            + u.connection_minutes / 1e6 * S.API_GATEWAY_PER_MILLION_CONNECTION_MINUTES)


def azure_signalr(u: Usage) -> float:
    """Units of 1,000 peak connections; outbound messages (2 KB chunks, no pings) beyond the units' daily quota."""
    units = max(1, math.ceil(u.peak_connections / S.AZURE_CONNECTIONS_PER_UNIT))
    outbound = u.messages_out * _increments(u.payload_bytes, S.AZURE_MESSAGE_INCREMENT)
    included = units * S.AZURE_MESSAGES_PER_UNIT_DAY * DAYS_PER_MONTH
    return units * S.AZURE_DOLLARS_PER_UNIT_MONTH + max(0.0, outbound - included) / 1e6 * S.AZURE_PER_MILLION_MESSAGES


def ably(u: Usage) -> float:
    """Messages published plus received, and peak connections."""
    messages = u.published + u.messages_out + u.messages_in
    return (messages / 1e6 * S.ABLY_PER_MILLION_MESSAGES
            + u.peak_connections / 1000.0 * S.ABLY_PER_THOUSAND_PEAK_CONNECTIONS)


def pusher_tier(u: Usage) -> S.Tier | None:
    """The cheapest plan holding the peak connections and the daily messages (None: beyond every published plan)."""
    per_day = (u.published + u.messages_out) / DAYS_PER_MONTH
    for tier in S.PUSHER_TIERS:
        if u.peak_connections <= tier.connections and per_day <= tier.messages_per_day:
            return tier
    return None


def pusher(u: Usage) -> float:
    """The plan's monthly price; NaN beyond the largest published plan (Enterprise: no list price)."""
    tier = pusher_tier(u)
    return tier.dollars_per_month if tier is not None else math.nan


def durable_objects(u: Usage) -> float:
    """Requests (upgrades, publishes, incoming messages at 20:1) and active GB-s (hibernation: idle is free)."""
    requests = u.connects + u.published + u.messages_in / S.DO_WEBSOCKET_MESSAGES_PER_REQUEST
    gb_seconds = u.active_seconds * S.DO_MEMORY_GB
    return (S.DO_MINIMUM_PER_MONTH
            + max(0.0, requests - S.DO_INCLUDED_REQUESTS) / 1e6 * S.DO_PER_MILLION_REQUESTS
            + max(0.0, gb_seconds - S.DO_INCLUDED_GB_SECONDS) / 1e6 * S.DO_PER_MILLION_GB_SECONDS)


BILLS = {
    "api_gateway_websocket": api_gateway,
    "azure_signalr": azure_signalr,
    "ably": ably,
    "pusher": pusher,
    "cloudflare_durable_objects": durable_objects,
}


def service_bill(kind: str, usage: Usage) -> float:
    """Dollars per month for ``usage`` on service ``kind`` (0 for a self-hosted fleet)."""
    bill = BILLS.get(kind)
    return bill(usage) if bill is not None else 0.0


def balancer_lcus(new_connections_per_second: float, active_connections: float, gb_per_hour: float,
                  rule_evaluations_per_second: float = 0.0) -> float:
    """Load-balancer capacity units: the largest of the four dimensions (AWS ALB)."""
    return max(new_connections_per_second / S.LCU_NEW_CONNECTIONS_PER_SECOND,
               active_connections / S.LCU_ACTIVE_CONNECTIONS,
               gb_per_hour / S.LCU_GB_PER_HOUR,
               rule_evaluations_per_second / S.LCU_RULE_EVALUATIONS_PER_SECOND)


def balancer_cost(hours: float, balancer_hour: float, lcu_hour: float, lcus: float) -> float:
    """Dollars for ``hours`` of a balancer holding ``lcus`` capacity units."""
    return hours * (balancer_hour + lcu_hour * lcus)
