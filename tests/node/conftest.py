"""Helpers for node tests: real nodes on 127.0.0.1 with OS-chosen ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from hush.node import Node, NodeConfig


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
