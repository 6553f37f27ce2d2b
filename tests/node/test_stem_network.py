"""The one-hop stem in small networks of real nodes over the memory transport, virtual time:
the post goes to one peer first, the rest only after the echo; 100 % delivery with the stem on,
with a black-hole stem peer (the embargo fluffs), and with churn; `stem=False` floods."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Container, Iterable
from typing import Any

import pytest

from hush.crypto.symmetric import SymmetricKey
from hush.net.memory import Constant, LinkModel, MemoryNetwork
from hush.node import Node, PostRequest
from hush.node.hooks import NodeObserver
from hush.shh.filters import Filter
from hush.shh.peer import ShhPeer
from hush.shh.pool import AddOutcome, AddStatus, PooledEnvelope
from hush.testing import MemoryCluster, node_id_of
from hush.testing.gossip import gossip, random_regular_graph
from hush.types import EnvelopeHash, NodeID, Topic
from hush.vclock import run_virtual, virtual_time

KEY = SymmetricKey(bytes(range(1, 33)))
TOPIC = Topic(b"stem")
LATENCY = 0.05


class _Log(NodeObserver):
    """(time, what, peer) of one node: bundles it sent, envelopes it got (first and echoes)."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, NodeID]] = []
        self.first: list[tuple[float, NodeID | None]] = []
        self.echoes: list[tuple[float, NodeID]] = []
        self._sent = asyncio.Event()

    def bundle_sent(self, node_id: NodeID, envelopes: int) -> None:
        self.sent.append((asyncio.get_running_loop().time(), node_id))
        self._sent.set()

    async def wait_sent(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(60):
            while not condition():
                self._sent.clear()
                await self._sent.wait()

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        now = asyncio.get_running_loop().time()
        entry = outcome.entry
        if outcome.status is AddStatus.ACCEPTED:
            self.first.append((now, source))
        elif outcome.status is AddStatus.DUPLICATE and entry and entry.local and source:
            self.echoes.append((now, source))


class _BlackHole:
    """A relay policy that never sends anything: the node swallows what it gets."""

    interval = 0.02
    on_arrival = True

    def batches(
        self,
        peer: ShhPeer,
        candidates: Iterable[PooledEnvelope],
        local: Container[EnvelopeHash],
        light: bool,
        max_batch_bytes: int,
    ) -> list[list[PooledEnvelope]]:
        return []


def _request(node: Node, payload: bytes) -> PostRequest:
    return PostRequest(
        payload=payload,
        topic=TOPIC,
        sym_key_id=node.add_sym_key(KEY.secret),
        ttl=120,
        pow_target=0.01,
        pow_time=1.0,
    )


def _cluster(seed: int, logs: list[_Log] | None = None, **config: Any) -> MemoryCluster:
    network = MemoryNetwork(seed=seed, model=LinkModel(Constant(LATENCY)))

    def observers(i: int) -> tuple[NodeObserver, ...]:
        if logs is None:
            return ()
        logs.append(_Log())
        return (logs[-1],)

    return MemoryCluster(network, seed=seed, observers=observers, **config)


async def _wire(
    cluster: MemoryCluster, nodes: list[Node], edges: Iterable[tuple[int, int]]
) -> None:
    edges = list(edges)
    for a, b in edges:
        nodes[a].add_peer(nodes[b].enode)
    for a, b in edges:
        await cluster.connected(nodes[a], nodes[b])


@pytest.mark.parametrize("seed", [1, 2, 3])
@virtual_time()
async def test_a_post_goes_to_one_peer_then_everywhere_after_the_echo(seed: int) -> None:
    """Node 0 has four peers, joined in a ring among themselves."""
    loop = asyncio.get_running_loop()
    logs: list[_Log] = []
    async with _cluster(seed, logs) as cluster:
        nodes = await cluster.add_nodes(5)
        ring = [(1, 2), (2, 3), (3, 4), (4, 1)]
        await _wire(cluster, nodes, [(0, i) for i in range(1, 5)] + ring)
        subscriptions = [n.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC}))) for n in nodes]
        await asyncio.sleep(1.0)
        ids = [node_id_of(n) for n in nodes]
        posted = loop.time()
        await nodes[0].post(_request(nodes[0], b"first to one"))
        for subscription in subscriptions[1:]:
            message = await asyncio.wait_for(subscription.get(), 30)
            assert message is not None and message.payload == b"first to one"
        source = logs[0]
        # At once, one packet to one peer: the stem peer, chosen among the four.
        assert source.sent[0] == (posted, source.sent[0][1])
        stem_peer = source.sent[0][1]
        assert stem_peer in ids[1:]
        stem_index = ids.index(stem_peer)
        assert logs[stem_index].first == [(posted + LATENCY, ids[0])]
        # The ring sends it back (the echo) before node 0 sends it to anyone else.
        echo_at = source.echoes[0][0]
        assert echo_at == pytest.approx(posted + 3 * LATENCY)  # stem peer, its ring peer, back
        assert all(at >= echo_at for at, _ in source.sent[1:])
        # No peer got it from node 0 before the echo; the stem peer's ring neighbours got it
        # from the stem peer.
        for i in range(1, 5):
            at, sender = logs[i].first[0]
            assert sender != ids[0] or i == stem_index or at >= echo_at + LATENCY


@virtual_time()
async def test_stem_off_floods_to_every_peer_at_once() -> None:
    loop = asyncio.get_running_loop()
    logs: list[_Log] = []
    async with _cluster(4, logs, stem=False) as cluster:
        nodes = await cluster.add_nodes(5)
        await _wire(cluster, nodes, [(0, i) for i in range(1, 5)])
        await asyncio.sleep(1.0)
        posted = loop.time()
        await nodes[0].post(_request(nodes[0], b"flood"))
        await logs[0].wait_sent(lambda: len(logs[0].sent) == 4)
        assert {at for at, _ in logs[0].sent} == {posted}
        assert {peer for _, peer in logs[0].sent} == {node_id_of(n) for n in nodes[1:]}


@pytest.mark.parametrize("seed", [5, 6])
@virtual_time()
async def test_a_black_hole_stem_peer_delays_but_never_loses(seed: int) -> None:
    """Node 0's stem peer swallows everything; its other peer leads to the readers."""
    loop = asyncio.get_running_loop()
    logs: list[_Log] = []
    async with _cluster(seed, logs) as cluster:
        nodes = await cluster.add_nodes(4)
        nodes[1].relay_policy = _BlackHole()
        await _wire(cluster, nodes, [(0, 1), (0, 2), (2, 3), (1, 3)])
        stem = nodes[0]._stem
        assert stem is not None
        assert stem.stem.stem_peer([node_id_of(nodes[1])], loop.time()) == node_id_of(nodes[1])
        subscription = nodes[3].subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
        await asyncio.sleep(1.0)
        posted = loop.time()
        await nodes[0].post(_request(nodes[0], b"into the hole"))
        deadline = stem.stem.get_timer()
        assert deadline is not None
        message = await asyncio.wait_for(subscription.get(), 60)
        assert message is not None and message.payload == b"into the hole"
        assert logs[0].sent[0] == (posted, node_id_of(nodes[1]))
        assert logs[0].echoes == []  # nobody sent it back: the embargo fluffed it
        assert logs[0].sent[1][0] == pytest.approx(deadline, abs=1e-6)
        assert loop.time() == pytest.approx(deadline + 2 * LATENCY)


@virtual_time()
async def test_losing_the_stem_peer_fluffs_and_draws_another() -> None:
    loop = asyncio.get_running_loop()
    logs: list[_Log] = []
    async with _cluster(7, logs) as cluster:
        nodes = await cluster.add_nodes(4)
        for n in nodes[1:]:
            n.relay_policy = _BlackHole()  # no echo: only the embargo or a loss releases
        await _wire(cluster, nodes, [(0, 1), (0, 2), (0, 3)])
        await asyncio.sleep(1.0)
        await nodes[0].post(_request(nodes[0], b"lost stem"))
        stem = nodes[0]._stem
        assert stem is not None
        first = stem.stem.peer
        assert first is not None and len(stem.stem) == 1
        lost_at = loop.time()
        lost = next(n for n in nodes if node_id_of(n) == first)
        await nodes[0].remove_peer(lost.enode)
        others = {node_id_of(n) for n in nodes[1:]} - {first}
        await logs[0].wait_sent(lambda: {p for at, p in logs[0].sent if at >= lost_at} >= others)
        assert len(stem.stem) == 0 and loop.time() - lost_at < 1.0  # not the embargo
        await nodes[0].post(_request(nodes[0], b"next"))
        assert stem.stem.peer in others


def _delivered_exactly_once(seed: int, **options: Any) -> tuple[int, int]:
    async def run() -> tuple[int, int]:
        result = await gossip(nodes=16, degree=4, messages=12, seed=seed, run_for=120.0, **options)
        pairs = {(node, m) for _, node, m in result.deliveries}
        assert len(pairs) == len(result.deliveries)  # once each
        wanted = {(node, m) for m, nodes in result.expected.items() for node in nodes}
        return len(pairs & wanted), len(wanted)

    got: tuple[int, int] = run_virtual(run())
    return got


@pytest.mark.parametrize("seed", [11, 12])
def test_gossip_with_the_stem_delivers_everything(seed: int) -> None:
    got, wanted = _delivered_exactly_once(seed)
    assert wanted > 30 and got == wanted


@virtual_time()
async def test_churn_with_the_stem_delivers_everything() -> None:
    """12 nodes, 4-regular; while posts go out, random links drop and come back, and every
    publisher loses its stem peer right after posting."""
    loop = asyncio.get_running_loop()
    rng = random.Random(21)
    async with _cluster(21) as cluster:
        nodes = await cluster.add_nodes(12)
        edges = random_regular_graph(12, 4, rng)
        await _wire(cluster, nodes, edges)
        subscriptions = [n.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC}))) for n in nodes]
        await asyncio.sleep(1.0)
        posts: list[tuple[int, bytes]] = []
        for m in range(10):
            publisher = rng.randrange(12)
            payload = b"churn %d" % m
            node = nodes[publisher]
            await node.post(_request(node, payload))
            posts.append((publisher, payload))
            stem = node._stem
            assert stem is not None and stem.stem.peer is not None
            gone = next(n for n in nodes if node_id_of(n) == stem.stem.peer)
            await node.remove_peer(gone.enode)  # it is redialled with backoff (a static peer)
            a, b = edges[rng.randrange(len(edges))]
            await nodes[a].remove_peer(nodes[b].enode)
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            nodes[a].add_peer(nodes[b].enode)
            node.add_peer(gone.enode)
        expected = {payload for _, payload in posts}
        for subscription in subscriptions:
            seen: set[bytes] = set()
            while seen != expected:
                message = await asyncio.wait_for(subscription.get(), 120)
                assert message is not None
                seen.add(message.payload)
        assert loop.time() < 600


@virtual_time()
async def test_a_light_node_uses_the_same_stem() -> None:
    """A light node (it relays only its own envelopes) posts: to its stem peer first, to its
    leaf peer only after the echo, and not to the peer that echoed it."""
    loop = asyncio.get_running_loop()
    logs: list[_Log] = []
    async with _cluster(31, logs) as cluster:
        light = await cluster.add_node(light=True)
        nodes = [light, *await cluster.add_nodes(3)]
        await _wire(cluster, nodes, [(0, 1), (0, 2), (0, 3), (1, 2)])  # 3 is a leaf
        ids = [node_id_of(n) for n in nodes]
        stem = light._stem
        assert stem is not None and stem.stem.stem_peer([ids[1]], loop.time()) == ids[1]
        await asyncio.sleep(1.0)
        posted = loop.time()
        await light.post(_request(light, b"from a light node"))
        assert logs[0].sent == [(posted, ids[1])]
        await logs[0].wait_sent(lambda: len(logs[0].sent) == 2)
        assert logs[0].echoes[0] == (pytest.approx(posted + 3 * LATENCY), ids[2])
        assert logs[0].sent[1] == (pytest.approx(posted + 3 * LATENCY), ids[3])
        await cluster.watch(nodes[3]).wait(lambda: len(nodes[3].pool) == 1)
