"""Static peers redialled with backoff, the peer limit, trusted peers and archive requests."""

from __future__ import annotations

import os
import time

from hush.crypto import PrivateKey, SymmetricKey
from hush.errors import DisconnectReason
from hush.net import PeerDisconnected
from hush.node import Node
from hush.sealer import Sealer
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.packets import PacketCode
from hush.shh.peer import MailPacket
from hush.types import NodeID, Topic

from .conftest import NodeFactory, config, connect, wait_for
from .test_hostile_peers import raw_peer


def connected(a: Node, b: Node) -> bool:
    return b.node_key.node_id in a._peers


async def test_static_peer_redialled_after_restart(make_node: NodeFactory) -> None:
    a = await make_node()
    key = PrivateKey.generate(os.urandom)
    b = Node(config(), node_key=key)
    await b.start()
    port = b.listen_port
    a.add_peer(b.enode)
    await wait_for(lambda: connected(a, b))
    await b.stop()
    await wait_for(lambda: not connected(a, b))
    async with Node(config(listen_port=port), node_key=key) as again:
        await wait_for(lambda: connected(a, again), timeout=10)
        assert a.peers()[0].static


async def test_peer_limit_spares_trusted_peers(make_node: NodeFactory) -> None:
    hub = await make_node(max_peers=1)
    first = await make_node()
    await connect(first, hub)
    try:  # a second, untrusted peer is refused: the refusal itself is the signal (no sleep)
        await raw_peer(hub)
    except PeerDisconnected as exc:
        assert exc.reason is DisconnectReason.TOO_MANY_PEERS and exc.by_remote
    else:
        raise AssertionError("a full node accepted an untrusted peer")
    trusted = await make_node()
    hub.add_trusted_peer(trusted.enode)
    await connect(trusted, hub)
    assert hub.peers() and {p.node_id for p in hub.peers()} == {
        first.node_key.node_id,
        trusted.node_key.node_id,
    }
    assert next(p for p in hub.peers() if p.node_id == trusted.node_key.node_id).trusted


async def test_too_many_peers_reason(make_node: NodeFactory) -> None:
    hub = await make_node(max_peers=0)
    try:
        await raw_peer(hub)
    except PeerDisconnected as exc:
        assert exc.reason is DisconnectReason.TOO_MANY_PEERS
    else:
        raise AssertionError("a full node accepted a peer")


async def test_archive_requests_reach_the_handler(make_node: NodeFactory) -> None:
    requests: list[tuple[NodeID, Envelope | MailPacket]] = []

    async def handler(node: Node, peer: NodeID, envelope: Envelope | MailPacket) -> None:
        requests.append((peer, envelope))

    archive = await make_node()
    archive.mail_handler = handler
    client = await raw_peer(archive)
    envelope = wrap(
        b"history please",
        Topic(bytes(4)),
        int(time.time()),
        os.urandom,
        sym_key=SymmetricKey(bytes(range(32))),
    )
    with Sealer(processes=1) as sealer:
        envelope = sealer.seal(envelope, 0.05, 5)
    await client.send_message(
        "shh", PacketCode.P2P_REQUEST, packets.encode_envelope_packet(envelope)
    )
    await wait_for(lambda: len(requests) == 1)
    assert requests[0][1] == envelope
    assert len(archive.pool) == 0
    client.close()


async def test_failing_archive_handler_drops_only_that_peer(make_node: NodeFactory) -> None:
    async def broken(node: Node, peer: NodeID, envelope: Envelope | MailPacket) -> None:
        raise RuntimeError("archive bug")

    archive, honest = await make_node(), await make_node()
    archive.mail_handler = broken
    await connect(archive, honest)
    client = await raw_peer(archive)
    envelope = wrap(
        b"x", Topic(bytes(4)), int(time.time()), os.urandom, sym_key=SymmetricKey(bytes(range(32)))
    )
    await client.send_message(
        "shh", PacketCode.P2P_REQUEST, packets.encode_envelope_packet(envelope)
    )
    await wait_for(lambda: len(archive.peers()) == 1)
    assert archive.peers()[0].node_id == honest.node_key.node_id
    client.close()
