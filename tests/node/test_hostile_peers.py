"""Hostile shh peers are disconnected with geth's reason while honest peers carry on (§3.4, §3.6)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest

from hush.crypto import PrivateKey, SymmetricKey
from hush.errors import DisconnectReason
from hush.node import Node, PostRequest
from hush.rlpx import (
    Authenticated,
    Capability,
    Connection,
    DisconnectReceived,
    HelloReceived,
)
from hush.sealer import Sealer
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.types import Topic

from .conftest import NodeFactory, connect, disconnect_reason, raw_peer

TOPIC = Topic(b"\x0a\x0b\x0c\x0d")
KEY = SymmetricKey(bytes(range(7, 39)))


def sealed(now: float, pow_target: float = 0.05, **changes: int) -> Envelope:
    envelope = wrap(b"x", TOPIC, int(now), os.urandom, sym_key=KEY, ttl=changes.get("ttl", 50))
    with Sealer(processes=1) as sealer:
        return sealer.seal(envelope, pow_target, 5)


def messages(*envelopes: Envelope) -> bytes:
    return packets.encode_messages([e.encode() for e in envelopes])


HOSTILE: dict[str, Callable[[], tuple[int, bytes]]] = {
    "malformed envelope": lambda: (PacketCode.MESSAGES, b"\xc6\xc5\x01\x02\x83abc"),
    "envelope from the future": lambda: (
        PacketCode.MESSAGES,
        messages(sealed(time.time() + 60)),
    ),
    "very old envelope": lambda: (PacketCode.MESSAGES, messages(sealed(time.time() - 100))),
    "low PoW": lambda: (PacketCode.MESSAGES, messages(sealed(time.time(), pow_target=0))),
    "bundle over the max message size": lambda: (
        PacketCode.MESSAGES,
        messages(*[sealed(time.time())] * 400),
    ),
    "invalid PoW requirement": lambda: (
        PacketCode.POW_REQUIREMENT,
        packets.encode_pow_requirement(float("nan")),
    ),
    "short bloom": lambda: (PacketCode.BLOOM_FILTER, b"\x83abc"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
async def test_hostile_peer_dropped_honest_peer_served(make_node: NodeFactory, attack: str) -> None:
    node = await make_node(min_pow=0.02, max_message_size=64 * 1024)
    honest = await make_node()
    await connect(node, honest)
    inbox = honest.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))

    hostile = await raw_peer(node)
    code, payload = HOSTILE[attack]()
    await hostile.send_message("shh", code, payload)
    assert await disconnect_reason(hostile) is DisconnectReason.SUBPROTOCOL_ERROR

    key = node.keys.add_sym_key(KEY.secret)
    sent = await node.post(PostRequest(b"still here", TOPIC, sym_key_id=key, pow_target=0.05))
    async with asyncio.timeout(5):
        message = await inbox.get()
    assert message is not None and message.envelope_hash == sent


async def test_shh_packet_before_status(make_node: NodeFactory) -> None:
    node = await make_node()
    hostile = await raw_peer(node, status=False)
    await hostile.send_message("shh", PacketCode.MESSAGES, messages())
    assert await disconnect_reason(hostile) is DisconnectReason.SUBPROTOCOL_ERROR
    assert node.peers() == []


async def test_untrusted_direct_message_ignored_trusted_delivered(make_node: NodeFactory) -> None:
    node = await make_node()
    inbox = node.subscribe(Filter(sym_key=KEY, allow_p2p=True))
    sender = await raw_peer(node)
    direct = packets.encode_envelope_packet(sealed(time.time()))
    await sender.send_message("shh", PacketCode.P2P_MESSAGE, direct)
    # A marker envelope sent after it on the same link (processed in order): had the untrusted
    # direct message been delivered, it would come out of the inbox first.
    marker = sealed(time.time())
    await sender.send_message("shh", PacketCode.MESSAGES, messages(marker))
    async with asyncio.timeout(5):
        first = await inbox.get()
    assert first is not None and not first.p2p and first.envelope_hash == marker.hash
    (peer,) = node.peers()
    node.mark_trusted_peer(peer.enode)
    await sender.send_message("shh", PacketCode.P2P_MESSAGE, direct)
    async with asyncio.timeout(5):
        message = await inbox.get()
    assert message is not None and message.p2p and message.payload == b"x"
    assert len(node.pool) == 1 and marker.hash in node.pool  # direct ones are never pooled
    sender.close()


# -- transport-level attacks on a node that keeps serving an honest peer --------------------------


class RawTransport:
    """A devp2p connection driven by hand through the sans-IO core, to send what no node would."""

    def __init__(self, node: Node):
        self.node = node
        self.conn = Connection(
            PrivateKey.generate(os.urandom),
            os.urandom,
            remote_node_id=node.node_key.node_id,
            client_id="hostile",
            capabilities=[Capability("shh", 6, 128)],
        )

    async def open(self, hello: bool) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.node.listen_port)
        await self.flush()
        assert isinstance(await self.event(), Authenticated)
        self.conn.send_hello()
        if hello:
            await self.flush()
            assert isinstance(await self.event(), HelloReceived)
        else:
            self.conn.data_to_send()  # never sent

    async def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def event(self) -> object:
        while (event := self.conn.next_event()) is None:
            data = await self.reader.read(65536)
            if not data:
                return None
            self.conn.receive_data(data)
        return event

    async def disconnect_reason(self) -> DisconnectReason | None:
        async with asyncio.timeout(5):
            while True:
                event = await self.event()
                if event is None:
                    return None
                if isinstance(event, DisconnectReceived):
                    return event.reason


async def wrong_mac(raw: RawTransport) -> None:
    raw.conn.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
    frame = bytearray(raw.conn.data_to_send())
    frame[-1] ^= 0x55
    raw.writer.write(bytes(frame))


async def oversized_frame(raw: RawTransport) -> None:
    raw.conn.send_message("shh", PacketCode.MESSAGES, os.urandom(14 * 1024 * 1024))
    raw.writer.write(raw.conn.data_to_send()[:32])  # the header alone must get it refused


async def garbage(raw: RawTransport) -> None:
    raw.writer.write(os.urandom(200))


TRANSPORT_ATTACKS = {
    "wrong MAC": (True, wrong_mac),
    "oversized frame": (True, oversized_frame),
    "garbage after Hello": (True, garbage),
    "garbage before Hello": (False, garbage),
}


@pytest.mark.parametrize("attack", sorted(TRANSPORT_ATTACKS))
async def test_transport_attack_dropped_honest_peer_served(
    make_node: NodeFactory, attack: str
) -> None:
    node, honest = await make_node(), await make_node()
    await connect(node, honest)
    inbox = honest.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    send_hello, attack_with = TRANSPORT_ATTACKS[attack]
    raw = RawTransport(node)
    await raw.open(hello=send_hello)
    try:
        await attack_with(raw)
        if send_hello:
            assert await raw.disconnect_reason() is DisconnectReason.PROTOCOL_ERROR
        else:  # the node's Hello was already on its way; then its Disconnect
            assert isinstance(await raw.event(), HelloReceived)
            assert await raw.disconnect_reason() is DisconnectReason.PROTOCOL_ERROR
    finally:
        raw.writer.close()
    key = node.keys.add_sym_key(KEY.secret)
    sent = await node.post(PostRequest(b"still here", TOPIC, sym_key_id=key, pow_target=0.05))
    async with asyncio.timeout(5):
        message = await inbox.get()
    assert message is not None and message.envelope_hash == sent
    assert [p.node_id for p in node.peers()] == [honest.node_key.node_id]
