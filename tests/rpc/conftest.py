"""A node with no sockets but the JSON-RPC server's, on 127.0.0.1 and a port from the OS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from rpc_client import Client

from hush.node import Node, NodeConfig
from hush.rpc import RpcConfig, RpcServer


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(NodeConfig(listen=False, datadir=None, pow_processes=1)) as running:
        yield running


@pytest.fixture
def rpc_config() -> RpcConfig:
    return RpcConfig(
        cors_domains=("http://allowed.example",), ws_origins=("http://allowed.example",)
    )


@pytest.fixture
async def server(node: Node, rpc_config: RpcConfig) -> AsyncIterator[RpcServer]:
    rpc = RpcServer(node, rpc_config)
    await rpc.start("127.0.0.1", 0)
    try:
        yield rpc
    finally:
        await rpc.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(server: RpcServer, session: aiohttp.ClientSession) -> Client:
    return Client(session, server.url)
