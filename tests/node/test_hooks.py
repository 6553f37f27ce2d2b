"""The node's hooks: observers see every accounting point, a peer source fills the peer count."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection
from contextlib import AsyncExitStack

import pytest

from hush.crypto import PrivateKey, SymmetricKey
from hush.enode import Enode
from hush.net import P2PConfig, PeerConnection, serve
from hush.node import Node, PostRequest
from hush.node.hooks import DialOutcome, NodeObserver
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.packets import PacketCode
from hush.shh.pool import AddOutcome, AddStatus, PooledEnvelope
from hush.types import NodeID, Topic

from .conftest import config, connect, wait_for

TOPIC = Topic(b"hook")


class Recorder(NodeObserver):
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def peer_connected(self, node_id: NodeID, inbound: bool, client_id: str) -> None:
        self.events.append(("joined", node_id, inbound))

    def peer_disconnected(self, node_id: NodeID, why: str) -> None:
        self.events.append(("left", node_id, why))

    def packet_received(self, node_id: NodeID, code: int, size: int) -> None:
        self.events.append(("in", node_id, code))

    def packet_sent(self, node_id: NodeID, code: int, size: int) -> None:
        self.events.append(("out", node_id, code))

    def envelope_received(self, outcome: AddOutcome, source: NodeID | None, local: bool) -> None:
        self.events.append(("received", outcome.status, source, local))

    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        self.events.append(("accepted", entry.raw, source, local))

    def message_delivered(self, count: int, direct: bool) -> None:
        self.events.append(("delivered", count, direct))

    def envelope_sealed(self, seconds: float, pow_target: float) -> None:
        self.events.append(("sealed", pow_target))

    def of(self, kind: str) -> list[tuple[object, ...]]:
        return [event for event in self.events if event[0] == kind]


class Broken(NodeObserver):
    def envelope_accepted(
        self, entry: PooledEnvelope, envelope: Envelope, source: NodeID | None, local: bool
    ) -> None:
        raise RuntimeError("observer bug")


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_observers_see_peers_packets_and_envelopes(stack: AsyncExitStack) -> None:
    seen, sent = Recorder(), Recorder()
    a = await stack.enter_async_context(Node(config(), observers=[Broken(), sent]))
    b = await stack.enter_async_context(Node(config(), observers=[seen]))
    secret = os.urandom(32)
    a_key = a.keys.add_sym_key(secret)
    b.install_filter(Filter(sym_key=SymmetricKey(secret), topics=frozenset({TOPIC})))
    await connect(a, b)
    a_id, b_id = a.node_key.node_id, b.node_key.node_id
    assert ("joined", a_id, True) in seen.events and ("joined", b_id, False) in sent.events
    request = PostRequest(b"observed", TOPIC, sym_key_id=a_key, pow_target=0.01, pow_time=2)
    await a.post(request)  # the raising observer is logged; the post goes through
    await wait_for(lambda: bool(seen.of("accepted")))
    assert sent.of("sealed") == [("sealed", 0.01)]
    assert sent.of("received") == [("received", AddStatus.ACCEPTED, None, True)]
    ((_, raw, source, local),) = seen.of("accepted")
    assert source == a_id and local is False
    assert isinstance(raw, bytes)
    assert b.envelope(Envelope.decode(raw).hash) is not None  # the encoding off the wire
    assert seen.of("delivered") == [("delivered", 1, False)]
    assert ("in", a_id, PacketCode.STATUS) in seen.events
    assert ("in", a_id, PacketCode.MESSAGES) in seen.events
    assert ("out", b_id, PacketCode.MESSAGES) in sent.events
    await a.stop()
    await wait_for(lambda: bool(seen.of("left")))
    assert seen.of("left") == [("left", a_id, "remote_quitting")]


class ListSource:
    """A peer source over a fixed list, recording how each dial went."""

    def __init__(self, enodes: list[Enode]) -> None:
        self.enodes = enodes
        self.outcomes: dict[NodeID, DialOutcome] = {}

    def candidates(self, want: int, exclude: Collection[NodeID]) -> list[Enode]:
        fresh = [
            e for e in self.enodes if e.node_id not in exclude and e.node_id not in self.outcomes
        ]
        return fresh[:want]

    def dialed(self, node_id: NodeID, outcome: DialOutcome) -> None:
        self.outcomes[node_id] = outcome


async def test_peer_source_fills_the_target_and_learns_who_speaks_shh(
    stack: AsyncExitStack,
) -> None:
    shh_nodes = [await stack.enter_async_context(Node(config())) for _ in range(3)]

    async def hang_up(connection: PeerConnection) -> None:
        return None

    eth_key = PrivateKey.generate(os.urandom)
    eth_config = P2PConfig(capabilities=(("eth", 63, 17),))
    listener = await serve(eth_key, "127.0.0.1", 0, eth_config, hang_up)
    stack.callback(listener.close)
    eth = Enode(eth_key.node_id, "127.0.0.1", listener.sockets[0].getsockname()[1])
    enodes = [Enode.parse(shh_nodes[0].enode), eth, *(Enode.parse(n.enode) for n in shh_nodes[1:])]
    source = ListSource(enodes)
    node = await stack.enter_async_context(Node(config(target_peers=3), peer_source=source))
    await wait_for(lambda: len(node.peers()) == 3)
    assert source.outcomes[eth.node_id] is DialOutcome.USELESS
    assert [source.outcomes[e.node_id] for e in enodes if e != eth] == [DialOutcome.CONNECTED] * 3
    assert {p.node_id for p in node.peers()} == {n.node_key.node_id for n in shh_nodes}
