"""Client connections: one lifecycle (:mod:`.lifecycle`) shared by every mechanism that connects."""

from simulator.engine.connections.lifecycle import Lifecycle

__all__ = ["Lifecycle"]
