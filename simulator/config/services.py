"""Managed real-time services (``[deployment] kind``): their quotas and price lists.

Data only (the bill is computed in :mod:`simulator.engine.billing`).  Every
number is cited with its source and the date it was looked up in
docs/pricing.md; US-East / list prices in US dollars.  A quota of 0 means the
service states none.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

#: What runs the servers: our own fleet, or one of the services below.
SELF_HOSTED = "self_hosted"


@dataclass(frozen=True)
class Quotas:
    """Limits a service enforces on every client connection."""

    #: New connections admitted per second (account-wide); more wait for their turn.
    new_connections_per_second: float = 0.0
    #: The service closes a connection this old (seconds); the client reconnects.
    max_connection_age: float = 0.0
    #: The service closes a connection idle this long (seconds).
    idle_timeout: float = 0.0


@dataclass(frozen=True)
class Tier:
    """A plan with a monthly price and caps (Pusher Channels)."""

    name: str
    dollars_per_month: float
    connections: int
    messages_per_day: int


@dataclass(frozen=True)
class Service:
    """A managed service: its quotas, and whether egress is billed on top of its price list."""
    kind: str
    label: str
    quotas: Quotas
    #: Whether data sent to clients is billed at ``cost.egress_gb`` on top (AWS: data transfer out).
    bills_egress: bool = False


API_GATEWAY = Service(
    "api_gateway_websocket", "AWS API Gateway (WebSocket APIs)",
    Quotas(new_connections_per_second=500.0, max_connection_age=2 * 3600.0, idle_timeout=600.0),
    bills_egress=True,
)
#: Dollars per million messages (first billion a month), counted in 32 KB increments.
API_GATEWAY_PER_MILLION_MESSAGES = 1.00
API_GATEWAY_MESSAGE_INCREMENT = 32 * 1024
#: Dollars per million connection-minutes.
API_GATEWAY_PER_MILLION_CONNECTION_MINUTES = 0.25

AZURE_SIGNALR = Service("azure_signalr", "Azure SignalR Service (Standard)", Quotas())
AZURE_CONNECTIONS_PER_UNIT = 1000
AZURE_DOLLARS_PER_UNIT_MONTH = 49.10
#: Outbound messages included per unit per day; beyond them, dollars per million.
AZURE_MESSAGES_PER_UNIT_DAY = 1_000_000
AZURE_PER_MILLION_MESSAGES = 1.00
#: Outbound messages are counted in 2 KB chunks; pings are not counted.
AZURE_MESSAGE_INCREMENT = 2 * 1024

ABLY = Service("ably", "Ably (self-service rates)", Quotas())
ABLY_PER_MILLION_MESSAGES = 2.50
ABLY_PER_THOUSAND_PEAK_CONNECTIONS = 20.00

PUSHER = Service("pusher", "Pusher Channels", Quotas())
PUSHER_TIERS = (
    Tier("Sandbox", 0.0, 100, 200_000),
    Tier("Startup", 49.0, 500, 1_000_000),
    Tier("Pro", 99.0, 2_000, 4_000_000),
    Tier("Business", 299.0, 5_000, 10_000_000),
    Tier("Premium", 499.0, 10_000, 20_000_000),
    Tier("Growth", 699.0, 15_000, 40_000_000),
    Tier("Plus", 899.0, 20_000, 60_000_000),
    Tier("Growth Plus", 1199.0, 30_000, 90_000_000),
)

DURABLE_OBJECTS = Service("cloudflare_durable_objects", "Cloudflare Durable Objects (hibernation)", Quotas())
DO_MINIMUM_PER_MONTH = 5.00  # Workers Paid plan
DO_INCLUDED_REQUESTS = 1_000_000
DO_PER_MILLION_REQUESTS = 0.15
#: Incoming WebSocket messages billed as requests at this ratio.
DO_WEBSOCKET_MESSAGES_PER_REQUEST = 20
DO_INCLUDED_GB_SECONDS = 400_000
DO_PER_MILLION_GB_SECONDS = 12.50
DO_MEMORY_GB = 128 / 1024  # every object is billed for 128 MB while active

SERVICES = MappingProxyType({s.kind: s for s in (API_GATEWAY, AZURE_SIGNALR, ABLY, PUSHER, DURABLE_OBJECTS)})
DEPLOYMENT_KINDS = (SELF_HOSTED, *SERVICES)

#: ALB list prices (us-east-1): the values to put in [cost] for an AWS balancer.
ALB_DOLLARS_PER_HOUR = 0.0225
ALB_DOLLARS_PER_LCU_HOUR = 0.008
#: What one LCU holds, per dimension; the largest dimension bills.
LCU_NEW_CONNECTIONS_PER_SECOND = 25.0
LCU_ACTIVE_CONNECTIONS = 3000.0  # per minute
LCU_GB_PER_HOUR = 1.0  # EC2 / container / IP targets
LCU_RULE_EVALUATIONS_PER_SECOND = 1000.0
#: Rule evaluations per request beyond the 10 free rules: 0 for a listener with <= 10 rules.
BILLED_RULES_PER_REQUEST = 0.0
