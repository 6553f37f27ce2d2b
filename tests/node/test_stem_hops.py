"""The opt-in multi-hop stem (`hush.node.stem_hops`): the core under a fake clock, and networks
of real nodes on the memory transport in virtual time — hush nodes carry stem hops on their own
capability (the very envelope bytes), legacy peers never see it, and black-hole relays delay
but never lose a message (the fail-safe fluffs)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from hush.crypto.symmetric import SymmetricKey
from hush.errors import UsageError
from hush.net.memory import Constant, LinkModel, MemoryNetwork
from hush.node import Node, NodeConfig, PostRequest
from hush.node.hooks import NodeObserver
from hush.node.stem_hops import STEM_NAME, HopsConfig, StemHops, fail_safe_mean
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.testing import MemoryCluster, node_id_of
from hush.testing.gossip import random_regular_graph
from hush.types import NodeID, Topic
from hush.vclock import virtual_time

KEY = SymmetricKey(bytes(range(3, 35)))
TOPIC = Topic(b"hops")
PEERS = [NodeID(bytes([i]) * 64) for i in range(6)]


def _hops(seed: int, **config: Any) -> StemHops:
    return StemHops(random.Random(seed).randbytes, HopsConfig(**config))


def _envelope(i: int) -> Envelope:
    return Envelope(1_800_000_050, 50, TOPIC, i.to_bytes(8, "big"))


# -- the core ------------------------------------------------------------------------------------


def test_routes_are_fixed_per_inbound_edge_within_an_epoch() -> None:
    hops = _hops(1, fluff_probability=0.0, epoch=600.0)
    first = {inbound: hops.route(inbound, PEERS, 0.0) for inbound in (None, *PEERS)}
    assert len(hops.relays) == 2 and set(first.values()) <= set(hops.relays)
    for t in (1.0, 100.0, 250.0):  # same epoch (it lasts at least 300 s): same routes
        assert {i: hops.route(i, PEERS, t) for i in (None, *PEERS)} == first
    assert all(first[relay] != relay for relay in hops.relays)  # never straight back


def test_epochs_are_randomised_and_redraw_relays_and_roles() -> None:
    hops = _hops(2, fluff_probability=0.2, epoch=600.0)
    roles, relays = [], set()
    t = 0.0
    for _ in range(400):
        hops.route(None, PEERS, t)
        roles.append(hops.diffuser)
        relays.add(tuple(sorted(hops.relays)))
        t += 901.0  # past the longest epoch
    assert 0.13 < sum(roles) / len(roles) < 0.27  # q ≈ 0.2, node-level per epoch
    assert len(relays) > 5


def test_a_diffuser_fluffs_what_it_receives_but_stems_its_own() -> None:
    hops = _hops(3, fluff_probability=1.0)
    assert hops.route(PEERS[0], PEERS, 0.0) is None
    assert hops.route(None, PEERS, 0.0) in PEERS


def test_no_relay_but_the_sender_means_fluff() -> None:
    hops = _hops(4, fluff_probability=0.0)
    assert hops.route(PEERS[0], PEERS[:1], 0.0) is None
    assert hops.route(None, PEERS[:1], 0.0) == PEERS[0]


def test_fail_safe_fires_exponentially_and_is_bounded() -> None:
    hops = _hops(5, fail_safe=2.0, max_held=3)
    out = [hops.hold(_envelope(i), PEERS[0], 0.0) for i in range(5)]
    assert [len(o) for o in out] == [0, 0, 0, 1, 1] and len(hops) == 3
    hops.seen(_envelope(4).hash)
    assert len(hops) == 2
    due = hops.get_timer()
    assert due is not None and due > 0
    fired = hops.handle_timer(due)
    assert fired and all(inbound == PEERS[0] for _, inbound in fired)
    draws = _hops(6, fail_safe=2.0)
    for i in range(4000):
        draws.hold(_envelope(i), None, 0.0)
    deadlines = [held.deadline for held in draws._held.values()]
    assert abs(sum(deadlines) / len(deadlines) - 2.0) < 0.15


def test_fail_safe_sizing_and_settings() -> None:
    assert fail_safe_mean(5, 0.1, 0.1) == pytest.approx(9.49, abs=0.01)  # Dandelion++ Prop. 3
    with pytest.raises(UsageError):
        HopsConfig(fluff_probability=1.5)
    with pytest.raises(UsageError, match="source floor"):
        HopsConfig(source_floor=-1.0)
    with pytest.raises(UsageError, match="stem_hops"):
        NodeConfig(datadir=None, stem=False, stem_hops=True)


# -- networks ------------------------------------------------------------------------------------


class _Hops(NodeObserver):
    """Counts the node's pool arrivals by source (to see the first copies)."""

    def __init__(self) -> None:
        self.first: list[tuple[float, NodeID | None]] = []

    def envelope_accepted(self, entry: Any, envelope: Any, source: Any, local: bool) -> None:
        self.first.append((asyncio.get_running_loop().time(), source))


def _request(node: Node, payload: bytes) -> PostRequest:
    return PostRequest(
        payload=payload,
        topic=TOPIC,
        sym_key_id=node.add_sym_key(KEY.secret),
        ttl=120,
        pow_target=0.01,
        pow_time=1.0,
    )


SWALLOWED: list[bytes] = []


async def _swallow(peer: Any, code: int, payload: bytes) -> None:
    """A black hole: takes stem hops and does nothing with them."""
    SWALLOWED.append(payload)


@pytest.mark.parametrize("black_holes", [0, 2])
@virtual_time()
async def test_all_hush_multi_hop_stem_delivers_everything(black_holes: int) -> None:
    loop = asyncio.get_running_loop()
    SWALLOWED.clear()
    rng = random.Random(40 + black_holes)
    network = MemoryNetwork(seed=40, model=LinkModel(Constant(0.05)))
    async with MemoryCluster(network, seed=40, stem_hops=True, max_peers=25) as cluster:
        nodes = await cluster.add_nodes(20)
        for n in nodes[:black_holes]:
            n._sessions.on_stem_hop = _swallow
        edges = random_regular_graph(20, 4, rng)
        for a, b in edges:
            nodes[a].add_peer(nodes[b].enode)
        for a, b in edges:
            await cluster.connected(nodes[a], nodes[b])
        assert all(
            STEM_NAME in {name for name, _ in p.connection.remote_capabilities}
            for p in nodes[5]._peers.values()
        )
        subscriptions = [n.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC}))) for n in nodes]
        await asyncio.sleep(1.0)
        payloads = []
        for m in range(12):
            source = nodes[black_holes + rng.randrange(20 - black_holes)]
            payloads.append(b"hop %d" % m)
            await source.post(_request(source, payloads[-1]))
            await asyncio.sleep(rng.uniform(0.2, 2.0))
        for subscription in subscriptions:
            seen: set[bytes] = set()
            while seen != set(payloads):
                message = await asyncio.wait_for(subscription.get(), 60)
                assert message is not None
                seen.add(message.payload)
        assert loop.time() < 120
        # The black holes were on stems (and those posts got through by a fail-safe).
        assert (len(SWALLOWED) > 0) == (black_holes > 0)


@pytest.mark.parametrize("rlpx", [False, True], ids=["plain", "rlpx"])
@virtual_time()
async def test_stem_hops_carry_the_envelope_bytes_and_skip_legacy_peers(rlpx: bool) -> None:
    """A line of hush nodes 0 - 1 - 2 with hops, and a legacy peer L of node 0 (no hops):
    node 0's post goes to node 1 on `hushstem` (1 is its only hush peer), not on shh to L."""
    loop = asyncio.get_running_loop()
    watches = [_Hops() for _ in range(4)]
    network = MemoryNetwork(seed=9, model=LinkModel(Constant(0.05)), rlpx=rlpx)
    async with MemoryCluster(
        network, seed=9, observers=lambda i: (watches[i],), max_peers=25
    ) as cluster:
        a, b, c = [await cluster.add_node(stem_hops=True) for _ in range(3)]
        legacy = await cluster.add_node()
        for x, y in ((a, b), (b, c), (a, legacy)):
            await cluster.connect(x, y)
        stem = a._stem
        assert stem is not None and stem.hops is not None
        assert {
            name for name, _ in a._peers[node_id_of(legacy)].connection.remote_capabilities
        } == {"shh"}
        subscription = legacy.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
        await asyncio.sleep(1.0)
        posted = loop.time()
        envelope_hash = await a.post(_request(a, b"over hushstem"))
        assert envelope_hash in stem
        message = await asyncio.wait_for(subscription.get(), 60)
        assert message is not None and message.payload == b"over hushstem"
        # Whoever fluffed it, every pool holds the very envelope posted.
        for n in (b, c, legacy):
            assert n.envelope(envelope_hash) == a.envelope(envelope_hash)
        # The stem: a → b (hop, not pooled at b) → c, whose only other hush peer is b, so c
        # fluffs it (its pool takes it from b); then c → b, b → a (the echo), and a → L within
        # `echo_delay` of the echo.
        lat = 0.05
        assert watches[2].first[0] == (pytest.approx(posted + 2 * lat), node_id_of(b))
        assert watches[1].first[0] == (pytest.approx(posted + 3 * lat), node_id_of(c))
        at, sender = watches[3].first[0]
        assert sender == node_id_of(a)
        assert posted + 5 * lat <= at <= posted + 5 * lat + HopsConfig().echo_delay


@virtual_time()
async def test_a_black_hole_first_relay_costs_the_source_hold_only() -> None:
    """The source's only hush peer swallows the hop: the post floods when the source's hold
    (`source_floor` + Exp(`source_embargo`), cut at 10× the mean) ends, not seconds later."""
    loop = asyncio.get_running_loop()
    watch = _Hops()
    network = MemoryNetwork(seed=11, model=LinkModel(Constant(0.05)))
    async with MemoryCluster(
        network, seed=11, observers=lambda i: (watch,) if i == 1 else (), max_peers=25
    ) as cluster:
        source, hole = [await cluster.add_node(stem_hops=True) for _ in range(2)]
        await cluster.connect(source, hole)
        hole._sessions.on_stem_hop = _swallow
        await asyncio.sleep(1.0)
        SWALLOWED.clear()
        posted = loop.time()
        await source.post(_request(source, b"into the hole"))
        async with asyncio.timeout(30):
            while not watch.first:
                await asyncio.sleep(0.05)
        config = HopsConfig()
        waited = watch.first[0][0] - posted - 0.05
        assert len(SWALLOWED) == 1 and watch.first[0][1] == node_id_of(source)
        assert config.source_floor <= waited <= config.source_floor + 10 * config.source_embargo
