"""What the engine, the workflows and the testbed use of a mechanism: its contract as a Protocol.

A mechanism is a class (``models/``, found through the ``notifysim.mechanisms``
entry points) that the layers above the config never import by name.  They
see it through two protocols, owned here because the engine is what calls them:

* :class:`MechanismClass`, the class itself: its declarations (``kind``,
  ``Params``, ``features``, ``client_kinds``, the sizes for the up-front
  estimate) and its class-level hooks, which need a config but no simulation
  (``message_cost``, ``read_delay``, ``holds_connection`` ...).  Calling it with a
  :class:`~simulator.engine.simulation.Simulation` builds a
  :class:`RunningMechanism`;
* :class:`RunningMechanism`, one run's instance: ``start``, ``pending``,
  ``outstanding``.

``models.base.Mechanism`` implements both with documented defaults; a test
(``tests/test_mechanism_contract.py``) checks every registered kind against them.

:func:`mechanism_of` is the one way to reach the class of a loaded config's
mechanism (``simulator.config.registry.mechanism_of``, typed with the protocol);
lookups by a kind name that is not a config's (every kind's ``Params``) use
``registry.get``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from simulator.config import registry

if TYPE_CHECKING:
    from pydantic import BaseModel

    from simulator.config import ExperimentConfig, WorkloadSection
    from simulator.config.distributions import Distribution
    from simulator.engine.simulation import Simulation


@runtime_checkable
class RunningMechanism(Protocol):
    """A mechanism built for one run: the engine starts it, drains it and asks it for the books."""

    def start(self) -> None:
        """Launch its processes (called once, before the run)."""

    def pending(self) -> int:
        """Deliveries owed in the window and neither received nor lost, at the end."""

    def outstanding(self) -> int:
        """What keeps the drain going (side-effect free)."""


@runtime_checkable
class MechanismClass(Protocol):
    """A mechanism class: what it declares, its config-level hooks, and how a run builds it."""

    #: The ``mechanism.kind`` name (the entry point's name).
    kind: ClassVar[str]
    #: Its ``[mechanism]`` keys (a pydantic model).
    Params: ClassVar[type[BaseModel]]
    #: One line and the units of its keys, for ``sim mechanisms``; its listing position.
    summary: ClassVar[str]
    units: ClassVar[dict[str, str]]
    order: ClassVar[int]
    #: What it models beyond the basics (``node_crash``, ``receiver_outage``, ``upstream``,
    #: ``tabs``, ``per_origin_limit``), checked against the config.
    features: ClassVar[frozenset[str]]
    #: The ``clients.kind`` values it can serve.
    client_kinds: ClassVar[frozenset[str]]
    #: Memory per client and per held notification, for the up-front estimate (bytes).
    bytes_per_client: ClassVar[int]
    bytes_per_held_delivery: ClassVar[int]

    def __call__(self, sim: Simulation) -> RunningMechanism:
        """Build the mechanism for one run of ``sim``."""

    def events_per_client_second(self, params: Any, workload: WorkloadSection) -> float:
        """SimPy events per client per simulated second (the up-front estimate)."""

    def holds_connection(self, config: ExperimentConfig) -> bool:
        """Whether every client keeps one connection slot open all along."""

    def read_delay(self, config: ExperimentConfig) -> float:
        """Longest a notification waits for its reader (seconds; the up-front estimate)."""

    def idle_sweeps_per_second(self, config: ExperimentConfig) -> float:
        """Most wake-ups per simulated second of an idle-connection sweeper."""

    def message_cost(self, config: ExperimentConfig) -> Distribution:
        """CPU per message written or read on an open connection (seconds)."""


def mechanism_of(config: ExperimentConfig) -> MechanismClass:
    """The class of ``config``'s mechanism (``mechanism.kind``), as the engine sees it."""
    cls: MechanismClass = registry.mechanism_of(config)
    return cls
