"""The asyncio shell over real loopback TCP (127.0.0.1, port 0): happy path and hostile peers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from hush import rlp
from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.net import P2PConfig, PeerConnection, PeerDisconnected, dial, serve
from hush.net.connection import linger_close
from hush.net.handshake import establish
from hush.rlpx import (
    Authenticated,
    Capability,
    Connection,
    DisconnectReceived,
    Event,
    HelloReceived,
    MessageReceived,
)
from hush.types import NodeID

HOST = "127.0.0.1"
FAST = P2PConfig(handshake_timeout=1.0, read_timeout=2.0, write_timeout=1.0, ping_interval=0.5)


def new_key() -> PrivateKey:
    return PrivateKey.generate(os.urandom)


@dataclass
class Server:
    key: PrivateKey
    port: int
    server: asyncio.Server
    peers: asyncio.Queue[PeerConnection] = field(default_factory=asyncio.Queue)
    outcomes: asyncio.Queue[PeerDisconnected] = field(default_factory=asyncio.Queue)

    @property
    def enode(self) -> Enode:
        return Enode(NodeID(self.key.node_id), HOST, self.port)


Handler = Callable[[PeerConnection, Server], Awaitable[None]]


async def read_until_gone(peer: PeerConnection, server: Server) -> None:
    """Default server behaviour: echo shh messages back until the peer goes."""
    await server.peers.put(peer)
    try:
        while True:
            capability, code, payload = await peer.read_message()
            await peer.send_message(capability, code, payload)
    except PeerDisconnected as exc:
        await server.outcomes.put(exc)


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(
        config: P2PConfig = FAST,
        handler: Handler = read_until_gone,
        admit: Callable[[NodeID, bool], DisconnectReason | None] | None = None,
        key: PrivateKey | None = None,
    ) -> Server:
        holder: list[Server] = []

        async def on_connection(peer: PeerConnection) -> None:
            await handler(peer, holder[0])

        key = key or new_key()
        server = await serve(key, HOST, 0, config, on_connection, admit=admit)
        result = Server(key, server.sockets[0].getsockname()[1], server)
        holder.append(result)
        servers.append(result)
        return result

    yield start
    for server in servers:
        server.server.close()
        await server.server.wait_closed()
    await asyncio.sleep(0.05)  # let handler tasks observe their closed transports


async def test_exchange_messages_both_ways(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    client_key = new_key()
    peer = await dial(client_key, server.enode, FAST)
    try:
        assert peer.node_id == server.key.node_id
        assert not peer.inbound
        assert peer.client_id == FAST.client_id
        assert peer.remote_capabilities == (("shh", 6),)
        assert peer.remote_address == (HOST, server.port)
        remote = await asyncio.wait_for(server.peers.get(), 1)
        assert remote.inbound
        assert remote.node_id == client_key.node_id
        assert peer._conn.snappy and remote._conn.snappy
        big = rlp.encode([os.urandom(200_000)])  # spans many TCP reads
        for code, payload in [(1, b"\xc0"), (127, big), (0, rlp.encode([rlp.uint_bytes(6), b"x"]))]:
            await peer.send_message("shh", code, payload)
            assert await asyncio.wait_for(peer.read_message(), 2) == ("shh", code, payload)
        await remote.send_message("shh", 2, b"\x05")
        assert await asyncio.wait_for(peer.read_message(), 2) == ("shh", 2, b"\x05")
    finally:
        await peer.disconnect(DisconnectReason.REQUESTED)
    outcome = await asyncio.wait_for(server.outcomes.get(), 2)
    assert outcome.reason is DisconnectReason.REQUESTED
    assert outcome.by_remote
    with pytest.raises(PeerDisconnected) as info:
        await peer.read_message()
    assert not info.value.by_remote
    with pytest.raises(PeerDisconnected):
        await peer.send_message("shh", 1, b"\xc0")


async def test_pings_keep_an_idle_connection_alive(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    config = P2PConfig(handshake_timeout=1.0, read_timeout=0.4, ping_interval=0.1)
    server = await start_server(config)
    peer = await dial(new_key(), server.enode, config)
    try:
        await asyncio.sleep(1.0)  # 2.5 read timeouts of application silence
        await peer.send_message("shh", 3, b"\x01")
        assert await asyncio.wait_for(peer.read_message(), 1) == ("shh", 3, b"\x01")
    finally:
        peer.close()


async def test_admit_refusal_reaches_the_dialer(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    seen: list[tuple[NodeID, bool]] = []

    def admit(node_id: NodeID, inbound: bool) -> DisconnectReason | None:
        seen.append((node_id, inbound))
        return DisconnectReason.TOO_MANY_PEERS

    server = await start_server(admit=admit)
    client_key = new_key()
    with pytest.raises(PeerDisconnected) as info:
        await dial(client_key, server.enode, FAST)
    assert info.value.reason is DisconnectReason.TOO_MANY_PEERS
    assert info.value.by_remote
    assert seen == [(client_key.node_id, True)]


async def test_dialer_admit_refusal(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    with pytest.raises(PeerDisconnected) as info:
        await dial(
            new_key(), server.enode, FAST, lambda _id, _in: DisconnectReason.ALREADY_CONNECTED
        )
    assert info.value.reason is DisconnectReason.ALREADY_CONNECTED
    assert not info.value.by_remote


async def test_self_connection_is_refused(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    with pytest.raises(PeerDisconnected) as info:
        await dial(server.key, server.enode, FAST)
    assert info.value.reason is DisconnectReason.SELF_CONNECTION


async def test_dial_to_silent_listener_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    listener = await asyncio.start_server(silent, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    config = P2PConfig(handshake_timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(PeerDisconnected) as info:
            await dial(new_key(), Enode(NodeID(new_key().node_id), HOST, port), config)
        assert info.value.reason is DisconnectReason.READ_TIMEOUT
        assert loop.time() - started < 1.0
    finally:
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_establish_counts_the_deadline_from_started() -> None:
    """The dialer's one deadline covers the connect too: `establish(started=)` gets only what is
    left of it (the core's handshake timer counts from `started`)."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    listener = await asyncio.start_server(silent, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    config = P2PConfig(handshake_timeout=3.0)
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        started = loop.time()
        with pytest.raises(PeerDisconnected, match="handshake timed out") as info:
            await establish(
                new_key(),
                reader,
                writer,
                config,
                None,
                NodeID(new_key().node_id),
                started=started - 2.8,  # as if the connect had taken 2.8 s of the 3
            )
        assert info.value.reason is DisconnectReason.READ_TIMEOUT
        assert loop.time() - started < 1.5  # not the full 3 s
        assert writer.transport.is_closing()  # aborted at the deadline
    finally:
        for accepted_writer in accepted:
            accepted_writer.close()
        listener.close()
        await listener.wait_closed()


async def test_dial_refused_port() -> None:
    listener = await asyncio.start_server(lambda r, w: None, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    with pytest.raises(PeerDisconnected) as info:
        await dial(new_key(), Enode(NodeID(new_key().node_id), HOST, port), FAST)
    assert info.value.reason is DisconnectReason.NETWORK_ERROR


# -- hostile peers, driven by hand through the sans-IO core -----------------------------------


@dataclass
class Raw:
    conn: Connection
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def event(self) -> Event | None:
        """The next event, or None at EOF."""
        while True:
            event = self.conn.next_event()
            if event is not None:
                return event
            data = await self.reader.read(65536)
            if not data:
                return None
            self.conn.receive_data(data)

    async def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def disconnect_reason(self) -> DisconnectReason | None:
        """Read events until the server's Disconnect (its reason) or EOF (None)."""
        while True:
            event = await self.event()
            if event is None or isinstance(event, DisconnectReceived):
                return None if event is None else event.reason

    def close(self) -> None:
        self.writer.close()


async def raw_peer(server: Server, *, hello: bool) -> Raw:
    conn = Connection(
        new_key(),
        os.urandom,
        remote_node_id=server.key.node_id,
        client_id="hostile",
        capabilities=[Capability("shh", 6, 128)],
    )
    reader, writer = await asyncio.open_connection(HOST, server.port)
    raw = Raw(conn, reader, writer)
    await raw.flush()
    assert isinstance(await raw.event(), Authenticated)
    conn.send_hello()
    if hello:
        await raw.flush()
        assert isinstance(await raw.event(), HelloReceived)
    else:
        conn.data_to_send()  # our Hello is never sent; the core just needs to expect theirs
    return raw


async def nobody_reached_on_connection(server: Server) -> None:
    """Event-driven "nothing happened": an honest peer dials after the hostile one is done with,
    and must be the first (and only) one the server's handler sees."""
    honest = new_key()
    peer = await dial(honest, server.enode, FAST)
    try:
        first = await asyncio.wait_for(server.peers.get(), 2)
        assert first.node_id == honest.node_id
        assert server.peers.empty()
    finally:
        peer.close()


def codec(raw: Raw) -> object:
    assert raw.conn._codec is not None
    return raw.conn._codec


async def expect_server_outcome(server: Server, reason: DisconnectReason) -> None:
    outcome = await asyncio.wait_for(server.outcomes.get(), 2)
    assert outcome.reason is reason
    assert not outcome.by_remote


async def test_wrong_mac_after_hello(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    raw = await raw_peer(server, hello=True)
    try:
        raw.conn.send_message("shh", 1, b"\xc0")
        frame = bytearray(raw.conn.data_to_send())
        frame[-1] ^= 0x55  # frame MAC
        raw.writer.write(bytes(frame))
        reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
        assert reason is DisconnectReason.PROTOCOL_ERROR
        await expect_server_outcome(server, DisconnectReason.PROTOCOL_ERROR)
    finally:
        raw.close()


async def test_oversized_frame_is_refused(start_server: Callable[..., Awaitable[Server]]) -> None:
    config = P2PConfig(handshake_timeout=1.0, max_message_size=1000)
    server = await start_server(config)
    raw = await raw_peer(server, hello=True)
    try:
        raw.conn.send_message("shh", 1, os.urandom(50_000))
        frame = raw.conn.data_to_send()
        raw.writer.write(frame[:32])  # the header alone must be enough to refuse it
        reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
        assert reason is DisconnectReason.PROTOCOL_ERROR
        await expect_server_outcome(server, DisconnectReason.PROTOCOL_ERROR)
    finally:
        raw.close()


async def test_garbage_before_hello(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    raw = await raw_peer(server, hello=False)
    try:
        raw.writer.write(os.urandom(100))
        # The server's Hello comes first, then its (uncompressed) Disconnect.
        assert isinstance(await asyncio.wait_for(raw.event(), 2), HelloReceived)
        reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
        assert reason is DisconnectReason.PROTOCOL_ERROR
        await nobody_reached_on_connection(server)
    finally:
        raw.close()


async def test_garbage_after_hello(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    raw = await raw_peer(server, hello=True)
    try:
        raw.writer.write(os.urandom(64))
        reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
        assert reason is DisconnectReason.PROTOCOL_ERROR
        await expect_server_outcome(server, DisconnectReason.PROTOCOL_ERROR)
    finally:
        raw.close()


async def test_message_beyond_capabilities(start_server: Callable[..., Awaitable[Server]]) -> None:
    server = await start_server()
    raw = await raw_peer(server, hello=True)
    try:
        assert raw.conn._codec is not None
        raw.writer.write(raw.conn._codec.encode(rlp.encode_uint(0x10 + 200) + b"\x01\x00\xc0"))
        reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
        assert reason is DisconnectReason.PROTOCOL_ERROR
    finally:
        raw.close()


async def test_handshake_never_finished(start_server: Callable[..., Awaitable[Server]]) -> None:
    config = P2PConfig(handshake_timeout=0.3)
    server = await start_server(config)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        started = loop.time()
        writer.write(os.urandom(100))  # a partial "auth", then silence
        assert await asyncio.wait_for(reader.read(), 2) == b""
        assert 0.2 < loop.time() - started < 1.0
    finally:
        writer.close()


async def test_hello_never_sent(start_server: Callable[..., Awaitable[Server]]) -> None:
    config = P2PConfig(handshake_timeout=0.3)
    server = await start_server(config)
    raw = await raw_peer(server, hello=False)
    try:
        assert isinstance(await asyncio.wait_for(raw.event(), 2), HelloReceived)
        assert await asyncio.wait_for(raw.event(), 2) is None  # closed at the deadline
        await nobody_reached_on_connection(server)
    finally:
        raw.close()


async def test_silent_peer_hits_read_timeout(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    config = P2PConfig(handshake_timeout=1.0, read_timeout=0.3, ping_interval=10)
    server = await start_server(config)
    raw = await raw_peer(server, hello=True)
    try:
        reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
        assert reason is DisconnectReason.READ_TIMEOUT
        await expect_server_outcome(server, DisconnectReason.READ_TIMEOUT)
    finally:
        raw.close()


async def test_stalled_application_is_not_a_read_timeout(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    """While the read-ahead queue is full we don't read, so the peer's silence is ours: the read
    deadline waits (geth's does too) and Pings go on, however long the application stalls."""
    config = P2PConfig(handshake_timeout=1.0, read_timeout=0.3, ping_interval=0.1)
    count = 70  # more than the read-ahead queue holds (64)
    stall = asyncio.Event()

    async def stalling(peer: PeerConnection, server: Server) -> None:
        await server.peers.put(peer)
        await stall.wait()
        await asyncio.sleep(0.7)  # over two read timeouts without reading anything
        try:
            for _ in range(count + 1):
                capability, code, payload = await peer.read_message()
                await peer.send_message(capability, code, payload)
        except PeerDisconnected as exc:
            await server.outcomes.put(exc)

    server = await start_server(config, stalling)
    peer = await dial(new_key(), server.enode, config)
    try:
        remote = await asyncio.wait_for(server.peers.get(), 1)
        for i in range(count):
            await peer.send_message("shh", 1, bytes([i]))
        # Event-driven: the remote's reader holds the 65th message, waiting for room.
        async with asyncio.timeout(2):
            while remote._queue.qsize() < 64:
                await asyncio.sleep(0.01)
        stall.set()
        for i in range(count):
            assert await asyncio.wait_for(peer.read_message(), 2) == ("shh", 1, bytes([i]))
        # The remote's handler echoes a last message only if its connection survived the stall.
        await peer.send_message("shh", 2, b"marker")
        assert await asyncio.wait_for(peer.read_message(), 2) == ("shh", 2, b"marker")
    finally:
        peer.close()


async def test_read_deadline_after_a_stall_rearms_the_timer(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    """After a stall the read deadline comes back before the next Ping is due: the one timer is
    re-armed for it, so a peer silent from then on is dropped at the read timeout, not at the
    next Ping 30 s later."""
    config = P2PConfig(handshake_timeout=1.0, read_timeout=0.3, ping_interval=30)
    stall = asyncio.Event()

    async def stalling(peer: PeerConnection, server: Server) -> None:
        await server.peers.put(peer)
        await stall.wait()
        await asyncio.sleep(0.5)  # past the read timeout: the timer now sleeps until the Ping
        try:
            while True:
                await peer.read_message()
        except PeerDisconnected as exc:
            await server.outcomes.put(exc)

    server = await start_server(config, stalling)
    patient = P2PConfig(handshake_timeout=1.0, read_timeout=10, ping_interval=30)
    peer = await dial(new_key(), server.enode, patient)
    try:
        remote = await asyncio.wait_for(server.peers.get(), 1)
        for i in range(70):  # the remote's reader stops at the 65th, waiting for room
            await peer.send_message("shh", 1, bytes([i]))
        async with asyncio.timeout(2):
            while remote._queue.qsize() < 64:
                await asyncio.sleep(0.01)
        stall.set()  # the remote reads on; we stay silent (our next Ping is 30 s away)
        with pytest.raises(PeerDisconnected) as info:
            await asyncio.wait_for(peer.read_message(), 3)
        assert info.value.reason is DisconnectReason.READ_TIMEOUT
        assert info.value.by_remote
        await expect_server_outcome(server, DisconnectReason.READ_TIMEOUT)
    finally:
        peer.close()


async def test_remote_disconnect_reaches_reader(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    async def quit_at_once(peer: PeerConnection, server: Server) -> None:
        await peer.disconnect(DisconnectReason.QUITTING)

    server = await start_server(handler=quit_at_once)
    peer = await dial(new_key(), server.enode, FAST)
    with pytest.raises(PeerDisconnected) as info:
        await asyncio.wait_for(peer.read_message(), 2)
    assert info.value.reason is DisconnectReason.QUITTING
    assert info.value.by_remote
    peer.close()


async def test_read_ahead_is_bounded_in_bytes(
    start_server: Callable[..., Awaitable[Server]],
) -> None:
    """A peer can't park more than a few MiB in a slow reader's queue: TCP pushes back."""

    async def slow_reader(peer: PeerConnection, server: Server) -> None:
        await server.peers.put(peer)
        await asyncio.sleep(30)

    config = P2PConfig(read_timeout=10.0, write_timeout=0.5)
    server = await start_server(config, slow_reader)
    peer = await dial(new_key(), server.enode, config)
    remote = await asyncio.wait_for(server.peers.get(), 1)
    message = os.urandom(1024 * 1024)  # incompressible
    sent = 0
    try:
        # The writer is stalled by backpressure: the signal is its write timing out.
        with pytest.raises(PeerDisconnected, match="write: TimeoutError") as info:
            for _ in range(40):  # 40 MiB, far more than the read-ahead and the socket buffers
                await peer.send_message("shh", 1, message)
                sent += 1
        assert info.value.reason is DisconnectReason.NETWORK_ERROR
        assert sent < 40
        assert remote._queued_bytes <= 4 * 1024 * 1024
        assert remote._queue.qsize() <= 4
    finally:
        peer.close()
        remote.close()


# -- the shell reads the running loop's clock only (what a virtual-time loop relies on) ---------


class _ShiftedLoop(asyncio.SelectorEventLoop):
    """A loop whose clock is a million seconds behind the machine's: a deadline computed from
    `time.monotonic()` anywhere in the shell would then fire at once or never."""

    def time(self) -> float:
        return super().time() - 1e6


def test_timers_follow_the_loops_clock() -> None:
    async def scenario() -> None:
        config = P2PConfig(handshake_timeout=1.0, read_timeout=0.4, ping_interval=0.1)
        key = new_key()
        gone: asyncio.Queue[PeerDisconnected] = asyncio.Queue()

        async def on_connection(peer: PeerConnection) -> None:
            try:
                while True:
                    capability, code, payload = await peer.read_message()
                    await peer.send_message(capability, code, payload)
            except PeerDisconnected as exc:
                await gone.put(exc)

        listener = await serve(key, HOST, 0, config, on_connection)
        enode = Enode(NodeID(key.node_id), HOST, listener.sockets[0].getsockname()[1])
        try:
            # Pings keep an idle link alive past two read timeouts ...
            peer = await dial(new_key(), enode, config)
            await asyncio.sleep(1.0)
            await peer.send_message("shh", 3, b"\x01")
            assert await asyncio.wait_for(peer.read_message(), 1) == ("shh", 3, b"\x01")
            peer.close()
            assert (await asyncio.wait_for(gone.get(), 2)).by_remote
            # ... a peer that sends two messages (the second after the first's echo, so that
            # the server reads it live), then never answers again, is dropped at the read
            # deadline counted from that input ...
            raw = await raw_peer(Server(key, enode.tcp_port, listener), hello=True)
            try:
                for payload in (b"\xc1\x01", b"\xc1\x02"):
                    raw.conn.send_message("shh", 1, payload)
                    await raw.flush()
                    echo = await asyncio.wait_for(raw.event(), 2)
                    assert echo == MessageReceived("shh", 1, payload)
                reason = await asyncio.wait_for(raw.disconnect_reason(), 2)
                assert reason is DisconnectReason.READ_TIMEOUT
            finally:
                raw.close()
            # ... and a handshake that never finishes at its deadline.
            reader, writer = await asyncio.open_connection(HOST, enode.tcp_port)
            writer.write(os.urandom(100))
            assert await asyncio.wait_for(reader.read(), 3) == b""
            writer.close()
        finally:
            listener.close()
            await listener.wait_closed()

    loop = _ShiftedLoop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.run_until_complete(_cancel_the_rest())  # handlers and linger-closes winding down
        loop.close()


async def _cancel_the_rest() -> None:
    rest = asyncio.all_tasks() - {asyncio.current_task()}
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


async def test_listener_closed_at_once_closes_its_sockets() -> None:
    """Closed before its accept loop first ran (a node started and stopped at once)."""
    listener = await serve(PrivateKey.generate(os.urandom), "127.0.0.1", 0, P2PConfig(), _idle)
    sockets = list(listener.sockets)
    listener.close()
    await listener.wait_closed()
    assert all(sock.fileno() == -1 for sock in sockets)


async def _idle(connection: PeerConnection) -> None:
    return None


async def test_linger_close_cancelled_still_closes_the_transport() -> None:
    """A Disconnect's linger cut short by cancellation (a node stopping) closes the socket."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)
        await reader.read()  # never sends EOF of its own: the linger waits

    server = await asyncio.start_server(keep, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    remote = await accepted.get()
    lingering = asyncio.create_task(linger_close(reader, writer, 60.0))
    await asyncio.sleep(0)
    lingering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lingering
    assert writer.transport.is_closing()
    remote.close()
    server.close()
    await server.wait_closed()
