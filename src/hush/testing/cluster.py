"""Real nodes on one memory network, each seeded, on a virtual-time-ready clock.

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
from typing import Any

from hush.clock import Clock, LoopClock
from hush.crypto import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.errors import PowError
from hush.net.memory import MemoryNetwork
from hush.net.memory.network import LISTEN_PORT, host_address
from hush.node import Node, NodeConfig
from hush.node.hooks import NodeObserver
from hush.node.relay import RelayPolicy
from hush.sealer import InlineSealer
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.packets import PacketCode
from hush.shh.pow import NonceSearch, target_bits
from hush.types import NodeID, RandomBytes, Topic

__all__ = [
    "EPOCH",
    "MemoryCluster",
    "Watch",
    "enode_of",
    "node_id_of",
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


def enode_of(seed: int, index: int) -> Enode:
    """The enode node `index` of a `MemoryCluster(seed=seed)` on a fresh network gets from
    `add_node(index=index)`, without starting it (a parallel simulation's remote nodes)."""
    key = PrivateKey.generate(seeded_random(seed * 1_000_003 + index))
    return Enode(key.node_id, host_address(index + 1), LISTEN_PORT)


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

    async def add_node(self, *, index: int | None = None, **overrides: Any) -> Node:
        """Start one more node (on a fresh host address of the network). With `index`, node
        `index` of a network that other processes run parts of: its randomness (key included)
        and its address (`host_address(index + 1)`) are those of the index-th node of a
        cluster that ran them all (`enode_of`)."""
        if index is None:
            index = len(self.nodes)
            transport = self.network.transport()
        else:
            transport = self.network.transport(host_address(index + 1))
        random_bytes = seeded_random(self.seed * 1_000_003 + index)
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
        node_key = PrivateKey.generate(random_bytes)  # nothing drew before: as `enode_of`
        node = Node(
            NodeConfig(**settings),
            node_key=node_key,
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
