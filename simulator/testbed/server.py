"""The testbed server: one aiohttp process implementing the five mechanisms.

Run as ``python -m simulator.testbed.server CONFIG.toml --port P [--t0 EPOCH]
[--receivers URL] [--listen-at EPOCH]``; it prints ``ready`` once listening.  Endpoints (the contract of
docs/testbed.md):

- ``GET /poll/{client}?after=N``: short poll, answers at once with every event of the
  client's feed after sequence number N (payloads back to back; empty body: nothing new);
- ``GET /longpoll/{client}?after=N``: the same, held up to ``mechanism.hold``;
- ``GET /sse/{client}`` (``Last-Event-ID``): ``text/event-stream``, ``id:``/``data:``
  frames, ``:`` heartbeats, replay of at most ``replay_buffer`` missed events;
- ``GET /ws/{client}[?after=N]``: WebSocket, one text frame per event, server pings
  every ``heartbeat``; ``after`` resumes (``resume = true``);
- webhook: the server POSTs each delivery to ``{receivers}/hook/{client}``, waiting up
  to ``timeout``, retrying with ``mechanism.backoff`` up to ``max_attempts``;
- ``POST /_testbed/start?t0=EPOCH`` starts the clock, ``GET /_testbed/stats`` the counters.

Costs are natural: the process spends what aiohttp and this code spend (nothing is
emulated by busy loops), which is what ``sim calibrate`` fits.  The configured
``network.latency`` is added by the sender of each message as a delay: this server
delays every response and frame by one one-way latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
import weakref
from collections import defaultdict

import aiohttp
import numpy as np
from aiohttp import web

from simulator.config import load_config
from simulator.config.distributions import Sampler
from simulator.engine.backoff import Backoff
from simulator.engine.mechanism import mechanism_of
from simulator.testbed.wire import SSE_HEARTBEAT, ByteMeter, EventLog, sse_frame

#: Per-request CPU samples kept for the shape of request_cost (the fit gives the mean).
MAX_CPU_SAMPLES = 20_000


class Backend:
    """The event log, subscriptions, held polls, counters and the webhook sender."""

    def __init__(self, config, t0: float | None, receivers: str | None, emulate: bool = False):
        self.config = config
        self.log = EventLog.from_config(config)
        self.params = config.mechanism.params
        self.kind = config.mechanism.kind
        self.t0 = t0
        self.started = asyncio.Event()
        self.window = (config.experiment.warmup, config.experiment.warmup + config.experiment.duration)
        rng = np.random.default_rng([config.experiment.seed, 16])
        self._latency = Sampler(config.network.latency, rng)
        self.backoff = Backoff(config.mechanism.backoff, rng)
        # --emulate-costs: spend the configured CPU per request and message on top of the natural cost
        self.emulate = emulate
        self._request_cost = Sampler(config.server.request_cost, rng)
        self._message_cost = Sampler(mechanism_of(config).message_cost(config), rng)  # a WebSocket's frame cost
        held = config.server.held_response_cost
        self._held_cost = Sampler(held if held is not None else config.server.message_cost, rng)
        self.receivers = receivers
        self.subscribers: dict[int, set[Stream]] = defaultdict(set)
        self.held: dict[int, set[asyncio.Future]] = defaultdict(set)
        self.counts: dict[str, float] = defaultdict(float)
        self.cpu_samples: list[float] = []
        self.feed_clients: dict[int, np.ndarray] = {}
        self.tasks: set[asyncio.Task] = set()
        self.session: aiohttp.ClientSession | None = None
        self.meter = ByteMeter()  # the webhook provider's outbound sockets
        self._transports: weakref.WeakSet = weakref.WeakSet()
        if t0 is not None:
            self.started.set()

    def now(self) -> float:
        """Seconds since t0."""
        return time.time() - self.t0

    def latency(self) -> float:
        """One draw of `network.latency` (never negative): the delay before each response or frame."""
        return max(0.0, self._latency())

    def in_window(self, t: float) -> bool:
        """True when `t` (seconds since t0) is in `[warmup, warmup + duration)`."""
        return self.window[0] <= t < self.window[1]

    def count(self, key: str, t: float, n: float = 1) -> None:
        """Add `n` to the counter `key` if `t` is in the window."""
        if self.in_window(t):
            self.counts[key] += n

    def spend(self, message: bool = False, held: bool = False) -> None:
        """Busy-loop the configured cost: the worker is occupied that long, as in the model.

        Wall time, not CPU time: on a machine shared with other processes a CPU-time loop
        would last longer than configured, and the knee would move with the neighbours' load.
        """
        if self.emulate:
            cost = self._held_cost() if held else self._message_cost() if message else self._request_cost()
            end = time.perf_counter() + cost
            while time.perf_counter() < end:
                pass

    def request(self, t: float, cpu_start: float) -> None:
        """Count a request handled at `t`, with its CPU time (sampled)."""
        self.spend()
        self.count("requests", t)
        if self.in_window(t) and len(self.cpu_samples) < MAX_CPU_SAMPLES:
            self.cpu_samples.append(time.thread_time() - cpu_start)

    def arrive(self, request: web.Request, t: float, cpu_start: float) -> None:
        """A request reached the server: count it, and its connection if new."""
        self.request(t, cpu_start)
        transport = request.transport
        if transport is not None and transport not in self._transports:
            self._transports.add(transport)
            self.count("connections.opened", t)

    def body(self, feed: int, after: int, upto: int) -> bytes:
        """The payloads of `feed` after sequence `after`, up to `upto`, concatenated."""
        return b"".join(self.log.payload(feed, s, self.t0) for s in range(after + 1, upto + 1))

    def spawn(self, coro) -> None:
        """Run a coroutine as a task that is kept until it finishes."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def publisher(self) -> None:
        """Publish every event at its time: wake held polls, queue frames, send webhooks."""
        await self.started.wait()
        times = np.concatenate(self.log.times) if self.log.times else np.empty(0)
        feeds = np.repeat(np.arange(len(self.log.times)), [len(t) for t in self.log.times])
        seqs = np.concatenate([np.arange(1, len(t) + 1) for t in self.log.times]) if len(times) else times
        order = np.argsort(times, kind="stable")
        start = int(np.searchsorted(times[order], self.now(), side="right"))  # older ones: in the log already
        if self.kind == "webhook":
            for feed in range(len(self.log.times)):
                self.feed_clients[feed] = np.flatnonzero(self.log.client_feed == feed)
        for i in order[start:].tolist():
            wait = times[i] - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            feed, seq = int(feeds[i]), int(seqs[i])
            for fut in self.held.pop(feed, ()):
                if not fut.done():
                    fut.set_result(None)
            for stream in self.subscribers.get(feed, ()):
                stream.push(seq)
            if self.kind == "webhook":
                for client in self.feed_clients[feed].tolist():
                    self.spawn(self.deliver(client, feed, seq, float(times[i])))

    async def deliver(self, client: int, feed: int, seq: int, published: float) -> None:
        """POST one delivery; retry after a refusal or timeout, up to max_attempts."""
        p = self.params
        data = self.log.payload(feed, seq, self.t0)
        url = f"{self.receivers}/hook/{client}"
        for attempt in range(p.max_attempts):
            cpu_start = time.thread_time()
            t = self.now()
            self.count("webhook.attempts", t)
            if attempt:
                self.count("webhook.retries", t)
            await asyncio.sleep(self.latency())
            try:
                async with self.session.post(url, data=data, timeout=aiohttp.ClientTimeout(total=p.timeout),
                                             headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    if t >= 0:
                        self.request(t, cpu_start)
                    if 200 <= resp.status < 300:
                        return
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            if attempt + 1 < p.max_attempts:
                await asyncio.sleep(self.backoff.delay(attempt))
        self.count("webhook.gave_up", published)

    async def webhook_bytes(self) -> None:
        """The provider's socket counters over the window (read every second: closing sockets count)."""
        await self.started.wait()
        w0, w1 = self.window
        await asyncio.sleep(max(0.0, w0 - self.now()))
        self.meter.open_window()
        while self.now() < w1:
            await asyncio.sleep(min(1.0, max(0.0, w1 - self.now())))
            self.meter.settle_all()
        self.meter.close_window()
        # the provider is the HTTP client: what it sends is bytes_down (docs/mechanisms.md, webhook)
        self.counts["network.bytes_down"] = self.meter.up
        self.counts["network.bytes_up"] = self.meter.down


class Stream:
    """One open SSE or WebSocket connection: frames (0 = heartbeat) queued with their due time."""

    def __init__(self, backend: Backend, feed: int, ping=None):
        self.backend = backend
        self.feed = feed
        self.queue: asyncio.Queue = asyncio.Queue()
        self.ping = ping

    def push(self, seq: int) -> None:
        """Queue event `seq` for this stream, due after one latency draw."""
        self.queue.put_nowait((time.monotonic() + self.backend.latency(), seq))

    async def heartbeats(self, every: float) -> None:
        """Queue a heartbeat every `every` seconds, each due after one latency draw."""
        while True:
            await asyncio.sleep(every)
            self.queue.put_nowait((time.monotonic() + self.backend.latency(), 0))


def build_app(backend: Backend) -> web.Application:
    """The aiohttp application: every mechanism's endpoints and `/_testbed/*`."""
    p = backend.params
    log = backend.log

    async def poll(request: web.Request) -> web.Response:
        cpu_start = time.thread_time()
        t = backend.now()
        client = int(request.match_info["client"])
        after = int(request.query.get("after", 0))
        feed = int(log.client_feed[client])
        body = backend.body(feed, after, log.published(feed, t))
        backend.arrive(request, t, cpu_start)
        if not body:
            backend.count("requests.empty", t)
        await asyncio.sleep(backend.latency())
        return web.Response(body=body, content_type="application/json")

    async def longpoll(request: web.Request) -> web.Response:
        cpu_start = time.thread_time()
        t = backend.now()
        client = int(request.match_info["client"])
        after = int(request.query.get("after", 0))
        feed = int(log.client_feed[client])
        upto = log.published(feed, t)
        backend.arrive(request, t, cpu_start)
        if upto <= after:
            backend.count("requests.held", t)  # what server.held_response_cost is fitted on
            fut = asyncio.get_running_loop().create_future()
            backend.held[feed].add(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, p.hold)
            backend.held.get(feed, set()).discard(fut)
            backend.spend(held=True)
            upto = log.published(feed, backend.now())
        body = backend.body(feed, after, upto)
        if not body:
            backend.count("requests.empty", t)
        await asyncio.sleep(backend.latency())
        return web.Response(body=body, content_type="application/json")

    async def sse(request: web.Request) -> web.StreamResponse:
        cpu_start = time.thread_time()
        t = backend.now()
        client = int(request.match_info["client"])
        feed = int(log.client_feed[client])
        backend.arrive(request, t, cpu_start)
        await asyncio.sleep(backend.latency())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)

        async def write_frame(seq: int, data: bytes) -> None:
            await resp.write(sse_frame(seq, data))

        return await _serve_stream(backend, Stream(backend, feed), request, resp, write_frame)

    async def ws(request: web.Request) -> web.WebSocketResponse:
        cpu_start = time.thread_time()
        t = backend.now()
        client = int(request.match_info["client"])
        feed = int(log.client_feed[client])
        backend.arrive(request, t, cpu_start)
        sock = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=0)
        await asyncio.sleep(backend.latency())
        await sock.prepare(request)
        stream = Stream(backend, feed, ping=sock.ping)

        async def write_frame(seq: int, data: bytes) -> None:
            await sock.send_str(data.decode())

        return await _serve_stream(backend, stream, request, sock, write_frame)

    async def start(request: web.Request) -> web.Response:
        backend.t0 = float(request.query["t0"])
        backend.started.set()
        return web.Response(text="started")

    async def stats(request: web.Request) -> web.Response:
        runner = request.app["runner"]
        open_now = max(0, len(runner.server.connections) - 1)  # not this stats request's own
        return web.json_response({"counts": backend.counts, "open_connections": open_now,
                                  "cpu_samples": backend.cpu_samples})

    app = web.Application()
    app.add_routes([web.get("/poll/{client}", poll), web.get("/longpoll/{client}", longpoll),
                    web.get("/sse/{client}", sse), web.get("/ws/{client}", ws),
                    web.post("/_testbed/start", start), web.get("/_testbed/stats", stats)])
    return app


async def _serve_stream(backend: Backend, stream: Stream, request: web.Request, resp, write_frame):
    """Subscribe, replay what a resuming client missed, write frames and heartbeats until it goes."""
    p = backend.params
    log = backend.log
    feed = stream.feed
    t = backend.now()
    upto = log.published(feed, t)
    if backend.kind == "sse":
        last = request.headers.get("Last-Event-ID")
        first = None if last is None or p.replay_buffer <= 0 else max(int(last) + 1, upto - p.replay_buffer + 1)
    else:
        after = request.query.get("after")
        first = None if after is None or not p.resume else int(after) + 1

    async def frames() -> None:
        while True:
            due, seq = await stream.queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = backend.now()
            if seq == 0:
                if stream.ping is not None:
                    await stream.ping()
                else:
                    await resp.write(SSE_HEARTBEAT)
                backend.count("messages.heartbeats", now)
            else:
                backend.spend(message=True)
                await write_frame(seq, log.payload(feed, seq, backend.t0))
                backend.count("messages.pushed", now)

    backend.subscribers[feed].add(stream)
    if first is not None:
        for seq in range(first, upto + 1):
            stream.queue.put_nowait((0.0, seq))  # written right after the response headers
    tasks = [asyncio.ensure_future(frames())]
    if p.heartbeat > 0:
        tasks.append(asyncio.ensure_future(stream.heartbeats(p.heartbeat)))
    try:
        if isinstance(resp, web.WebSocketResponse):
            async for msg in resp:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    backend.count("messages.upstream", backend.now())
        else:
            await tasks[0]
    except (ConnectionResetError, asyncio.CancelledError, aiohttp.ClientConnectionResetError):
        pass
    finally:
        backend.subscribers[feed].discard(stream)
        for task in tasks:
            task.cancel()
    return resp


async def serve(config_path: str, port: int, t0: float | None, receivers: str | None,
                listen_at: float | None = None, emulate: bool = False) -> None:
    """Serve a config's testbed on 127.0.0.1:`port` until stopped."""
    config = load_config(config_path)
    if listen_at is not None:  # a replacement after a crash: imported and built already, it binds on time
        await asyncio.sleep(max(0.0, listen_at - time.time()))
    backend = Backend(config, t0, receivers, emulate)
    app = build_app(backend)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=config.http.keep_alive_timeout)
    app["runner"] = runner
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True, backlog=4096)
    await site.start()
    backend.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        limit=0, force_close=not config.http.keep_alive, keepalive_timeout=config.http.keep_alive_timeout,
        socket_factory=backend.meter.socket_factory))
    publisher = asyncio.ensure_future(backend.publisher())
    if backend.kind == "webhook":
        backend.spawn(backend.webhook_bytes())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        publisher.cancel()
        await backend.session.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """`python -m simulator.testbed.server CONFIG --port N`: the built-in testbed server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--t0", type=float, default=None)
    parser.add_argument("--receivers", default=None)
    parser.add_argument("--listen-at", type=float, default=None, help="epoch at which to start listening")
    parser.add_argument("--emulate-costs", action="store_true",
                        help="busy-loop server.request_cost, message_cost (websocket_message_cost) and held_response_cost")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.config, args.port, args.t0, args.receivers, args.listen_at, args.emulate_costs))


if __name__ == "__main__":
    sys.exit(main())
