"""Which live clients each (node, feed) pair serves, as dense numpy arrays.

A broadcast or topic event is written, on each node, to every live connection
subscribed to its feed.  Keeping those subscribers as one dense ``int64``
array per (node, feed) pair makes a fan-out a slice (``ids[:n]``) and the
rest array work.  Membership changes are O(1): an add appends, a remove swaps
the last member into the hole (so the order of a set, and with it who is
written first in a burst, depends only on the history of joins and leaves:
deterministic).  A crash empties all of a node's sets at once.

Per-client feeds (``workload.pattern = "per_client"``) need no sets: the feed
names its one client.
"""

from __future__ import annotations

import numpy as np


class SubscriberSets:
    """Dense member arrays keyed by ``node * feeds + feed`` (client ids, int64)."""

    def __init__(self, clients: int, nodes: int, feeds: int):
        self.feeds = feeds
        self.nodes = nodes
        keys = nodes * feeds
        self.ids: list[np.ndarray] = [np.empty(0, dtype=np.int64) for _ in range(keys)]
        self.count = [0] * keys
        self.key_of = np.full(clients, -1, dtype=np.int64)  # the set holding each client
        self.pos = np.full(clients, -1, dtype=np.int64)  # its index inside that set

    def members(self, key: int) -> np.ndarray:
        """The members of set ``key`` (a view; do not keep it across changes)."""
        return self.ids[key][: self.count[key]]

    def add(self, client: int, key: int) -> None:
        """Add `client` to the set of `key` (amortised O(1): arrays grow by doubling)."""
        n = self.count[key]
        arr = self.ids[key]
        if n == len(arr):  # grow by doubling: amortised O(1) appends
            bigger = np.empty(max(64, 2 * n), dtype=np.int64)
            bigger[:n] = arr[:n]
            self.ids[key] = arr = bigger
        arr[n] = client
        self.count[key] = n + 1
        self.key_of[client] = key
        self.pos[client] = n

    def remove(self, client: int) -> None:
        """Remove `client` from its set, if it is in one (O(1): the last member takes its place)."""
        key = int(self.key_of[client])
        if key < 0:
            return
        i = int(self.pos[client])
        arr = self.ids[key]
        last = self.count[key] - 1
        moved = int(arr[last])
        arr[i] = moved
        self.pos[moved] = i
        self.count[key] = last
        self.key_of[client] = -1
        self.pos[client] = -1

    def take(self, key: int) -> np.ndarray:
        """Empty set ``key``: its former members, in set order (a copy)."""
        n = self.count[key]
        members = self.ids[key][:n].copy()
        self.key_of[members] = -1
        self.pos[members] = -1
        self.count[key] = 0
        return members

    def clear_node(self, node: int) -> None:
        """Forget every member of ``node``'s sets (the node crashed)."""
        for key in range(node * self.feeds, (node + 1) * self.feeds):
            if self.count[key]:
                self.take(key)
