"""The shared state of one run that every mechanism builds on."""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from simulator.config import ExperimentConfig
from simulator.engine.backoff import Backoff
from simulator.engine.calendar import ActionCalendar
from simulator.engine.cluster import Cluster
from simulator.engine.http import HttpCost
from simulator.engine.http2 import Streams, repeat_header_bytes
from simulator.engine.link import Link
from simulator.engine.metrics import Metrics
from simulator.engine.presence import Presence
from simulator.engine.profile import LoadProfile
from simulator.engine.radio import RadioRecorder
from simulator.engine.randomness import RandomStreams
from simulator.engine.workload import EventLog


class Environment(simpy.Environment):
    """SimPy's environment, plus work done between its events (:mod:`simulator.engine.calendar`)."""

    def advance_to(self, t: float) -> None:
        """Move the clock to ``t``, which must not pass the next scheduled event.

        Lets one callback handle many actions that fall before SimPy's next event,
        each at its own time, without an event of its own: the clock only ever moves
        forward and never past an event SimPy still has to process.
        """
        if t < self._now:  # the caller checks the other bound (it peeks anyway)
            raise ValueError(f"advance_to({t!r}): the clock is at {self._now!r} already")
        self._now = t


@dataclass
class Simulation:
    """Environment, config and building blocks of one run (times in seconds)."""

    config: ExperimentConfig
    env: Environment = field(init=False)
    streams: RandomStreams = field(init=False)
    metrics: Metrics = field(init=False)
    cluster: Cluster = field(init=False)
    log: EventLog = field(init=False)
    profile: LoadProfile | None = field(init=False)
    presence: Presence = field(init=False)
    link: Link = field(init=False)
    http: HttpCost = field(init=False)
    streams_per_client: Streams = field(init=False)
    backoff: Backoff = field(init=False)
    radio: RadioRecorder | None = field(init=False)
    clients: int = field(init=False)
    calendars: list[ActionCalendar] = field(init=False, default_factory=list)
    t_start: float = field(init=False)
    t_end: float = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.env = Environment()
        self.streams = RandomStreams(c.experiment.seed)
        self.t_start = c.experiment.warmup
        self.t_end = c.experiment.warmup + c.experiment.duration
        self.clients = c.clients.count
        self.metrics = Metrics(
            self.t_start, self.t_end, c.experiment.sample_every, c.node_slots(), c.experiment.drain
        )
        self.cluster = Cluster(self.env, c, self.metrics, self.streams)
        self.profile = LoadProfile(c.profile) if c.profile is not None else None
        self.log = EventLog(
            self.env, c.workload, self.clients, self.streams.generator("workload"), self.metrics, self.profile
        )
        self.presence = Presence(self.env, c, self.streams, self.metrics, self.profile)
        if self.presence.calendar is not None:
            self.calendars.append(self.presence.calendar)
        self.link = Link(c.network.latency, c.network.bandwidth, self.streams.generator("network.latency"))
        h = c.http
        self.http = HttpCost(
            h.request_headers, h.response_headers, h.tls, h.keep_alive, h.keep_alive_timeout, h.version,
            repeat_header_bytes(h.version, h.request_headers, h.request_header_fields),
            repeat_header_bytes(h.version, h.response_headers, h.response_header_fields),
        )
        self.streams_per_client = Streams.of(c)
        self.backoff = Backoff(c.mechanism.backoff, self.streams.generator("backoff"))
        # Activity times per client, only when the radio is modelled: other runs pay nothing.
        radio = c.clients.radio
        self.radio = (
            None if radio.kind == "none"
            else RadioRecorder(self.clients, radio.resolved(), self.t_start, self.t_end)
        )

    def calendar(self, width: float, handle) -> ActionCalendar:
        """A new :class:`ActionCalendar` on this run's clock (its actions count as events)."""
        calendar = ActionCalendar(self.env, width, handle)
        self.calendars.append(calendar)
        return calendar

    @property
    def params(self):
        """The mechanism's own parameters (its ``Params`` model)."""
        return self.config.mechanism.params

    def start_times(self, name: str = "clients.start"):
        """Each client's first-action time, uniform over ``clients.connect_over`` (seconds)."""
        span = self.config.clients.connect_over
        rng = self.streams.generator(name)
        return rng.uniform(0.0, span, self.clients) if span > 0 else [0.0] * self.clients
