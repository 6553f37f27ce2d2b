"""Real nodes over the in-memory transport under the virtual clock (tests/node/pair.py), both
link modes: delivery at exact virtual times, settings reaching the peer, expiry in virtual
minutes, disconnects, and runs that replay exactly from their seed."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.net.memory import Constant, LinkModel
from hush.node import Node, PostRequest
from hush.node.hooks import DialOutcome
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.pool import AddStatus
from hush.shh.topic import topic_to_bloom
from hush.testing import EPOCH, MemoryCluster, node_id_of, seal, seeded_random
from hush.types import NodeID, Topic
from hush.vclock import virtual_time

from .pair import node_pair

MODES = [pytest.param(False, id="plain"), pytest.param(True, id="rlpx")]
KEY = SymmetricKey(bytes(range(1, 33)))
TOPIC = Topic(b"pair")
LATENCY = 0.04


def _filter() -> Filter:
    return Filter(sym_key=KEY, topics=frozenset({TOPIC}))


def _peer_of(node: Node, other: Node):  # type: ignore[no-untyped-def]
    return next(p for p in node.peers() if p.node_id == node_id_of(other))


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_a_message_arrives_one_latency_later(rlpx: bool) -> None:
    loop = asyncio.get_running_loop()
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY))) as (cluster, a, b):
        assert a.clock.time() == EPOCH + loop.time()
        subscription = b.subscribe(_filter())
        await asyncio.sleep(1.0)  # the link is idle again
        envelope = cluster.message(a, b"hello over memory", TOPIC, KEY)
        posted = loop.time()
        assert await a.inject(envelope) is AddStatus.ACCEPTED
        message = await subscription.get()
        assert message is not None and message.payload == b"hello over memory"
        assert message.envelope_hash == envelope.hash
        # An idle link forwards at once (BroadcastPolicy): one latency, no tick to wait for.
        assert loop.time() == pytest.approx(posted + LATENCY)
        assert b.envelope(envelope.hash) == envelope  # the same bytes in b's pool


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_settings_reach_the_peer(rlpx: bool) -> None:
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY))) as (cluster, a, b):
        watch = cluster.watch(b)
        await a.set_min_pow(2.5)
        await watch.wait(lambda: _peer_of(b, a).pow_requirement == 2.5)
        bloom = topic_to_bloom(TOPIC)
        await a.set_bloom(bloom)
        await watch.wait(lambda: _peer_of(b, a).bloom == bloom)


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_envelopes_expire_in_virtual_minutes(rlpx: bool) -> None:
    loop = asyncio.get_running_loop()
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY))) as (cluster, a, b):
        envelope = cluster.message(a, b"short-lived", TOPIC, KEY, ttl=120)
        await a.inject(envelope)
        await cluster.watch(b).wait(lambda: b.envelope(envelope.hash) is not None)
        started = loop.time()
        await asyncio.sleep(100)
        assert a.envelope(envelope.hash) is not None and b.envelope(envelope.hash) is not None
        await asyncio.sleep(30)  # past the expiry, plus the sweep's cycle
        assert a.envelope(envelope.hash) is None and b.envelope(envelope.hash) is None
        assert loop.time() - started == 130
        # Both peers stayed connected all along (pings in RLPx mode, no read deadline in plain).
        assert len(a.peers()) == len(b.peers()) == 1


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_remove_peer_disconnects_both_sides(rlpx: bool) -> None:
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY))) as (cluster, a, b):
        assert await a.remove_peer(b.enode)
        await cluster.watch(a).wait(lambda: not a.peers())
        await cluster.watch(b).wait(lambda: not b.peers())


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_third_node_and_relay(rlpx: bool) -> None:
    loop = asyncio.get_running_loop()
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY))) as (cluster, a, b):
        c = await cluster.add_node()
        await cluster.connect(c, b)  # a - b - c: b relays
        subscription = c.subscribe(_filter())
        await asyncio.sleep(1.0)
        envelope = cluster.message(a, b"two hops", TOPIC, KEY)
        posted = loop.time()
        await a.inject(envelope)
        message = await subscription.get()
        assert message is not None and message.payload == b"two hops"
        assert loop.time() == pytest.approx(posted + 2 * LATENCY)


def _run_once(seed: int) -> list[object]:
    @virtual_time()
    async def run() -> list[object]:
        loop = asyncio.get_running_loop()
        trace: list[object] = []
        model = LinkModel(Constant(0.01))
        async with node_pair(seed=seed, model=model) as (cluster, a, b):
            trace += [node_id_of(a), node_id_of(b), loop.time()]
            subscription = b.subscribe(_filter())
            for n in range(5):
                envelope = cluster.message(a, bytes([n]) * 10, TOPIC, KEY)
                trace.append(envelope.hash)
                await a.inject(envelope)
                message = await subscription.get()
                assert message is not None
                trace.append((message.payload, loop.time()))
        return trace

    result: list[object] = run()
    return result


def test_same_seed_same_run() -> None:
    first = _run_once(3)
    assert first == _run_once(3)
    assert first[:2] != _run_once(4)[:2]  # other keys, other run


def test_seal_meets_the_target_and_replays() -> None:
    envelope = wrap(b"x" * 100, TOPIC, 1_700_000_000, seeded_random(1), ttl=50, sym_key=KEY)
    sealed = seal(envelope, 2.0)
    assert sealed.pow() >= 2.0
    assert seal(envelope, 2.0) == sealed


class _OneCandidate:
    """A peer source that offers one enode once and records how its dial went."""

    def __init__(self, enode: str) -> None:
        self.enode: Enode | None = Enode.parse(enode)
        self.outcomes: list[DialOutcome] = []
        self.told = asyncio.Event()

    def candidates(self, want: int, exclude: Collection[NodeID]) -> list[Enode]:
        enode, self.enode = self.enode, None
        return [enode] if enode is not None and enode.node_id not in exclude else []

    def dialed(self, node_id: NodeID, outcome: DialOutcome) -> None:
        self.outcomes.append(outcome)
        self.told.set()


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_a_full_node_refuses_a_newcomer(rlpx: bool) -> None:
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY)), max_peers=1) as (
        cluster,
        a,
        b,
    ):
        source = _OneCandidate(b.enode)
        newcomer = MemoryCluster(
            cluster.network, seed=9, node_options=lambda i, clock, rb: {"peer_source": source}
        )
        async with newcomer:
            await newcomer.add_node(target_peers=1)
            async with asyncio.timeout(60):
                await source.told.wait()
            await asyncio.sleep(5)  # b's linger-close after its refusal ends (RLPx mode)
        assert source.outcomes == [DialOutcome.REFUSED]  # b is full: TOO_MANY_PEERS
        assert len(b.peers()) == 1 and len(a.peers()) == 1


@pytest.mark.parametrize("rlpx", MODES)
@virtual_time()
async def test_post_seals_in_virtual_time(rlpx: bool) -> None:
    """Node.post with the cluster's in-process sealer: no thread, so the clock cannot jump
    while sealing, and the post replays like everything else."""
    loop = asyncio.get_running_loop()
    async with node_pair(rlpx=rlpx, model=LinkModel(Constant(LATENCY))) as (_, a, b):
        subscription = b.subscribe(_filter())
        key_id = a.add_sym_key(KEY.secret)
        await asyncio.sleep(1.0)
        posted = loop.time()
        request = PostRequest(
            payload=b"posted", topic=TOPIC, sym_key_id=key_id, pow_target=0.5, pow_time=2
        )
        envelope_hash = await a.post(request)
        assert loop.time() == posted  # sealing took no virtual time
        message = await subscription.get()
        assert message is not None and message.payload == b"posted"
        assert message.envelope_hash == envelope_hash and message.pow >= 0.5
        assert loop.time() == pytest.approx(posted + LATENCY)
