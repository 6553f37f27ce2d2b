"""Archive servers and mail-server catch-up in a simulation (simulation.md §4.2 "Churn: on/off
with mailserver catch-up"; archive.md).

`Archives` runs the scenario's `[archive] servers` on the best-connected full nodes: each is the
real `hush.archive.server.ArchiveServer` (ingest at first pool insertion, request admission,
the 126 dialects, 127/125 replies) on a real SQLite store in a temporary directory, plugged into
its node as observer and mail handler, on the node's (virtual) clock; its reader and writer
threads hold the virtual clock while they work (`hush.vclock`), so a run still replays. With
`churn.catch_up`, a churning node that comes back online fetches the window it missed, from
`overlap` seconds before it went offline to now on its own clock, for its filters' topics, with
the real `hush.archive.client.HistoryClient`: its own devp2p session to the server, dialled
over the simulated network (the node's `MemoryTransport`: the link's latency and bandwidth),
and the envelopes handed to `Node.deliver_archived` (filters, not the pool), so the run's
subscriptions see them like any delivery. Each fetch is recorded (`CatchUp`); `HeldStore`
records what each server committed, which is what a catch-up can at best return.

A node that goes offline again while its fetch runs loses that fetch with the rest of its
network (`gone`, told by the runner's churn): the fetch is cancelled at that instant (its
session to the server is closed; nothing reaches the node's filters after it), and its record
says `interrupted_at`, with the envelopes and pages it had delivered by then. The missed
window is not forgotten. A client keeps a "fetched up to" mark and moves it only when a fetch
completes (our choice: moving it on a request sent would lose what an interrupted one never
returned), so the next fetch, when the node is back, asks from the oldest instant not yet
fetched — the offline instant of its first fetch that did not complete (`CatchUp.since`) — to
now. It asks for that whole window again, not from the interrupted fetch's cursor (a
cancelled request never returned one): what the interrupted fetch had delivered comes back as
duplicates, dropped by the node's shared `RecentHashes`. A fetch that ended with an error (the
server unreachable, a refused or expired request) is retried the same way, at the node's next
return.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hush.archive.client import HistoryClient, HistoryQuery, HistoryResult, RecentHashes
from hush.archive.config import ArchiveConfig
from hush.archive.page import Page, PageQuery
from hush.archive.server import ArchiveServer
from hush.archive.sqlite_store import SqliteStore
from hush.archive.store import ArchivedEnvelope, EnvelopeStore
from hush.errors import HushError
from hush.node import Node
from hush.node.hooks import NodeObserver
from hush.shh.envelope import Envelope
from hush.sim.scenario import Scenario
from hush.sim.topologies import Topology
from hush.types import EnvelopeHash, Topic

__all__ = ["Archives", "CatchUp", "HeldStore", "pick_servers"]

SERVER_EXTRA_PEERS = 64
"""Peer slots an archive server's node has beyond its graph links, for history sessions."""


@dataclass(slots=True)
class CatchUp:
    """One churning node's history fetch after it came back online (loop times until the run
    ends, then seconds from the run's start)."""

    node: int
    offline_at: float
    back_at: float
    since: float
    """Where the fetched window starts (before `overlap`): `offline_at`, or the earlier offline
    instant of the node's first fetch that did not complete (interrupted or failed), retried
    with this one."""
    done_at: float | None = None
    interrupted_at: float | None = None
    """When the node went offline again with this fetch in flight (cancelled then)."""
    last_delivery_at: float | None = None
    """When the fetch last handed an envelope to the node's filters."""
    envelopes: int = 0
    """New envelopes the client delivered to the node's filters."""
    duplicates: int = 0
    pages: int = 0
    error: str | None = None


class HeldStore:
    """An `EnvelopeStore` that remembers the hash of every row committed through it."""

    def __init__(self, store: EnvelopeStore) -> None:
        self.inner = store
        self.backend = getattr(store, "backend", "other")
        self.held: set[bytes] = set()

    def put(self, rows: Sequence[ArchivedEnvelope]) -> int:
        new = self.inner.put(rows)
        self.held.update(row.hash for row in rows)
        return new

    def page(self, query: PageQuery, max_bytes: int = 0) -> Page:
        return self.inner.page(query, max_bytes)

    def topics_between(self, lower: int, upper: int, limit: int) -> list[Topic]:
        return self.inner.topics_between(lower, upper, limit)

    def prune(self, before: int, batch: int) -> int:
        return self.inner.prune(before, batch)

    def shrink(self, max_bytes: int, batch: int) -> int:
        return self.inner.shrink(max_bytes, batch)

    def count(self) -> int:
        return self.inner.count()

    def total_bytes(self) -> int:
        return self.inner.total_bytes()

    def close(self) -> None:
        self.inner.close()


def pick_servers(topology: Topology, count: int) -> tuple[int, ...]:
    """The `count` full nodes with the most links (ties: the lower index)."""
    degrees = topology.neighbours()
    full = [i for i in range(topology.nodes) if i not in topology.light]
    return tuple(sorted(sorted(full, key=lambda i: (-len(degrees[i]), i))[:count]))


class Archives:
    """A run's archive servers and its nodes' catch-ups: `async with Archives(...)` around the
    cluster (servers start before their nodes and stop after them)."""

    def __init__(self, scenario: Scenario, topology: Topology, topics: list[tuple[Topic, ...]]):
        self.scenario = scenario
        self.indices = pick_servers(topology, scenario.archive.servers)
        self.topics = topics
        """Per node, the topics its filters listen to (what it asks history for)."""
        self.servers: dict[int, ArchiveServer] = {}
        self.stores: dict[int, HeldStore] = {}
        self.records: list[CatchUp] = []
        self._nodes: dict[int, Node] = {}
        self._recent: dict[int, RecentHashes] = {}
        """Per node, what its fetches delivered (shared by them all, as `shhext` keeps one)."""
        self._unfetched: dict[int, float] = {}
        """Per node, the oldest offline instant no completed fetch has covered yet."""
        self._running: dict[int, tuple[CatchUp, asyncio.Task[None]]] = {}
        """Per node, its fetch in flight."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    async def __aenter__(self) -> Archives:
        if self.indices:
            self._dir = tempfile.TemporaryDirectory(prefix="hush-sim-archive-")
        for i in self.indices:
            assert self._dir is not None
            store = self.stores[i] = HeldStore(SqliteStore(Path(self._dir.name) / f"{i}.sqlite"))
            server = self.servers[i] = ArchiveServer(store, ArchiveConfig(retention_days=0))
            await server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._cancel()
        for server in self.servers.values():
            await server.stop()
        if self._dir is not None:
            self._dir.cleanup()

    def observers(self, index: int) -> tuple[NodeObserver, ...]:
        server = self.servers.get(index)
        return (server.observer,) if server is not None else ()

    def node_config(self, index: int, max_peers: int) -> dict[str, int]:
        """`NodeConfig` overrides for node `index` (a server takes history sessions too)."""
        return {"max_peers": max_peers + SERVER_EXTRA_PEERS} if index in self.servers else {}

    def attach(self, index: int, node: Node) -> None:
        """Node `index` is up: a server's node gets it as mail handler, on its clock."""
        self._nodes[index] = node
        server = self.servers.get(index)
        if server is not None:
            server.clock = node.clock
            node.mail_handler = server.handle

    def back(self, index: int, offline_at: float) -> None:
        """Node `index`, offline since loop time `offline_at`, is back: fetch what it missed
        (from the first offline instant that no completed fetch covered)."""
        if not self.scenario.churn.catch_up or not self.topics[index] or not self.servers:
            return
        loop = asyncio.get_running_loop()
        since = self._unfetched.setdefault(index, offline_at)
        record = CatchUp(index, offline_at, loop.time(), since)
        self.records.append(record)
        task = asyncio.create_task(self._fetch(record))
        self._running[index] = (record, task)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def gone(self, index: int) -> None:
        """Node `index` goes offline: its fetch in flight, if any, stops now (cancelled; the
        record says when) and is retried from the same instant when the node is back."""
        running = self._running.pop(index, None)
        if running is None:
            return
        record, task = running
        if not task.done():
            task.cancel()
            record.interrupted_at = asyncio.get_running_loop().time()

    async def _fetch(self, record: CatchUp) -> None:
        loop = asyncio.get_running_loop()
        node = self._nodes[record.node]
        spec = self.scenario.archive
        server = self._nodes[self.indices[len(self.records) % len(self.indices)]]
        seed = f"catch-up {self.scenario.seed} {record.node} {len(self.records)}"

        def deliver(envelope: Envelope, envelope_hash: EnvelopeHash) -> None:
            record.last_delivery_at = loop.time()
            node.deliver_archived(envelope, envelope_hash)

        def progress(result: HistoryResult) -> None:
            record.envelopes, record.duplicates = result.envelopes, result.duplicates
            record.pages = result.pages

        client = HistoryClient(
            deliver,
            random_bytes=random.Random(seed).randbytes,
            clock=node.clock,
            recent=self._recent.setdefault(record.node, RecentHashes()),
            transport=node.transport,
        )
        now = node.clock.time()
        query = HistoryQuery(
            lower=int(now - (record.back_at - record.since)),
            upper=int(now),
            topics=self.topics[record.node],
            mode=spec.mode,
            timeout=spec.timeout,
            overlap=spec.overlap,
        )
        try:
            result = await client.fetch(server.enode, query, progress)
        except HushError as exc:  # the server is unreachable (UsageError)
            record.error = str(exc)
        else:
            record.envelopes, record.duplicates = result.envelopes, result.duplicates
            record.pages, record.error = result.pages, result.error
        record.done_at = loop.time()
        if record.error is None:
            self._unfetched.pop(record.node, None)  # the window is fetched: the next starts anew
        self._running.pop(record.node, None)

    async def _cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def finish(self, start: float) -> None:
        """The run is over: stop fetches still in flight, commit what the servers buffered,
        and make the records' times relative to `start`."""
        await self._cancel()
        for server in self.servers.values():
            await server.flush()
        for r in self.records:
            r.offline_at, r.back_at, r.since = (
                r.offline_at - start,
                r.back_at - start,
                r.since - start,
            )
            for name in ("done_at", "interrupted_at", "last_delivery_at"):
                value = getattr(r, name)
                if value is not None:
                    setattr(r, name, value - start)

    def held(self) -> frozenset[bytes]:
        """Hashes of every envelope some server committed."""
        return frozenset().union(*(store.held for store in self.stores.values()))
