"""Serving `/metrics`: the registry of every hush collector, the event-loop-lag collector, and
`MetricsServer` (GET /metrics over HTTP on the node's loop, with the JSON-RPC server's connection
cap and header deadline). Off unless asked for; binds where told (`hush node --metrics`, loopback
when given a bare port)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from hush.enode import host_port
from hush.metrics.counters import Histogram
from hush.metrics.prometheus import HushCollector, gauge, histogram
from hush.metrics.stats import COMPAT, NodeStats
from hush.rpc.connections import ConnectionGuard, GuardedSite

if TYPE_CHECKING:
    from hush.node import Node

__all__ = ["LoopLag", "MetricsServer", "metrics_registry"]

_MAX_CONNECTIONS = 16  # scrapers are few; more connections are refused with 503
_HEADER_TIMEOUT = 10.0
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class LoopLag(Collector):
    """How late the event loop runs a callback: sleeps `interval` and measures the overshoot."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.last = 0.0
        self.histogram = Histogram(_LAG_BUCKETS)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self.last = max(0.0, loop.time() - before - self.interval)
            self.histogram.observe(self.last)

    def collect(self) -> Iterable[Metric]:
        yield gauge(
            "hush_event_loop_lag_seconds", "The event loop's latest measured lag.", self.last
        )
        yield histogram(
            "hush_event_loop_lag_distribution_seconds", "Event loop lag samples.", self.histogram
        )


def metrics_registry(
    node: Node,
    stats: NodeStats,
    *,
    per_peer: bool = False,
    compat: Collection[str] = (),
    loop_lag: LoopLag | None = None,
) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one) with every hush collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HushCollector(node, stats, per_peer=per_peer, compat=compat))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    if loop_lag is not None:
        registry.register(loop_lag)
    return registry


class MetricsServer:
    """GET /metrics over HTTP, on the node's event loop (aiohttp), with the JSON-RPC server's
    connection cap and header deadline (`hush.rpc.connections`)."""

    def __init__(
        self,
        node: Node,
        stats: NodeStats,
        *,
        per_peer: bool = False,
        compat: Collection[str] = (),
    ):
        unknown = sorted(set(compat) - COMPAT)
        if unknown:
            raise ValueError(f"unknown metrics compat: {', '.join(unknown)}")
        self.loop_lag = LoopLag()
        self.registry = metrics_registry(
            node, stats, per_peer=per_peer, compat=compat, loop_lag=self.loop_lag
        )
        self._runner: web.AppRunner | None = None
        self._guard: ConnectionGuard | None = None
        self.address: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        assert self.address is not None
        return f"http://{host_port(*self.address)}/metrics"

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._guard is not None:
            self._guard.request_started(request.protocol)
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=4096)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        assert runner.server is not None
        self._guard = ConnectionGuard(runner.server, _MAX_CONNECTIONS, _HEADER_TIMEOUT)
        site = GuardedSite(runner, self._guard, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = site.server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        self.loop_lag.start()

    async def stop(self) -> None:
        await self.loop_lag.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
