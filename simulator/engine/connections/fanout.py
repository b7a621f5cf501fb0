"""Fan-out: writing a published event to every live subscriber of its feed.

Mixed into :class:`simulator.engine.connections.persistent.PersistentConnections`, whose arrays
(state, node, cursor, subscriber sets) it reads.  A publish reaches every
node after ``cluster.backplane_latency``; on each node the frame goes to the
feed's live subscribers there as array work: ``node.process_many`` queues the
writes behind the node's workers, ``link.one_way_many`` adds each client's
latency and serialisation, ``metrics.deliver_many`` records each exact
latency, and the log cursors move on with one fancy-indexed assignment.  No
SimPy event and no Python object per subscriber.

Small bursts (at most :data:`SMALL_BURST` subscribers) and per-client feeds
take the same steps one message at a time: below that size a dozen numpy
calls cost more than ~3 us of scalar work per subscriber, and
``node.process`` is the exact FCFS queue.

A write that would finish after the node's next crash is lost with the
node's queue; the subscriber's stream is then broken (later writes are
skipped, its cursor stays) until the crash drops it and its reconnect replays
or loses what it missed.
"""

from __future__ import annotations

import math

import numpy as np

#: Bursts up to this many subscribers are written message by message.
SMALL_BURST = 48

#: Connection states of a client (``PersistentConnections.state``).
DOWN, CONNECTING, LIVE = 0, 1, 2


class FanOut:
    """The publish path of the persistent-connection block (a mixin)."""

    def _on_publish(self, feed: int, seq: int, t: float) -> None:
        """Event ``seq`` of ``feed`` was published at ``t``: write it to every live subscriber."""
        if self.per_client:
            self._push_one(feed, seq, t)
            return
        sim = self.sim
        sets = self.sets
        cluster = sim.cluster
        arrival = cluster.backplane.arrival(t, len(cluster.serving))  # t + backplane_latency when ideal
        frame = self.framing.frame_one(seq)
        for node in self.nodes:
            key = node.index * sets.feeds + feed
            n = sets.count[key]
            if n:
                self._push_many(node, sets.ids[key][:n], seq, t, arrival, frame)

    def _push_many(self, node, ids: np.ndarray, seq: int, t: float, arrival: float, frame: float) -> None:
        """Write event ``seq`` to the live subscribers ``ids`` of ``node``: array work."""
        sim = self.sim
        m = sim.metrics
        n = len(ids)
        if n <= SMALL_BURST:
            self._push_few(node, ids, seq, t, arrival, frame)
            return
        finish = node.process_many(arrival, node.message_cost.many(n))
        if node.next_crash < math.inf or self.broken[node.index]:
            ok = (finish >= 0) & (self.cursor[ids] == seq)
            if not ok.all():
                self.broken[node.index] = True
                ids, finish = ids[ok], finish[ok]
                n = len(ids)
        arrived = finish + sim.link.one_way_many(frame, n)
        if m.t_start <= t <= m.t_end:
            m.deliver_many(np.full(n, t), arrived)
        if self.radio is not None:
            self.radio.activity_many(ids, arrived)
        self.cursor[ids] = seq + 1
        if m.t_start <= arrival <= m.t_end:
            m.messages_pushed += n
        m.send_down(arrival, n * frame, n * self.payload)
        if self.last_data is not None:
            self.last_data[ids] = finish

    def _push_few(self, node, ids: np.ndarray, seq: int, t: float, arrival: float, frame: float) -> None:
        """A small burst, written one message at a time (cheaper than the fixed cost of array calls).

        ``node.process`` is the exact FCFS queue, so the result equals the bulk
        path's for equal message costs.
        """
        sim = self.sim
        m, link = sim.metrics, sim.link
        cursor, last_data = self.cursor, self.last_data
        cost = node.message_cost
        sent = 0
        for c in ids.tolist():
            if cursor[c] != seq:
                continue  # a write to it was lost before: its stream is broken until the crash
            finish = node.process(arrival, cost())
            if finish < 0:
                self.broken[node.index] = True
                continue
            arrived = finish + link.one_way(frame)
            m.deliver(t, arrived)
            if self.radio is not None:
                self.radio.activity(c, arrived)
            cursor[c] = seq + 1
            if last_data is not None:
                last_data[c] = finish
            sent += 1
        if m.t_start <= arrival <= m.t_end:
            m.messages_pushed += sent
        m.send_down(arrival, sent * frame, sent * self.payload)

    def _push_one(self, c: int, seq: int, t: float) -> None:
        """The same path for a per-client feed, in scalar form (one subscriber)."""
        sim = self.sim
        arrival = sim.cluster.backplane.arrival(t, 1)  # published whether or not the client is there
        if self.state[c] != LIVE or self.cursor[c] != seq:
            return  # not connected (replayed or lost at reconnect), or a write was lost
        m = sim.metrics
        node = self.nodes[int(self.node_of[c])]
        finish = node.process(arrival, node.message_cost())
        if finish < 0:
            return  # the node crashes first: the write dies with its queue
        frame = self.framing.frame_one(seq)
        arrived = finish + sim.link.one_way(frame)
        m.deliver(t, arrived)
        if self.radio is not None:
            self.radio.activity(c, arrived)
        self.log.skip(c, seq + 1)
        if m.t_start <= arrival <= m.t_end:
            m.messages_pushed += 1
        m.send_down(arrival, frame, self.payload)
        if self.last_data is not None:
            self.last_data[c] = finish
