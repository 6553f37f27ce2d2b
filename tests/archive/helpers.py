"""Shared by the archive's node-level tests: an archive node on loopback, a hand-driven shh peer
that sends code 126 requests and reads the exact 127/125 packets back."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from hush.archive.server import REQUEST_COMPLETE, ArchiveConfig, ArchiveServer
from hush.archive.store import open_store
from hush.crypto import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial
from hush.node import Node, NodeConfig
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.types import Topic

PASSWORD = "status-offline-inbox"
VECTORS = Path(__file__).parent.parent / "vectors"
ZERO_TOPIC = Topic(bytes(4))


def geth_envelopes() -> list[bytes]:
    """The raw bytes of the envelopes a real geth 1.9.7 made (tests/vectors/envelopes.json)."""
    vectors = json.loads((VECTORS / "envelopes.json").read_text())["vectors"]
    return [bytes.fromhex(v["envelope_rlp"][2:]) for v in vectors]


@functools.cache
def password_key() -> SymmetricKey:
    return SymmetricKey.from_password(PASSWORD)  # PBKDF2, 65356 rounds: once


def node_config(**overrides: object) -> NodeConfig:
    settings: dict[str, object] = {
        "datadir": None,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "min_pow": 0.0,
        "pow_processes": 1,
        "send_interval": 0.005,
    }
    settings.update(overrides)
    return NodeConfig(**settings)  # type: ignore[arg-type]


@asynccontextmanager
async def archive_node(
    db_url: str, config: ArchiveConfig | None = None, **node_overrides: object
) -> AsyncIterator[tuple[Node, ArchiveServer]]:
    store = open_store(db_url, None)
    # Retention off: the geth vectors are dated, and would age out of a 30-day archive.
    config = replace(config or ArchiveConfig(password=PASSWORD), retention_days=0)
    server = ArchiveServer(store, config)
    async with server:
        node = Node(
            node_config(**node_overrides), observers=[server.observer], mail_handler=server.handle
        )
        async with node:
            yield node, server


async def raw_peer(node: Node | str) -> PeerConnection:
    """A devp2p connection to a node (or an enode URL) whose shh packets the test writes."""
    config = P2PConfig(client_id="archive-client", capabilities=(("shh", 6, 128),))
    enode = Enode.parse(node if isinstance(node, str) else node.enode)
    connection = await dial(PrivateKey.generate(os.urandom), enode, config)
    await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
    return connection


def request_envelope(
    payload: bytes,
    now: int,
    *,
    sym_key: SymmetricKey | None = None,
    public_key: bytes | None = None,
    signed: bool = True,
) -> Envelope:
    if sym_key is None and public_key is None:
        sym_key = password_key()
    return wrap(
        payload,
        ZERO_TOPIC,
        now,
        os.urandom,
        sym_key=sym_key,
        public_key=public_key,
        signer=PrivateKey.generate(os.urandom) if signed else None,
    )


async def exchange(
    connection: PeerConnection, payload: bytes, timeout: float = 10.0
) -> tuple[list[bytes], bytes]:
    """Send a 126 payload; the 127 payloads that came back, and the 125 that ended them."""
    await connection.send_message("shh", PacketCode.P2P_REQUEST, payload)
    return await read_reply(connection, timeout)


async def read_reply(
    connection: PeerConnection, timeout: float = 10.0
) -> tuple[list[bytes], bytes]:
    messages: list[bytes] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, code, data = await connection.read_message()
            except PeerDisconnected as exc:
                raise AssertionError(f"the archive node disconnected: {exc}") from exc
            if code == PacketCode.P2P_MESSAGE:
                messages.append(data)
            elif code == REQUEST_COMPLETE:
                return messages, data


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until `condition()` holds (the explicit signal), failing past `timeout`."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
