"""Whole networks of real nodes in one process, for tests and simulations.

`MemoryCluster` starts real `hush.node.Node`s on a `hush.net.memory.MemoryNetwork`, each with
its own seeded randomness (node key, padding, IVs, handshake nonces: `seeded_random`), a
`LoopClock` (so under `hush.vclock`'s loop every reading, sleep and deadline is virtual) and a
`Watch` observer that tells when peers are up, with an explicit signal instead of polling.
Posting: nodes seal with `hush.sealer.InlineSealer` (in the loop's thread, on the node's
clock), so `Node.post` works under virtual time; `sealed_message` builds an envelope the same
way for `Node.inject`. Nothing then runs outside the loop, so virtual time never jumps past a
thread at work, and a run replays exactly.

Seeded randomness is for simulations and tests only: it is not secret.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from hush.clock import Clock, LoopClock
from hush.crypto import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.errors import PowError
from hush.net.memory import MemoryNetwork
from hush.node import Node, NodeConfig, PostRequest, Subscription
from hush.node.hooks import NodeObserver
from hush.node.relay import RelayPolicy
from hush.sealer import InlineSealer
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode
from hush.shh.pow import NonceSearch, target_bits
from hush.types import NodeID, RandomBytes, Topic

__all__ = [
    "EPOCH",
    "GossipRun",
    "MemoryCluster",
    "Watch",
    "gossip",
    "node_id_of",
    "random_regular_graph",
    "seal",
    "sealed_message",
    "seeded_random",
]

EPOCH = 1_700_000_000.0
"""The wall time a simulation's virtual zero stands for (a fixed start: runs replay)."""

_MAX_SEAL_BITS = 24  # low PoW only: sealing runs in the loop's thread


def seeded_random(seed: int) -> RandomBytes:
    """Reproducible `random_bytes` (NOT secret: for tests and simulations)."""
    return random.Random(seed).randbytes


def seal(envelope: Envelope, pow_target: float) -> Envelope:
    """The envelope with the first nonce (from 0) that meets geth's target for `pow_target`;
    deterministic. Low targets only (PowError past 2^24 expected hashes)."""
    bits = target_bits(pow_target, len(envelope.data), envelope.ttl)
    if bits > _MAX_SEAL_BITS:
        raise PowError(f"PoW target {pow_target} needs {bits} bits: too high to seal inline")
    search = NonceSearch(envelope.short_rlp())
    found = search.find(0, 64 << bits, bits)
    if found is None:  # pragma: no cover - 64 x the expected tries
        raise PowError(f"no nonce for {bits} bits")
    return envelope.with_nonce(found.nonce)


def sealed_message(
    payload: bytes,
    topic: Topic,
    key: SymmetricKey,
    now: float,
    random_bytes: RandomBytes,
    *,
    ttl: int = 60,
    pow_target: float = 0.01,
) -> Envelope:
    """A symmetric-key message, encrypted and sealed as `shh_post` would, at time `now`."""
    envelope = wrap(payload, topic, int(now), random_bytes, ttl=ttl, sym_key=key)
    return seal(envelope, pow_target)


class Watch(NodeObserver):
    """Which peers of one node have sent their status (the shh session is up), and a wake-up
    for every packet, peer change and accepted envelope, so a test waits for a condition
    instead of sleeping."""

    def __init__(self) -> None:
        self.active: set[NodeID] = set()
        """Connected peers whose status packet arrived."""
        self.accepted = 0
        """Envelopes this node's pool took (first arrivals)."""
        self._changed = asyncio.Event()

    def peer_disconnected(self, node_id: NodeID, why: str) -> None:
        self.active.discard(node_id)
        self._changed.set()

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        # Called before the node handles the packet, which it does before its next await: a
        # waiter woken here sees the packet's effect (a peer's PoW or bloom, say).
        if code == PacketCode.STATUS:
            self.active.add(node_id)
        self._changed.set()

    def envelope_accepted(self, *args: Any) -> None:
        self.accepted += 1
        self._changed.set()

    async def wait(self, condition: Callable[[], bool], timeout: float = 600.0) -> None:
        """Return once `condition()` holds (checked after every change this node sees); raises
        TimeoutError after `timeout` seconds (virtual ones, under `hush.vclock`: without a
        deadline a node's periodic timers would let a wrong expectation run for ever)."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def node_id_of(node: Node) -> NodeID:
    return Enode.parse(node.enode).node_id


class MemoryCluster:
    """Real nodes on one memory network: `async with MemoryCluster(network) as cluster:`.

    `config` is passed to every node's `NodeConfig` (listen address and datadir are the
    cluster's); node i's randomness is `seeded_random(seed · 1_000_003 + i)`. `observers(i)`
    adds node i's own observers, `node_options(i, clock, random_bytes)` more `Node` keyword
    arguments. Nodes seal their posts with an `InlineSealer` on their own clock (low PoW, in
    the loop's thread: `Node.post` then runs in virtual time too) unless `inline_sealer` is
    False."""

    def __init__(
        self,
        network: MemoryNetwork,
        *,
        seed: int = 0,
        epoch: float = EPOCH,
        relay_policy: Callable[[], RelayPolicy] | None = None,
        observers: Callable[[int], Sequence[NodeObserver]] | None = None,
        node_options: Callable[[int, Clock, RandomBytes], dict[str, Any]] | None = None,
        inline_sealer: bool = True,
        **config: Any,
    ) -> None:
        self.network = network
        self.seed = seed
        self.epoch = epoch
        self._relay_policy = relay_policy
        self._observers = observers
        self._node_options = node_options
        self._inline_sealer = inline_sealer
        self._config: dict[str, Any] = {"min_pow": 0.001, "pow_processes": 1, **config}
        self.nodes: list[Node] = []
        self.watches: list[Watch] = []
        self.randoms: list[RandomBytes] = []
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> MemoryCluster:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.__aexit__(None, None, None)

    async def add_node(self, **overrides: Any) -> Node:
        """Start one more node (on a fresh host address of the network)."""
        index = len(self.nodes)
        random_bytes = seeded_random(self.seed * 1_000_003 + index)
        transport = self.network.transport()
        settings = {
            **self._config,
            **overrides,
            "datadir": None,
            "listen_host": transport.host,
            "listen_port": 0,
        }
        watch = Watch()
        extra = tuple(self._observers(index)) if self._observers is not None else ()
        clock = LoopClock(self.epoch, asyncio.get_running_loop())
        options: dict[str, Any] = {}
        if self._inline_sealer:
            options["sealer"] = InlineSealer(clock.monotonic, random_bytes)
        if self._node_options is not None:
            options.update(self._node_options(index, clock, random_bytes))
        node = Node(
            NodeConfig(**settings),
            node_key=PrivateKey.generate(random_bytes),
            relay_policy=self._relay_policy() if self._relay_policy is not None else None,
            random_bytes=random_bytes,
            clock=clock,
            transport=transport,
            observers=(watch, *extra),
            **options,
        )
        await self._stack.enter_async_context(node)
        self.nodes.append(node)
        self.watches.append(watch)
        self.randoms.append(random_bytes)
        return node

    async def add_nodes(self, count: int, **overrides: Any) -> list[Node]:
        return [await self.add_node(**overrides) for _ in range(count)]

    def watch(self, node: Node) -> Watch:
        return self.watches[self.nodes.index(node)]

    async def connect(self, a: Node, b: Node) -> None:
        """`a` dials `b` (a static peer of `a`); returns once both shh sessions are up."""
        a.add_peer(b.enode)
        await self.connected(a, b)

    async def connected(self, a: Node, b: Node) -> None:
        a_id, b_id = node_id_of(a), node_id_of(b)
        await self.watch(a).wait(lambda: b_id in self.watch(a).active)
        await self.watch(b).wait(lambda: a_id in self.watch(b).active)

    def message(
        self, node: Node, payload: bytes, topic: Topic, key: SymmetricKey, **options: Any
    ) -> Envelope:
        """A sealed message as `node` would post it now (its clock, its randomness)."""
        index = self.nodes.index(node)
        return sealed_message(
            payload, topic, key, node.clock.time(), self.randoms[index], **options
        )


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
