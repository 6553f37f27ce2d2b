"""Peers shaped like other clients: more capabilities than shh, a legacy (pre-EIP-8) handshake,
status packets with extra items. The node must match shh/6 at the right offset and talk."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from hush import rlp
from hush.crypto import PrivateKey, SymmetricKey
from hush.node import Node, PostRequest
from hush.rlpx import (
    Authenticated,
    Capability,
    Connection,
    HandshakeFormat,
    HelloReceived,
    Initiator,
    MessageReceived,
)
from hush.sealer import Sealer
from hush.shh import packets
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode
from hush.types import Topic

from .conftest import NodeFactory, wait_for

TOPIC = Topic(b"\x11\x22\x33\x44")
KEY = SymmetricKey(bytes(range(50, 82)))
GETH_CAPS = [Capability("eth", 63, 17), Capability("eth", 64, 17), Capability("shh", 6, 128)]


class Peer:
    def __init__(self, node: Node, auth_format: HandshakeFormat, caps: list[Capability]):
        key = PrivateKey.generate(os.urandom)
        remote = node.node_key.node_id
        self.node = node
        self.conn = Connection(
            key,
            os.urandom,
            remote_node_id=remote,
            client_id="Geth/v1.9.7-stable-a718daa6/linux-amd64/go1.19.8",
            capabilities=caps,
            initiator=Initiator(key, remote, os.urandom, auth_format=auth_format),
        )

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.node.listen_port)
        await self.flush()
        assert isinstance(await self.event(), Authenticated)
        self.conn.send_hello()
        await self.flush()
        assert isinstance(await self.event(), HelloReceived)

    async def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def event(self) -> object:
        async with asyncio.timeout(5):
            while (event := self.conn.next_event()) is None:
                data = await self.reader.read(65536)
                assert data, "the node closed the connection"
                self.conn.receive_data(data)
        return event

    async def message(self) -> tuple[str, int, bytes]:
        while True:
            event = await self.event()
            if isinstance(event, MessageReceived):
                return event.capability, event.code, event.payload


@pytest.mark.parametrize("auth_format", [HandshakeFormat.EIP8, HandshakeFormat.LEGACY])
async def test_geth_shaped_peer(make_node: NodeFactory, auth_format: HandshakeFormat) -> None:
    node = await make_node()
    inbox = node.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    peer = Peer(node, auth_format, GETH_CAPS)
    await peer.start()
    try:
        # Only shh/6 is shared, so its codes start at 0x10 whatever else the peer speaks.
        assert [c.name for c in peer.conn.shared_capabilities] == ["shh"]
        capability, code, payload = await peer.message()
        assert (capability, code) == ("shh", PacketCode.STATUS)
        assert packets.decode_status(payload).version == 6
        # A status-go style status with extra trailing items.
        status = rlp.encode([6, packets.float_to_bits(0.2), b"", b"", [b"extension", 1]])
        peer.conn.send_message("shh", PacketCode.STATUS, status)
        envelope = wrap(
            b"from a geth-shaped peer", TOPIC, int(time.time()), os.urandom, sym_key=KEY
        )
        with Sealer(processes=1) as sealer:
            envelope = sealer.seal(envelope, 0.05, 5)
        peer.conn.send_message(
            "shh", PacketCode.MESSAGES, packets.encode_messages([envelope.encode()])
        )
        await peer.flush()
        async with asyncio.timeout(5):
            message = await inbox.get()
        assert message is not None and message.payload == b"from a geth-shaped peer"

        key = node.keys.add_sym_key(KEY.secret)
        sent = await node.post(PostRequest(b"to the peer", TOPIC, sym_key_id=key, pow_target=0.2))
        while True:  # the node relays its own envelope, not the peer's back
            capability, code, payload = await peer.message()
            if code == PacketCode.MESSAGES:
                break
        assert [e.hash for e in packets.decode_messages(payload)] == [sent]
        await wait_for(lambda: node.peers()[0].name.startswith("Geth/v1.9.7"))
    finally:
        peer.writer.close()
