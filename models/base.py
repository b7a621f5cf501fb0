"""The mechanism contract: a base class whose every hook has a documented default.

A mechanism is one module in ``models/`` with a subclass of :class:`Mechanism`,
listed under the ``notifysim.mechanisms`` entry-point group in
``pyproject.toml`` (``kind = "models.module:Class"``).  The config layer finds
it there (``simulator.config.registry``) to validate its ``[mechanism]`` keys;
the engine builds it from a :class:`~simulator.engine.simulation.Simulation`
and asks it for the books.  Neither ever names a mechanism: they see it through
the protocols of ``simulator.engine.mechanism`` (``MechanismClass``,
``RunningMechanism``), which :class:`Mechanism` implements, reached by the one
lookup ``mechanism_of(config)``.  docs/design.md §11 ("Adding a mechanism")
walks through one.

Like desmod's ``Component``: override what differs, inherit the rest.

Which base do I pick?  One choice, by how the clients reach the server
(docs/design.md §9):

=============================================  ==============================================  ==============
The clients ...                                 Subclass                                       As
=============================================  ==============================================  ==============
hold one long-lived stream, written to by the   :class:`PersistentMechanism` (owns a            SSE, WebSocket
server (you describe only its ``Framing``)      ``PersistentConnections``)
wait on a node for their feed, one request at   ``engine.connections.persistent.Subscribers``   long polling
a time (held requests answered by a publish)    and :class:`Mechanism`
open or reuse connections on their own          ``engine.connections.Lifecycle`` and            short polling
schedule (a request cycle of their own)         :class:`Mechanism`
never connect to the cluster (the server        :class:`Mechanism` alone                        webhook,
calls out, or a third party delivers)                                                           platform push
=============================================  ==============================================  ==============

The first three share one connection lifecycle (attempt, live, drop, retry with
backoff): pick the most specific row, since each builds on the one below it
(``PersistentConnections`` is a ``Subscribers``, which is a ``Lifecycle``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from simulator.engine.connections.persistent import (
    SWEEPS_PER_IDLE_TIMEOUT,
    Framing,
    PersistentConnections,
)

if TYPE_CHECKING:
    from simulator.config import ExperimentConfig, WorkloadSection
    from simulator.config.distributions import Distribution
    from simulator.engine.simulation import Simulation


class NoParams(BaseModel):
    """A mechanism without keys of its own."""

    model_config = ConfigDict(extra="forbid")


class Mechanism:
    """How a server tells clients about new notifications, on the engine's blocks."""

    #: The ``mechanism.kind`` name; must equal the entry point's name.
    kind: ClassVar[str] = ""
    #: Its ``[mechanism]`` keys: a pydantic model with defaults and descriptions.
    Params: ClassVar[type[BaseModel]] = NoParams
    #: One line for ``sim mechanisms``.
    summary: ClassVar[str] = ""
    #: ``{param: unit or values}`` for ``sim mechanisms`` (default: from the field types).
    units: ClassVar[dict[str, str]] = {}
    #: Where ``sim mechanisms`` lists it (pull before push).
    order: ClassVar[int] = 100
    #: What it models beyond the basics, checked against the config: ``node_crash`` (survives a
    #: crashed node), ``receiver_outage`` (``[[failures]] kind = "receiver_outage"``),
    #: ``upstream`` (``workload.upstream_rate``).
    features: ClassVar[frozenset[str]] = frozenset({"node_crash"})
    #: Who can use it (``clients.kind``): a webhook needs a reachable backend.
    client_kinds: ClassVar[frozenset[str]] = frozenset({"browser", "mobile", "backend"})
    #: Memory per client for the up-front size check (a SimPy process and its state).
    bytes_per_client: ClassVar[int] = 2_500
    #: Memory per notification held between its publish and its reader (a publish time in a
    #: feed's list; measured ~46 B with short polling), for the up-front size check.
    bytes_per_held_delivery: ClassVar[int] = 100

    @classmethod
    def events_per_client_second(cls, params: Any, workload: WorkloadSection) -> float:
        """SimPy events per client per simulated second, for the up-front size check.

        Default 0: fan-out to open connections is array work, counted per publish.
        """
        return 0.0

    @classmethod
    def holds_connection(cls, config: ExperimentConfig) -> bool:
        """Whether every client keeps a connection (a slot of ``max_connections``) open all along.

        Lets ``sim plan`` start its node search at ``clients / max_connections``
        without simulating; default False (assume nothing).
        """
        return False

    @classmethod
    def read_delay(cls, config: ExperimentConfig) -> float:
        """Longest a notification waits for its reader (seconds), for the up-front memory check.

        Default: a connected client reads at once, a disconnected one after at most
        ``backoff.max``.
        """
        return config.mechanism.backoff.max

    @classmethod
    def idle_sweeps_per_second(cls, config: ExperimentConfig) -> float:
        """Most wake-ups per simulated second of an idle-connection sweeper; default none."""
        return 0.0

    @classmethod
    def message_cost(cls, config: ExperimentConfig) -> Distribution:
        """CPU per message the node writes or reads on an open connection (seconds).

        The engine builds each node's message sampler from it; default ``server.message_cost``.
        """
        return config.server.message_cost

    def __init__(self, sim: Simulation):
        self.sim = sim

    def start(self) -> None:
        """Launch the mechanism's processes; default: none."""

    def pending(self) -> int:
        """Deliveries owed in the window and not yet received or lost, at the end.

        Counted independently of the delivery counters so that the books can
        catch a lost delivery; default: from the event log's cursors.
        """
        return self.sim.log.pending_in_window()

    def outstanding(self) -> int:
        """What keeps the drain going (side-effect free); default: :meth:`pending`'s count."""
        return self.sim.log.pending_in_window()


class PersistentMechanism(Mechanism):
    """A mechanism on the persistent-connection block (SSE, WebSocket): it describes its wire format.

    The block (:class:`~simulator.engine.connections.persistent.PersistentConnections`)
    does the rest: connect, bulk fan-out, heartbeats, drops and reconnects.
    """

    bytes_per_client = 800  # measured ~600 B/client at 1,000,000 clients (benchmarks/README.md, "Scale")

    @classmethod
    def holds_connection(cls, config: ExperimentConfig) -> bool:
        """True: each client keeps one stream open all along."""
        return True  # one stream per client, open all along

    @classmethod
    def idle_sweeps_per_second(cls, config: ExperimentConfig) -> float:
        """The balancer's idle sweeper runs when heartbeats do not keep streams from idling."""
        idle, heartbeat = config.cluster.idle_timeout, config.mechanism.params.heartbeat
        if idle <= 0 or (config.cluster.heartbeats_reset_idle and 0 < heartbeat <= idle):
            return 0.0
        return SWEEPS_PER_IDLE_TIMEOUT / idle

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        self.connections = PersistentConnections(sim, self.framing(sim))

    def framing(self, sim: Simulation) -> Framing:
        """Hook (required): frame sizes, heartbeat, handshake and replay rules of the protocol."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the persistent block: first connections, fan-out and heartbeats."""
        self.connections.start()

    def pending(self) -> int:
        """Deliveries still owed, counted by the persistent block independently of the delivery counters."""
        return self.connections.pending()
