"""Rate limits on a real node over loopback (hardening.md §2.3).

A hostile peer dials from 127.0.0.2, so that its IP bucket is not the honest peer's (127.0.0.1).
Limits are set so low (0.001 packets/s: one token in 1000 s) that refill can't happen during a
test: what passes and what doesn't depends on packet counts only, never on the machine's speed.
The peer's packets are read in order, so once it gets its Disconnect (or its last envelope is
pooled) every earlier packet has been handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hush.crypto import PrivateKey, SymmetricKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial, serve
from hush.node import Node, PostRequest
from hush.node.ratelimit import Action, Scope, Unit
from hush.node.ratelimit_config import RateLimitMode
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.types import Topic

from .conftest import NodeFactory, connect, disconnect_reason, wait_for

TOPIC = Topic(b"\x0a\x0b\x0c\x0e")
KEY = SymmetricKey(bytes(range(9, 41)))
HOSTILE_IP = "127.0.0.2"
P2P = P2PConfig(client_id="hostile", capabilities=(("shh", 6, 128),))


def _can_bind(host: str) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


pytestmark = pytest.mark.skipif(
    not _can_bind(HOSTILE_IP), reason=f"{HOSTILE_IP} is not a local address here"
)


def limits(mode: RateLimitMode, **changes: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "min_pow": 0.0,  # unsealed envelopes: nothing to mine in these tests
        "ratelimit": mode,
        "ratelimit_packets": (0.001, 8),  # status + 7 `messages` packets, then nothing refills
        "ratelimit_tolerance": 3,
        "ratelimit_exempt_loopback": False,
    }
    settings.update(changes)
    return settings


def envelope(n: int) -> Envelope:
    return wrap(n.to_bytes(4, "big"), TOPIC, int(time.time()), os.urandom, sym_key=KEY, ttl=60)


@contextlib.contextmanager
def _from_source(host: str) -> Iterator[None]:
    """Make `hush.net.dial`'s TCP connect bind `host`, so the node sees that address."""
    real = asyncio.open_connection

    async def open_from(*args: Any, **kwargs: Any) -> Any:
        return await real(*args, local_addr=(host, 0), **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio, "open_connection", open_from)
        yield


async def hostile_peer(node: Node, key: PrivateKey | None = None) -> PeerConnection:
    with _from_source(HOSTILE_IP):
        connection = await dial(
            key or PrivateKey.generate(os.urandom), Enode.parse(node.enode), P2P
        )
    assert connection.local_address[0] == HOSTILE_IP
    await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
    return connection


async def flood(connection: PeerConnection, count: int) -> list[Envelope]:
    """`count` `messages` packets of one new envelope each."""
    sent = [envelope(i) for i in range(count)]
    for item in sent:
        await connection.send_message(
            "shh", PacketCode.MESSAGES, packets.encode_messages([item.encode()])
        )
    return sent


async def exchange(node: Node, honest: Node, text: bytes) -> None:
    """A message each way between `node` and `honest`, each delivered."""
    for sender, receiver in ((node, honest), (honest, node)):
        inbox = receiver.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
        key = sender.keys.add_sym_key(KEY.secret)
        sent = await sender.post(PostRequest(text, TOPIC, sym_key_id=key, pow_target=0.01))
        async with asyncio.timeout(5):
            while (message := await inbox.get()) is not None and message.envelope_hash != sent:
                pass
        assert message is not None and message.payload == text
        inbox.close()


async def test_enforce_drops_excess_then_disconnects_honest_peer_served(
    make_node: NodeFactory,
) -> None:
    node = await make_node(**limits(RateLimitMode.ENFORCE))
    honest = await make_node(min_pow=0.0)
    await connect(honest, node)  # inbound at `node`, so neither static nor trusted there
    hostile = await hostile_peer(node)

    passed = await flood(hostile, 7)  # with the status: the burst of 8
    dropped = await flood(hostile, 3)  # 2 dropped; the 3rd exceedance is the tolerance
    assert await disconnect_reason(hostile) is DisconnectReason.SUBPROTOCOL_ERROR

    assert all(e.hash in node.pool for e in passed)
    assert not any(e.hash in node.pool for e in dropped)
    stats = node.rate_limit_stats()
    assert stats.mode is RateLimitMode.ENFORCE
    for scope in Scope:
        assert stats.exceeded[(scope, Unit.PACKETS, Action.DROPPED)] == 2
        assert stats.exceeded[(scope, Unit.PACKETS, Action.DISCONNECTED)] == 1
        assert stats.exceeded[(scope, Unit.BYTES, Action.DROPPED)] == 0
    assert stats.checked[Unit.PACKETS] >= 11  # the hostile's 11, the honest peer's status

    await wait_for(lambda: [p.node_id for p in node.peers()] == [honest.node_key.node_id])
    await exchange(node, honest, b"still here")


async def test_reconnecting_under_a_new_id_keeps_the_ip_strikes(make_node: NodeFactory) -> None:
    node = await make_node(**limits(RateLimitMode.ENFORCE))
    first = await hostile_peer(node)
    await flood(first, 7)
    await flood(first, 2)  # two strikes on the peer id and on 127.0.0.2
    first.close()
    await wait_for(lambda: not node.peers())
    second = await hostile_peer(node)  # new node id; its status exceeds 127.0.0.2's bucket
    assert await disconnect_reason(second) is DisconnectReason.SUBPROTOCOL_ERROR


async def test_observe_counts_and_keeps_everything(make_node: NodeFactory) -> None:
    node = await make_node(**limits(RateLimitMode.OBSERVE))
    hostile = await hostile_peer(node)
    sent = await flood(hostile, 10)
    await wait_for(lambda: all(e.hash in node.pool for e in sent))
    stats = node.rate_limit_stats()
    for scope in Scope:
        assert stats.exceeded[(scope, Unit.PACKETS, Action.OBSERVED)] == 3
        assert stats.exceeded[(scope, Unit.PACKETS, Action.DROPPED)] == 0
        assert stats.exceeded[(scope, Unit.PACKETS, Action.DISCONNECTED)] == 0
    assert len(node.peers()) == 1
    hostile.close()


async def test_off_counts_nothing(make_node: NodeFactory) -> None:
    node = await make_node(**limits(RateLimitMode.OFF))
    hostile = await hostile_peer(node)
    sent = await flood(hostile, 10)
    await wait_for(lambda: all(e.hash in node.pool for e in sent))
    stats = node.rate_limit_stats()
    assert stats.checked[Unit.PACKETS] == 0 and sum(stats.exceeded.values()) == 0
    hostile.close()


async def test_trusted_peer_is_exempt(make_node: NodeFactory) -> None:
    node = await make_node(**limits(RateLimitMode.ENFORCE))
    key = PrivateKey.generate(os.urandom)
    node.add_trusted_peer(Enode(key.node_id, HOSTILE_IP, 30303))
    hostile = await hostile_peer(node, key)
    sent = await flood(hostile, 20)
    await wait_for(lambda: all(e.hash in node.pool for e in sent))
    stats = node.rate_limit_stats()
    assert stats.exempt == 21 and stats.checked[Unit.PACKETS] == 0
    assert sum(stats.exceeded.values()) == 0
    hostile.close()


async def test_loopback_exempt_by_default(make_node: NodeFactory) -> None:
    node = await make_node(**limits(RateLimitMode.ENFORCE, ratelimit_exempt_loopback=True))
    hostile = await hostile_peer(node)
    sent = await flood(hostile, 20)
    await wait_for(lambda: all(e.hash in node.pool for e in sent))
    assert node.rate_limit_stats().exempt == 21
    hostile.close()


async def test_listed_address_is_exempt(make_node: NodeFactory) -> None:
    node = await make_node(**limits(RateLimitMode.ENFORCE, ratelimit_exempt=(HOSTILE_IP,)))
    hostile = await hostile_peer(node)
    sent = await flood(hostile, 20)
    await wait_for(lambda: all(e.hash in node.pool for e in sent))
    assert node.rate_limit_stats().exempt == 21
    hostile.close()


async def test_static_peer_is_exempt(make_node: NodeFactory) -> None:
    """The node dials a static peer; that peer then floods."""
    node = await make_node(**limits(RateLimitMode.ENFORCE))
    key = PrivateKey.generate(os.urandom)
    sent: list[Envelope] = []
    done = asyncio.Event()

    async def on_connection(connection: PeerConnection) -> None:
        await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
        sent.extend(await flood(connection, 20))
        done.set()
        with contextlib.suppress(PeerDisconnected):
            while True:
                await connection.read_message()

    server = await serve(key, "127.0.0.1", 0, P2P, on_connection)
    try:
        port = server.sockets[0].getsockname()[1]
        node.add_peer(Enode(key.node_id, "127.0.0.1", port))
        async with asyncio.timeout(5):
            await done.wait()
        await wait_for(lambda: all(e.hash in node.pool for e in sent))
        stats = node.rate_limit_stats()
        assert stats.exempt == 21 and sum(stats.exceeded.values()) == 0
    finally:
        await node.remove_peer(Enode(key.node_id, "127.0.0.1", port))
        server.close()
        await server.wait_closed()
