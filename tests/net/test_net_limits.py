"""Connection limits: the pure gate with a fake clock, then the listener over loopback TCP."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial, serve
from hush.net.limits import AcceptErrorLog, ConnectionGate, Refusal, Slot, connection_budget
from hush.net.peer import Listener, gate_for
from hush.types import NodeID

HOST = "127.0.0.1"


def gate(**overrides: Any) -> ConnectionGate:
    settings: dict[str, Any] = {
        "max_pending_inbound": 3,
        "max_inbound_per_ip": 2,
        "inbound_throttle": 30.0,
        "exempt_lan": True,
        "max_connections": 100,
    }
    settings.update(overrides)
    return ConnectionGate(**settings)


# -- the gate, no sockets --------------------------------------------------------------------------


def test_pending_cap_counts_every_address_and_frees_on_established() -> None:
    g = gate(max_pending_inbound=2, inbound_throttle=0)
    a, b = g.inbound("127.0.0.1", 0), g.inbound("10.0.0.1", 0)
    assert isinstance(a, Slot) and isinstance(b, Slot)
    assert g.inbound("127.0.0.2", 0) is Refusal.PENDING
    g.established(a)
    assert g.pending == 1 and g.total == 2
    assert isinstance(g.inbound("127.0.0.2", 0), Slot)
    assert g.refused == {Refusal.PENDING: 1}


def test_a_stale_pending_handshake_makes_room_for_a_newcomer() -> None:
    g = gate(max_pending_inbound=2, inbound_throttle=0, evict_pending_after=1.0)
    aborted: list[str] = []
    old = g.inbound("127.0.0.1", 10.0)
    young = g.inbound("127.0.0.2", 10.5)
    assert isinstance(old, Slot) and isinstance(young, Slot)
    old.abort = lambda: aborted.append("old")
    young.abort = lambda: aborted.append("young")
    assert g.inbound("127.0.0.3", 10.9) is Refusal.PENDING  # nobody pending for 1 s yet
    newcomer = g.inbound("127.0.0.3", 11.0)
    assert isinstance(newcomer, Slot)
    assert aborted == ["old"] and old.released and g.pending == 2 and g.total == 2
    g.release(old)  # the aborted socket's own close later changes nothing
    assert g.total == 2
    g.established(young)
    assert g.refused == {Refusal.PENDING: 1, Refusal.EVICTED: 1}


def test_per_ip_cap_counts_pending_and_established() -> None:
    g = gate(inbound_throttle=0, max_pending_inbound=10)
    first, second = g.inbound("1.2.3.4", 0), g.inbound("1.2.3.4", 0)
    assert isinstance(first, Slot) and isinstance(second, Slot)
    g.established(first)
    assert g.inbound("1.2.3.4", 0) is Refusal.PER_IP
    assert isinstance(g.inbound("1.2.3.5", 0), Slot)
    g.release(first)
    g.release(first)  # once only
    assert g.per_ip == {"1.2.3.4": 1, "1.2.3.5": 1}
    assert isinstance(g.inbound("::ffff:1.2.3.4", 0), Slot)  # IPv4-mapped is the same IP
    assert g.inbound("1.2.3.4", 0) is Refusal.PER_IP


def test_ipv6_counts_by_slash_64() -> None:
    g = gate(inbound_throttle=0, max_pending_inbound=10)
    assert isinstance(g.inbound("2a00:1450:1:2::1", 0), Slot)
    assert isinstance(g.inbound("2a00:1450:1:2:ffff::9", 0), Slot)
    assert g.inbound("2a00:1450:1:2::77", 0) is Refusal.PER_IP
    assert isinstance(g.inbound("2a00:1450:1:3::1", 0), Slot)


def test_throttle_refuses_a_quick_reconnect_until_it_expires() -> None:
    g = gate(max_inbound_per_ip=10)
    slot = g.inbound("8.8.8.8", 100.0)
    assert isinstance(slot, Slot)
    g.release(slot)
    assert g.inbound("8.8.8.8", 129.0) is Refusal.THROTTLED
    assert isinstance(g.inbound("8.8.4.4", 129.0), Slot)
    assert isinstance(g.inbound("8.8.8.8", 130.0), Slot)  # 30 s after the accepted one


def test_lan_is_exempt_unless_configured() -> None:
    for host in ("127.0.0.1", "::1", "192.168.1.5", "10.1.2.3", "fe80::1"):
        g = gate()
        assert all(isinstance(g.inbound(host, 0), Slot) for _ in range(3)), host
    g = gate(exempt_lan=False, max_inbound_per_ip=5)
    assert isinstance(g.inbound("127.0.0.1", 0), Slot)
    assert g.inbound("127.0.0.1", 1) is Refusal.THROTTLED


def test_budget_keeps_a_reserve_for_dials() -> None:
    g = gate(max_connections=20, max_pending_inbound=100, inbound_throttle=0, exempt_lan=True)
    inbound = [g.inbound("127.0.0.1", 0) for _ in range(15)]
    assert all(isinstance(s, Slot) for s in inbound)
    assert g.inbound("127.0.0.1", 0) is Refusal.BUDGET  # 20 - 5 reserved for dials
    dials = [g.outbound() for _ in range(5)]
    assert all(isinstance(s, Slot) for s in dials)
    assert g.outbound() is None
    g.release(dials[0])  # type: ignore[arg-type]
    assert g.outbound() is not None


def test_budget_from_the_open_file_limit() -> None:
    assert connection_budget(128) == 64
    assert connection_budget(1024) == 768
    assert connection_budget(64) == 32
    assert connection_budget(None) > 10_000


def test_accept_errors_are_one_line(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        delegated: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: delegated.append(context))
        handler = AcceptErrorLog()
        handler.install(loop)
        error = OSError(24, "Too many open files")
        with caplog.at_level(logging.WARNING, logger="hush.net.limits"):
            for _ in range(1000):
                loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": error}
                )
            loop.call_exception_handler({"message": "something else"})
        assert [r.getMessage() for r in caplog.records if "accept" in r.getMessage()] == [
            "cannot accept connections: Too many open files (1 time(s) so far; retried every "
            "second); raise the open-file limit (ulimit -n) or lower --max-peers"
        ]
        assert handler.count == 1000
        assert delegated == [{"message": "something else"}]
    finally:
        loop.close()


# -- the listener over loopback ----------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


Start = Callable[..., Awaitable[tuple[Listener, ConnectionGate, Enode]]]


@pytest.fixture
async def listen() -> AsyncIterator[Start]:
    listeners: list[Listener] = []
    peers: list[PeerConnection] = []

    async def start(config: P2PConfig) -> tuple[Listener, ConnectionGate, Enode]:
        key = PrivateKey.generate(os.urandom)

        async def on_connection(peer: PeerConnection) -> None:
            peers.append(peer)
            with pytest.raises(PeerDisconnected):
                while True:
                    await peer.read_message()

        g = gate_for(config)
        listener = await serve(key, HOST, 0, config, on_connection, gate=g)
        listeners.append(listener)
        port = listener.sockets[0].getsockname()[1]
        return listener, g, Enode(NodeID(key.node_id), HOST, port)

    yield start
    for peer in peers:
        peer.close()
    for listener in listeners:
        listener.close()
        await listener.wait_closed()


async def idle_connection(enode: Enode) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(enode.ip, enode.tcp_port)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 3) == b""
    except ConnectionResetError:
        return True


async def test_connections_beyond_the_pending_cap_are_closed_at_once(listen: Start) -> None:
    # A handshake deadline far beyond the test's waits: any close seen is the cap's doing.
    config = P2PConfig(
        handshake_timeout=60, max_pending_inbound=2, inbound_throttle=0, evict_pending_after=None
    )
    _, g, enode = await listen(config)
    held = [await idle_connection(enode) for _ in range(2)]
    await wait_until(lambda: g.pending == 2)
    reader, writer = await idle_connection(enode)
    assert await closed_by_server(reader)
    writer.close()
    for _, w in held:
        w.close()
    await wait_until(lambda: g.total == 0)
    # With the slots free again, an honest peer gets in.
    peer = await dial(PrivateKey.generate(os.urandom), enode, config)
    await wait_until(lambda: g.total == 1 and g.pending == 0)
    peer.close()


async def test_idle_squatters_are_evicted_for_an_honest_peer(listen: Start) -> None:
    config = P2PConfig(
        handshake_timeout=60, max_pending_inbound=2, inbound_throttle=0, evict_pending_after=0.2
    )
    _, g, enode = await listen(config)
    held = [await idle_connection(enode) for _ in range(2)]
    await wait_until(lambda: g.pending == 2)
    await asyncio.sleep(0.3)  # both squatters are now past evict_pending_after
    peer = await dial(PrivateKey.generate(os.urandom), enode, config)
    assert await closed_by_server(held[0][0])  # the oldest made room
    assert g.refused[Refusal.EVICTED] == 1
    peer.close()
    for _, writer in held:
        writer.close()


async def test_per_ip_cap_and_throttle_on_loopback_when_not_exempt(listen: Start) -> None:
    config = P2PConfig(
        handshake_timeout=60, max_inbound_per_ip=2, inbound_throttle=0, exempt_lan=False
    )
    _, g, enode = await listen(config)
    key = PrivateKey.generate(os.urandom)
    peer = await dial(key, enode, config)  # one established
    _, writer1 = await idle_connection(enode)  # one pending
    await wait_until(lambda: g.total == 2)
    reader2, writer2 = await idle_connection(enode)
    assert await closed_by_server(reader2)
    for writer in (writer1, writer2):
        writer.close()
    peer.close()
    await wait_until(lambda: g.total == 0)

    throttled = P2PConfig(handshake_timeout=60, inbound_throttle=30, exempt_lan=False)
    _, g, enode = await listen(throttled)
    peer = await dial(key, enode, throttled)
    peer.close()
    with pytest.raises(PeerDisconnected, match="EOF during handshake"):
        await dial(key, enode, throttled)
    assert g.refused == {Refusal.THROTTLED: 1}


async def test_loopback_is_exempt_by_default(listen: Start) -> None:
    config = P2PConfig(handshake_timeout=60, max_inbound_per_ip=1)
    _, g, enode = await listen(config)
    held = [await idle_connection(enode) for _ in range(3)]
    peer = await dial(PrivateKey.generate(os.urandom), enode, config)
    await wait_until(lambda: g.total == 4)
    assert not g.refused
    peer.close()
    for _, writer in held:
        writer.close()


async def test_slowloris_handshake_is_closed_at_the_deadline(listen: Start) -> None:
    config = P2PConfig(handshake_timeout=0.5)
    _, g, enode = await listen(config)
    reader, writer = await idle_connection(enode)
    await wait_until(lambda: g.pending == 1)

    async def drip() -> None:
        for _ in range(100):  # one byte of an "auth" every 50 ms: never enough, never silent
            writer.write(b"\x01")
            await asyncio.sleep(0.05)

    dripping = asyncio.create_task(drip())
    try:
        assert await closed_by_server(reader)
        # Nothing of the connection is left on the server: its slot went with its socket.
        await wait_until(lambda: g.total == 0 and g.pending == 0 and not g.per_ip)
    finally:
        dripping.cancel()
        writer.close()


async def test_dials_take_slots_of_the_budget(listen: Start) -> None:
    config = P2PConfig(handshake_timeout=5)
    _, _, enode = await listen(config)
    budget = ConnectionGate(
        max_pending_inbound=1,
        max_inbound_per_ip=1,
        inbound_throttle=0,
        exempt_lan=True,
        max_connections=1,
    )
    key = PrivateKey.generate(os.urandom)
    peer = await dial(key, enode, config, gate=budget)
    assert budget.total == 1
    with pytest.raises(PeerDisconnected, match="connection budget") as info:
        await dial(PrivateKey.generate(os.urandom), enode, config, gate=budget)
    assert info.value.reason is DisconnectReason.NETWORK_ERROR
    peer.close()
    await wait_until(lambda: budget.total == 0)
