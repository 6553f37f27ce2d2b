"""The discovery shell over real UDP on loopback and over the in-memory datagram network:
bootstrapping from one bootnode, the table saved and reloaded, hostile datagrams over UDP."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from hush.crypto import PrivateKey
from hush.discovery.v4 import enr
from hush.discovery.v4.packets import FindNode, Ping, encode_packet
from hush.discovery.v4.protocol import Discv4Config
from hush.net.discovery import Discovery, DiscoveryConfig, MemoryDatagramNetwork
from hush.net.discovery.store import STORE_FILE, load_state

FAST = Discv4Config(request_timeout=0.5, bond_wait=0.1, packet_rate=1e5, packet_burst=1e5)


def _config(**overrides: object) -> DiscoveryConfig:
    settings: dict[str, object] = {"host": "127.0.0.1", "port": 0, "protocol": FAST}
    settings.update(overrides)
    return DiscoveryConfig(**settings)  # type: ignore[arg-type]


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_udp_nodes_find_each_other_through_one_bootnode() -> None:
    boot = Discovery(PrivateKey.generate(os.urandom), 0, _config())
    await boot.start()
    nodes = [
        Discovery(PrivateKey.generate(os.urandom), 20000 + i, _config(bootnodes=(boot.enode,)))
        for i in range(8)
    ]
    try:
        for node in nodes:
            await node.start()
        # every node learns every other from the bootnode's answers and its own lookups
        await wait_for(lambda: all(n.table_size() >= 8 for n in nodes))
        tcp_ports = {e.tcp_port for e in nodes[0].random_nodes(99)}
        assert {20001, 20002, 20003} <= tcp_ports  # the advertised TCP port travels
    finally:
        for node in nodes:
            await node.stop()
        await boot.stop()


async def test_memory_network_runs_discovery() -> None:
    network = MemoryDatagramNetwork()
    boot = Discovery(PrivateKey.generate(os.urandom), 1, _config(), open_endpoint=network.open)
    await boot.start()
    nodes = [
        Discovery(
            PrivateKey.generate(os.urandom),
            100 + i,
            _config(bootnodes=(boot.enode,), lookup_gap=0.05),
            open_endpoint=network.open,
        )
        for i in range(20)
    ]

    def filled() -> bool:
        for node in nodes:  # what the dial policy does while it lacks candidates
            node.request_lookup()
        return all(n.table_size() >= 16 for n in nodes)

    try:
        for node in nodes:
            await node.start()
        try:
            await wait_for(filled)
        except TimeoutError:
            raise AssertionError(sorted(n.table_size() for n in nodes)) from None
        assert network.sent > 0
    finally:
        for node in nodes:
            await node.stop()
        await boot.stop()


async def test_table_and_enr_seq_persist(tmp_path: Path) -> None:
    network = MemoryDatagramNetwork()
    key = PrivateKey.generate(os.urandom)
    other = Discovery(PrivateKey.generate(os.urandom), 1, _config(), open_endpoint=network.open)
    await other.start()
    first = Discovery(key, 7, _config(port=41000), datadir=tmp_path, open_endpoint=network.open)
    await first.start()
    first.ping(other.enode)
    await wait_for(lambda: first.table_size() == 1)
    seq = first.record.seq
    await first.stop()
    assert (tmp_path / STORE_FILE).stat().st_mode & 0o777 == 0o600
    state = load_state(tmp_path)
    assert [e.node_id for e in state.nodes] == [other.key.node_id]
    # same endpoint: same record sequence; the table comes back without any bootnode
    again = Discovery(key, 7, _config(port=41000), datadir=tmp_path, open_endpoint=network.open)
    await again.start()
    assert again.table_size() == 1 and again.record.seq == seq
    await again.stop()
    moved = Discovery(key, 8, _config(port=41000), datadir=tmp_path, open_endpoint=network.open)
    await moved.start()
    assert moved.record.seq == seq + 1  # a new endpoint: a new record
    await moved.stop()
    await other.stop()


def test_a_malformed_store_starts_empty(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_text("{nope")
    assert load_state(tmp_path).nodes == []
    (tmp_path / STORE_FILE).write_text(
        '{"nodes": ["enode://zz", 5], "enr_seq": -1, "useless": {"a": 1}}'
    )
    state = load_state(tmp_path)
    assert state.nodes == [] and state.enr_seq == 0 and state.useless == {}


async def test_hostile_udp_input_is_dropped() -> None:
    """Garbage, oversized, expired, unproven FindNode (amplification) and a flood from one IP:
    no answer goes out for any of them, and the table stays empty."""
    protocol = dataclasses.replace(FAST, packet_rate=1.0, packet_burst=50.0)
    node = Discovery(PrivateKey.generate(os.urandom), 1, _config(protocol=protocol))
    await node.start()
    mallory = PrivateKey.generate(os.urandom)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    honest = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    honest.bind(("127.0.0.2", 0))
    honest.setblocking(False)
    target = ("127.0.0.1", node.port)
    try:
        now = int(node.clock.time())
        sock.sendto(os.urandom(300), target)
        sock.sendto(b"\x00" * 1400, target)
        here = node.core.endpoint
        sock.sendto(encode_packet(Ping(4, here, here, now - 5), mallory)[0], target)
        findnode = encode_packet(FindNode(mallory.node_id, now + 20), mallory)[0]
        for _ in range(60):
            sock.sendto(findnode, target)
        dropped = node.core.dropped
        await wait_for(lambda: sum(dropped.values()) >= 63)
        assert dropped["malformed"] == 2 and dropped["expired"] == 1
        assert dropped["unproven"] == 47 and dropped["budget"] == 13
        assert len(node.core.table) == 0
        # Replies go out while a datagram is handled, so any answer to the above would be
        # queued at `sock` by now; a Ping from another IP is answered, proving the node lives.
        honest.sendto(encode_packet(Ping(4, here, here, now + 20), mallory)[0], target)
        loop = asyncio.get_running_loop()
        reply = await asyncio.wait_for(loop.sock_recv(honest, 2048), 5)
        assert reply[97] == 0x02  # a Pong
        with pytest.raises(BlockingIOError):
            sock.recv(2048)
    finally:
        sock.close()
        honest.close()
        await node.stop()


async def test_the_shh_entry_travels_in_enr_responses(tmp_path: Path) -> None:
    network = MemoryDatagramNetwork()
    asked = Discovery(PrivateKey.generate(os.urandom), 1, _config(), open_endpoint=network.open)
    flagged = dataclasses.replace(FAST, enr_shh=True)
    key = PrivateKey.generate(os.urandom)
    config = _config(port=41001, protocol=flagged)
    hush = Discovery(key, 7, config, datadir=tmp_path, open_endpoint=network.open)
    async with asked, hush:
        assert enr.shh_versions(hush.record) == (6,)
        asked.ping(hush.enode)
        await wait_for(lambda: asked.table_size() == 1)
        node = asked.core.table.get(key.node_id)
        assert node is not None and asked.core.request_enr(node, asked.clock.time())
        asked._flush()
        await wait_for(lambda: key.node_id in asked.core.records)
        assert enr.shh_versions(asked.core.records[key.node_id]) == (6,)
        seq = hush.record.seq
    # the same endpoint without the flag is another record: a new sequence number
    plain = Discovery(key, 7, _config(port=41001), datadir=tmp_path, open_endpoint=network.open)
    async with plain:
        assert enr.shh_versions(plain.record) is None and plain.record.seq == seq + 1
