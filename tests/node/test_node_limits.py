"""The node's admission: the peer limit holds when peers arrive together."""

from __future__ import annotations

import asyncio
import os

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial
from hush.shh.packets import PacketCode

from .conftest import NodeFactory


async def test_max_peers_holds_when_peers_arrive_together(make_node: NodeFactory) -> None:
    node = await make_node(max_peers=1)
    enode = Enode.parse(node.enode)
    config = P2PConfig(handshake_timeout=5)
    keys = [PrivateKey.generate(os.urandom) for _ in range(4)]
    # All four pass the check after the RLPx handshake before any has joined.
    results = await asyncio.gather(
        *(dial(key, enode, config) for key in keys), return_exceptions=True
    )
    joined = 0
    connections = [r for r in results if isinstance(r, PeerConnection)]
    try:
        for result in results:
            if not isinstance(result, PeerConnection):
                assert isinstance(result, PeerDisconnected), result
                assert result.reason is DisconnectReason.TOO_MANY_PEERS
                continue
            try:
                _, code, _ = await asyncio.wait_for(result.read_message(), 5)
            except PeerDisconnected as exc:
                assert exc.reason is DisconnectReason.TOO_MANY_PEERS
            else:
                assert code == PacketCode.STATUS
                joined += 1
        assert joined == 1
        assert len(node.peers()) == 1
    finally:
        for connection in connections:
            connection.close()
