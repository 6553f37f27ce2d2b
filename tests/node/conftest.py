"""Helpers for node tests: real nodes on 127.0.0.1 with OS-chosen ports, and hand-driven shh peers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial
from hush.node import Node, NodeConfig
from hush.shh import packets
from hush.shh.packets import PacketCode, Status


def config(**overrides: object) -> NodeConfig:
    settings: dict[str, object] = {
        "datadir": None,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "min_pow": 0.01,
        "pow_processes": 1,
        "send_interval": 0.005,
    }
    settings.update(overrides)
    return NodeConfig(**settings)  # type: ignore[arg-type]


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def connect(a: Node, b: Node) -> None:
    a.add_peer(b.enode)
    await wait_for(
        lambda: (
            any(p.node_id == b.node_key.node_id for p in a.peers())
            and any(p.node_id == a.node_key.node_id for p in b.peers())
        )
    )
    # Both shh handshakes done: each side has processed the other's status.
    await wait_for(lambda: all(p.shh.active for p in (*a._peers.values(), *b._peers.values())))


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node() -> AsyncIterator[NodeFactory]:
    async with AsyncExitStack() as stack:

        async def factory(**overrides: object) -> Node:
            return await stack.enter_async_context(Node(config(**overrides)))

        yield factory


async def raw_peer(node: Node, status: bool = True) -> PeerConnection:
    """A devp2p connection to `node` whose shh packets the test writes by hand."""
    config = P2PConfig(client_id="hostile", capabilities=(("shh", 6, 128),))
    enode = Enode.parse(node.enode)
    connection = await dial(PrivateKey.generate(os.urandom), enode, config)
    if status:
        await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
    return connection


async def disconnect_reason(connection: PeerConnection) -> DisconnectReason:
    async with asyncio.timeout(5):
        try:
            while True:
                await connection.read_message()
        except PeerDisconnected as exc:
            assert exc.by_remote
            return exc.reason
