"""A gossip workload on a random regular graph of real nodes, with its traces.

`gossip(...)` builds a `MemoryCluster` on a `random_regular_graph`, posts symmetric messages
from random publishers at random times, and returns a `GossipRun`: who published what when,
every filter delivery and every first arrival in a pool, with virtual times (under
`hush.vclock`), in the order they happened. Everything is drawn from one seed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hush.crypto.symmetric import SymmetricKey
from hush.net.memory import MemoryNetwork
from hush.node import PostRequest, Subscription
from hush.node.hooks import NodeObserver
from hush.node.relay import RelayPolicy
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.testing.cluster import MemoryCluster
from hush.types import NodeID, Topic

__all__ = ["GossipRun", "gossip", "random_regular_graph"]


def random_regular_graph(n: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    """The edges (i < j) of a random connected `degree`-regular simple graph on n nodes
    (Steger and Wormald's pairing: join two random free stubs of distinct, not yet adjacent
    nodes; start over when stuck); from `rng`, so reproducible."""
    if n * degree % 2 or not 0 < degree < n:
        raise ValueError(f"no {degree}-regular graph on {n} nodes")
    for _ in range(100):
        edges = _pairing(n, degree, rng)
        if edges is not None and _connected(n, edges):
            return sorted(edges)
    raise ValueError(f"no connected {degree}-regular graph on {n} nodes found")  # pragma: no cover


def _pairing(n: int, degree: int, rng: random.Random) -> list[tuple[int, int]] | None:
    stubs = [node for node in range(n) for _ in range(degree)]
    edges: set[tuple[int, int]] = set()
    while stubs:
        for _ in range(100 * len(stubs)):
            i, j = rng.randrange(len(stubs)), rng.randrange(len(stubs))
            a, b = sorted((stubs[i], stubs[j]))
            if a != b and (a, b) not in edges:
                break
        else:
            return None  # stuck: only stubs that can't be joined are left
        edges.add((a, b))
        for k in sorted((i, j), reverse=True):
            stubs[k] = stubs[-1]
            stubs.pop()
    return list(edges)


def _connected(n: int, edges: list[tuple[int, int]]) -> bool:
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    seen, todo = {0}, [0]
    while todo:
        for other in neighbours[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return len(seen) == n


class _Arrivals(NodeObserver):
    """Records each envelope's first arrival in one node's pool: (time, node, hash, local)."""

    def __init__(self, index: int, trace: list[tuple[float, int, bytes, bool]]) -> None:
        self._index = index
        self._trace = trace

    def envelope_accepted(
        self, entry: Any, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        self._trace.append((loop.time(), self._index, bytes(envelope.hash), local))


@dataclass(frozen=True, slots=True)
class GossipRun:
    """What `gossip` saw: every trace in the order it happened, with virtual times."""

    edges: list[tuple[int, int]]
    published: list[tuple[float, int, int]]
    """(time, publisher, message index)."""
    deliveries: list[tuple[float, int, int]]
    """(time, node, message index), one per message opened by a node's filter."""
    arrivals: list[tuple[float, int, bytes, bool]]
    """(time, node, envelope hash, posted here), one per envelope entering a node's pool."""
    expected: dict[int, frozenset[int]]
    """For each message, the nodes with a filter that matches it."""
    virtual_seconds: float
    bytes_carried: int


async def gossip(
    *,
    nodes: int = 50,
    degree: int = 6,
    messages: int = 30,
    topics: int = 5,
    seed: int = 0,
    network: MemoryNetwork | None = None,
    relay_policy: Callable[[], RelayPolicy] | None = None,
    publish_over: float = 30.0,
    run_for: float = 300.0,
    ttl: int = 600,
) -> GossipRun:
    """Real nodes on a random `degree`-regular graph; `messages` symmetric messages posted
    (`Node.post`, sealed in-process at PoW 0.01) by random publishers at random times in the first `publish_over` seconds, each on one of `topics`
    topics; every node but each tenth has a filter on one topic (every seventh on two). Runs
    for `run_for` seconds after the connections are up (virtual ones under `hush.vclock`)."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    network = network or MemoryNetwork(seed=seed)
    edges = random_regular_graph(nodes, degree, rng)
    keys = [SymmetricKey(rng.randbytes(32)) for _ in range(topics)]
    names = [Topic(rng.randbytes(4)) for _ in range(topics)]
    interests: list[tuple[int, ...]] = [
        () if i % 10 == 9 else ((i % topics, (i + 1) % topics) if i % 7 == 0 else (i % topics,))
        for i in range(nodes)
    ]
    arrivals: list[tuple[float, int, bytes, bool]] = []
    deliveries: list[tuple[float, int, int]] = []
    published: list[tuple[float, int, int]] = []
    index_of: dict[bytes, int] = {}
    async with MemoryCluster(
        network,
        seed=seed,
        relay_policy=relay_policy,
        observers=lambda i: (_Arrivals(i, arrivals),),
        max_peers=max(25, degree * 2),
    ) as cluster:
        members = await cluster.add_nodes(nodes)
        for a, b in edges:
            members[a].add_peer(members[b].enode)
        for a, b in edges:
            await cluster.connected(members[a], members[b])

        async def consume(i: int, subscription: Subscription) -> None:
            async for message in subscription:
                deliveries.append((loop.time(), i, index_of[bytes(message.envelope_hash)]))

        readers = [
            asyncio.create_task(
                consume(
                    i, members[i].subscribe(Filter(sym_key=keys[t], topics=frozenset({names[t]})))
                )
            )
            for i in range(nodes)
            for t in interests[i]
        ]
        start = loop.time()
        schedule = sorted(
            (rng.uniform(0, publish_over), rng.randrange(nodes), rng.randrange(topics))
            for _ in range(messages)
        )
        expected: dict[int, frozenset[int]] = {}
        for m, (at, publisher, topic) in enumerate(schedule):
            await asyncio.sleep(start + at - loop.time())
            node = members[publisher]
            payload = m.to_bytes(4, "big") + rng.randbytes(rng.randrange(10, 400))
            request = PostRequest(
                payload=payload,
                topic=names[topic],
                sym_key_id=node.add_sym_key(keys[topic].secret),
                ttl=ttl,
                pow_target=0.01,
                pow_time=1.0,
            )
            published.append((loop.time(), publisher, m))
            expected[m] = frozenset(i for i in range(nodes) if topic in interests[i])
            # The local delivery is read after this task yields: the hash is known by then.
            index_of[bytes(await node.post(request))] = m
        await asyncio.sleep(start + run_for - loop.time())
        virtual = loop.time() - start
        for reader in readers:
            reader.cancel()
        return GossipRun(
            edges, published, deliveries, arrivals, expected, virtual, network.bytes_carried
        )
