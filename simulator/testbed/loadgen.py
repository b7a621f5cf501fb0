"""The load generator: real asyncio clients of the five mechanisms, and webhook receivers.

Each client is a coroutine with its own connection (aiohttp for HTTP, the
``websockets`` library for WebSocket).  A client delays each request it sends by one
one-way ``network.latency`` (the server delays what it sends), reads each event's
publish time from its payload and records the latency at the last byte.  Bytes on the
wire are the kernel's TCP counters of each client socket (:func:`wire.tcp_bytes`), read
after every response or frame: the TCP payload, as the model counts it.
"""

from __future__ import annotations

import asyncio
import socket
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

try:  # the optional extra .[testbed] (simulator/testbed/extra.py): without it, sim runs the rest
    import aiohttp
    import websockets
    from aiohttp import web
    from websockets.asyncio.client import connect as ws_connect
except ImportError:
    aiohttp = websockets = web = ws_connect = None

from simulator.config import ExperimentConfig
from simulator.config.distributions import Sampler
from simulator.engine.backoff import Backoff
from simulator.testbed.wire import ByteMeter, EventLog, parse_payload, split_payloads

#: Errors that mean "the server is gone or refused": the client backs off and reconnects.
CONNECTION_ERRORS = (OSError, TimeoutError) if aiohttp is None else (
    aiohttp.ClientError, OSError, TimeoutError, websockets.exceptions.WebSocketException)


@dataclass
class Tally:
    """What the clients saw."""

    window: tuple[float, float]  # epoch seconds
    received: list[set] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    duplicates: int = 0
    requests: int = 0
    empty: int = 0
    reconnects: int = 0
    opened: int = 0
    errors: int = 0

    def in_window(self, epoch: float) -> bool:
        """True when the epoch time is in the measured window."""
        return self.window[0] <= epoch <= self.window[1]

    def record(self, client: int, payload: bytes | str, now: float) -> int:
        """One event received by ``client`` at epoch ``now``; returns its sequence number."""
        _, seq, published = parse_payload(payload)
        if self.in_window(published):
            seen = self.received[client]
            if seq in seen:
                self.duplicates += 1
            else:
                seen.add(seq)
                self.latencies.append(now - published)
        return seq


class LoadGenerator:
    """The clients of one testbed run against ``base_url``."""

    def __init__(self, config: ExperimentConfig, base_url: str, t0: float, stop_at: float):
        self.config = config
        self.base = base_url.rstrip("/")
        self.kind = config.mechanism.kind
        self.params = config.mechanism.params
        self.log = EventLog.from_config(config)
        self.t0 = t0
        self.stop_at = stop_at
        w0 = t0 + config.experiment.warmup
        self.tally = Tally((w0, w0 + config.experiment.duration))
        self.tally.received = [set() for _ in range(config.clients.count)]
        self.meter = ByteMeter()
        rng = np.random.default_rng([config.experiment.seed, 17])
        self.rng = rng
        self._latency = Sampler(config.network.latency, rng)
        self.backoff = Backoff(config.mechanism.backoff, rng)
        self.stopping = asyncio.Event()

    def latency(self) -> float:
        """One draw of `network.latency` (never negative)."""
        return max(0.0, self._latency())

    def count_request(self, sent: float, empty: bool) -> None:
        """Count a request sent at `sent`, and whether it came back empty, if in the window."""
        if self.tally.in_window(sent):
            self.tally.requests += 1
            self.tally.empty += empty

    def count_open(self) -> None:
        """Count a connection opened now, if in the window."""
        if self.tally.in_window(time.time()):
            self.tally.opened += 1

    def reconnect(self) -> None:
        """Count a reconnect attempt now, if in the window."""
        if self.tally.in_window(time.time()):
            self.tally.reconnects += 1

    async def sleep_until(self, epoch: float) -> None:
        """Sleep until the epoch time (at once if it has passed)."""
        wait = epoch - time.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def start_time(self, client: int) -> float:
        """A client's start: t0 plus a uniform draw over `clients.connect_over`."""
        return self.t0 + self.rng.random() * self.config.clients.connect_over

    def session(self) -> tuple[aiohttp.ClientSession, dict]:
        """One client's HTTP session (one connection at a time) and a holder of its current socket."""
        http = self.config.http
        holder: dict[str, socket.socket] = {}

        def factory(addr_info) -> socket.socket:
            holder["socket"] = self.meter.socket_factory(addr_info)
            return holder["socket"]

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            limit=1, force_close=not http.keep_alive, keepalive_timeout=http.keep_alive_timeout,
            socket_factory=factory), timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return session, holder

    async def clients(self) -> None:
        """Run every client until :meth:`stop`."""
        one = {"short_polling": self.short_poller, "long_polling": self.long_poller, "sse": self.sse_client,
               "websocket": self.ws_client}.get(self.kind)
        if one is None:  # webhook: the clients are receivers, served by :meth:`receiver_app`
            await self.stopping.wait()
            return
        tasks = [asyncio.ensure_future(one(i)) for i in range(self.config.clients.count)]
        await self.stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Ask every client to stop."""
        self.stopping.set()

    def _record_body(self, client: int, body: bytes, now: float) -> int:
        last = 0
        for payload in split_payloads(body, self.log.payload_bytes):
            last = max(last, self.tally.record(client, payload, now))
        return last

    async def short_poller(self, client: int) -> None:
        """One short-polling client: polls on its schedule until stopped."""
        p = self.params
        interval = Sampler(p.interval, np.random.default_rng([self.config.experiment.seed, 18, client]))
        cursor = 0
        failed = False
        next_send = self.start_time(client) + self.rng.random() * p.interval.mean
        session, holder = self.session()
        async with session:
            while True:
                await self.sleep_until(next_send)
                sent = time.time()
                await asyncio.sleep(self.latency())
                if failed:
                    self.reconnect()
                try:
                    async with session.get(f"{self.base}/poll/{client}", params={"after": cursor}) as resp:
                        body = await resp.read()
                    self.meter.settle(holder.get("socket"))
                    now = time.time()
                    self.count_request(sent, not body)
                    cursor = max(cursor, self._record_body(client, body, now))
                    failed = False
                except CONNECTION_ERRORS:
                    failed = True
                    self.tally.errors += 1
                next_send = (sent if p.schedule == "fixed" else time.time()) + interval()

    async def long_poller(self, client: int) -> None:
        """One long-polling client: re-requests after each answer, backs off after a failure."""
        p = self.params
        cursor = 0
        attempt = 0
        await self.sleep_until(self.start_time(client))
        session, holder = self.session()
        async with session:
            while True:
                sent = time.time()
                await asyncio.sleep(self.latency())
                try:
                    async with session.get(f"{self.base}/longpoll/{client}", params={"after": cursor},
                                           timeout=aiohttp.ClientTimeout(total=p.hold + 30)) as resp:
                        body = await resp.read()
                    self.meter.settle(holder.get("socket"))
                    now = time.time()
                    self.count_request(sent, not body)
                    cursor = max(cursor, self._record_body(client, body, now))
                    attempt = 0
                    if p.rerequest_delay > 0:
                        await asyncio.sleep(p.rerequest_delay)
                except CONNECTION_ERRORS:
                    self.tally.errors += 1
                    await asyncio.sleep(self.backoff.delay(attempt))
                    attempt += 1
                    self.reconnect()

    async def _handshake(self, extra_round_trips: int = 0) -> None:
        """TCP's round trip (and the mechanism's extra ones) plus the request's one-way trip."""
        await asyncio.sleep(sum(self.latency() for _ in range(2 * (1 + extra_round_trips) + 1)))

    async def sse_client(self, client: int) -> None:
        """One SSE client: reads the stream, reconnects with Last-Event-ID after a drop."""
        last_id: int | None = None
        attempt = 0
        await self.sleep_until(self.start_time(client))
        session, holder = self.session()
        async with session:
            while True:
                await self._handshake()
                headers = {"Accept": "text/event-stream"}
                if last_id is not None:
                    headers["Last-Event-ID"] = str(last_id)
                try:
                    async with session.get(f"{self.base}/sse/{client}", headers=headers) as resp:
                        self.count_open()
                        attempt = 0
                        data = event_id = None
                        while True:
                            line = await resp.content.readline()
                            if not line:
                                break
                            if line.startswith(b"id: "):
                                event_id = int(line[4:])
                            elif line.startswith(b"data: "):
                                data = line[6:-1]
                            elif line == b"\n":
                                if data is not None:  # dispatched: only now is its id the last one seen
                                    self.tally.record(client, data, time.time())
                                    last_id = event_id if event_id is not None else last_id
                                    data = event_id = None
                                self.meter.settle(holder.get("socket"))
                except CONNECTION_ERRORS:
                    self.tally.errors += 1
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
                self.reconnect()

    async def ws_client(self, client: int) -> None:
        """One WebSocket client: reads frames, answers pings, sends upstream messages, reconnects."""
        p = self.params
        last_seq = 0
        attempt = 0
        upstream = self.config.workload.upstream_rate
        await self.sleep_until(self.start_time(client))
        while True:
            await self._handshake(extra_round_trips=1)
            url = f"{self.base.replace('http', 'ws', 1)}/ws/{client}"
            if p.resume and last_seq:
                url += f"?after={last_seq}"
            sender = None
            try:
                async with ws_connect(url, ping_interval=None, compression=None, max_size=None, proxy=None,
                                      open_timeout=10, close_timeout=1) as ws:
                    self.meter.settle(ws.transport.get_extra_info("socket"))  # known from here on
                    self.count_open()
                    attempt = 0
                    if upstream > 0:
                        sender = asyncio.ensure_future(self._upstream(ws, upstream))
                    async for message in ws:
                        last_seq = max(last_seq, self.tally.record(client, message, time.time()))
                        self.meter.settle(ws.transport.get_extra_info("socket"))
            except CONNECTION_ERRORS:
                self.tally.errors += 1
            finally:
                if sender is not None:
                    sender.cancel()
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1
            self.reconnect()

    async def _upstream(self, ws, rate: float) -> None:
        message = "u" * self.log.payload_bytes
        while True:
            await asyncio.sleep(self.rng.exponential(1.0 / rate) + self.latency())
            await ws.send(message)

    def receiver_app(self) -> web.Application:
        """Webhook receivers: ``POST /hook/{client}``, ``receiver_workers`` at a time, ``receiver_cost`` each."""
        p = self.params
        workers = [asyncio.Semaphore(p.receiver_workers) for _ in range(self.config.clients.count)]
        cost = Sampler(p.receiver_cost, np.random.default_rng([self.config.experiment.seed, 19]))
        seen = weakref.WeakSet()  # the provider's connections, counted when new

        async def hook(request: web.Request) -> web.Response:
            client = int(request.match_info["client"])
            body = await request.read()
            self.tally.record(client, body, time.time())  # the last byte is here: delivered
            if request.transport is not None and request.transport not in seen:
                seen.add(request.transport)
                self.count_open()
            async with workers[client]:
                await asyncio.sleep(cost())  # another machine's work: time, not this process's CPU
            await asyncio.sleep(self.latency())
            return web.Response()

        app = web.Application()
        app.add_routes([web.post("/hook/{client}", hook)])
        return app


async def receiver_site(app: web.Application, port: int) -> web.AppRunner:
    """Serve the webhook receivers' app on 127.0.0.1:`port`."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True, backlog=4096).start()
    return runner

