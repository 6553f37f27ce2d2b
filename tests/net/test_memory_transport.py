"""The in-memory transport, both modes (real RLPx and plain links), under the virtual clock.

Times are asserted exactly: with a constant latency L and no bandwidth limit, the TCP
handshake is one round trip and the devp2p handshake another (auth L, ack + Hello L), so a dial
returns at 4L; a message sent at t arrives at t + L (+ its frame's bytes / bandwidth).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason, UsageError
from hush.net import P2PConfig, PeerDisconnected
from hush.net.memory import (
    Constant,
    LinkModel,
    LogNormal,
    MemoryNetwork,
    MemoryStream,
    MemoryTransport,
    Uniform,
    frame_size,
)
from hush.net.transport import PeerLink
from hush.rlpx.base import snappy_compress
from hush.types import NodeID
from hush.vclock import run_virtual

MODES = [pytest.param(False, id="plain"), pytest.param(True, id="rlpx")]
SHH = (("shh", 6, 128),)
SHH_OFFSET = 0x10


def _random(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


@dataclass
class End:
    """A node's end of the test: key, transport, and the inbound links it accepted."""

    key: PrivateKey
    transport: MemoryTransport
    config: P2PConfig
    admit: Callable[[NodeID, bool], DisconnectReason | None] = lambda node_id, inbound: None
    accepted: asyncio.Queue[PeerLink] = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    def _admit(self, node_id: NodeID, inbound: bool) -> DisconnectReason | None:
        return self.admit(node_id, inbound)  # looked up at each call: tests replace it

    @property
    def enode(self) -> Enode:
        return Enode(self.key.node_id, self.transport.host, self.port)

    async def listen(self) -> None:
        async def on_link(link: PeerLink) -> None:
            self.accepted.put_nowait(link)
            await self.release.wait()

        listening = await self.transport.listen(
            self.key,
            self.transport.host,
            0,
            self.config,
            on_link,
            self._admit,
            _random(1),
        )
        self.port = listening.address[1]

    async def dial(self, other: End) -> PeerLink:
        return await self.transport.dial(
            self.key,
            other.enode,
            self.config,
            self._admit,
            _random(2),
        )


def _end(network: MemoryNetwork, seed: int, **config: Any) -> End:
    settings: dict[str, Any] = {"client_id": f"node{seed}", "capabilities": SHH, **config}
    return End(PrivateKey.generate(_random(100 + seed)), network.transport(), P2PConfig(**settings))


def run(main: Coroutine[Any, Any, Any]) -> Any:
    async def settled() -> Any:
        result = await main
        await asyncio.sleep(10)  # background linger-closes (after refusals) finish
        return result

    return run_virtual(settled())


async def _finish(out: PeerLink, b: End) -> None:
    """Close both ends (the listener's closes as its handler returns) and let them settle."""
    out.close()
    b.release.set()
    await asyncio.sleep(5)


async def _connected(
    rlpx: bool, model: LinkModel | None = None, **config: Any
) -> tuple[End, End, PeerLink, PeerLink, float]:
    network = MemoryNetwork(seed=5, model=model, rlpx=rlpx)
    a, b = _end(network, 1, **config), _end(network, 2, **config)
    await b.listen()
    out = await a.dial(b)
    dialled_at = asyncio.get_running_loop().time()
    inbound = await b.accepted.get()
    return a, b, out, inbound, dialled_at


@pytest.mark.parametrize("rlpx", MODES)
def test_messages_both_ways_unchanged(rlpx: bool) -> None:
    async def main() -> None:
        a, b, out, inbound, _ = await _connected(rlpx)
        assert out.node_id == b.key.node_id and inbound.node_id == a.key.node_id
        assert (out.client_id, inbound.client_id) == ("node2", "node1")
        assert out.remote_capabilities == inbound.remote_capabilities == (("shh", 6),)
        assert (out.inbound, inbound.inbound) == (False, True)
        assert out.remote_address == (b.transport.host, b.port) == inbound.local_address
        assert inbound.remote_address == out.local_address
        assert out.local_address[0] == a.transport.host
        payloads = [bytes(range(256)) * 3, b"", b"\xc0", bytes(70_000)]
        for code, payload in enumerate(payloads):
            await out.send_message("shh", code, payload)
            await inbound.send_message("shh", 127 - code, payload[::-1])
        for code, payload in enumerate(payloads):
            assert await inbound.read_message() == ("shh", code, payload)
            assert await out.read_message() == ("shh", 127 - code, payload[::-1])
        with pytest.raises(UsageError):
            await out.send_message("eth", 0, b"")
        with pytest.raises(UsageError):
            await out.send_message("shh", 128, b"")
        with pytest.raises(UsageError):  # code 0 was sent before: its size is still checked
            await out.send_message("shh", 0, bytes(0x1000000))
        await _finish(out, b)

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_latency_arithmetic(rlpx: bool) -> None:
    latency = 0.05

    async def main() -> None:
        loop = asyncio.get_running_loop()
        _, b, out, inbound, dialled_at = await _connected(rlpx, LinkModel(Constant(latency)))
        assert dialled_at == pytest.approx(4 * latency)
        await asyncio.sleep(1.0)
        sent = loop.time()
        await out.send_message("shh", 1, b"x" * 100)
        await out.send_message("shh", 2, b"y" * 100)
        assert await inbound.read_message() == ("shh", 1, b"x" * 100)
        assert loop.time() == pytest.approx(sent + latency)
        assert await inbound.read_message() == ("shh", 2, b"y" * 100)
        assert loop.time() == pytest.approx(sent + latency)  # both in flight together
        await _finish(out, b)

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_bandwidth_serialises_in_order(rlpx: bool) -> None:
    latency, bandwidth = 0.01, 10_000.0
    payloads = [bytes([n]) * 1000 + random.Random(n).randbytes(1000) for n in range(5)]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        _, b, out, inbound, _ = await _connected(rlpx, LinkModel(Constant(latency), bandwidth))
        await asyncio.sleep(5.0)  # the handshake's bytes have left the link
        sent = loop.time()
        for code, payload in enumerate(payloads):
            await out.send_message("shh", code, payload)
        elapsed = 0.0
        for code, payload in enumerate(payloads):
            elapsed += frame_size(SHH_OFFSET + code, len(snappy_compress(payload))) / bandwidth
            assert await inbound.read_message() == ("shh", code, payload)
            assert loop.time() - sent == pytest.approx(elapsed + latency)
        await _finish(out, b)

    run(main())


def test_plain_frames_cost_what_rlpx_writes() -> None:
    """The plain mode accounts each message at the size of the RLPx frame: compared here with
    the bytes real RLPx wrote for the same messages."""
    payloads = [b"", b"\x01", bytes(1000), random.Random(3).randbytes(5000), b"ab" * 4000]

    async def main() -> None:
        _, b, out, inbound, _ = await _connected(True)
        stream = out._writer.transport  # type: ignore[attr-defined]
        assert isinstance(stream, MemoryStream)
        pipe = stream.pipe
        for code, payload in enumerate(payloads):
            before = pipe.bytes
            await out.send_message("shh", code, payload)
            expected = frame_size(SHH_OFFSET + code, len(snappy_compress(payload)))
            assert pipe.bytes - before == expected
            assert await inbound.read_message() == ("shh", code, payload)
        await _finish(out, b)

    run(main())


def _arrivals(rlpx: bool, seed: int, loss: float) -> list[tuple[int, float]]:
    model = LinkModel(Uniform(0.01, 0.03), loss=loss, rto=0.2)

    async def main() -> list[tuple[int, float]]:
        loop = asyncio.get_running_loop()
        network = MemoryNetwork(seed=seed, model=model, rlpx=rlpx)
        a, b = _end(network, 1), _end(network, 2)
        await b.listen()
        out = await a.dial(b)
        inbound = await b.accepted.get()
        start = loop.time()
        for n in range(60):
            await out.send_message("shh", 1, n.to_bytes(2, "big"))
        seen = []
        for _ in range(60):
            _, _, payload = await inbound.read_message()
            seen.append((int.from_bytes(payload, "big"), loop.time() - start))
        await _finish(out, b)
        return seen

    result: list[tuple[int, float]] = run(main())
    return result


@pytest.mark.parametrize("rlpx", MODES)
def test_loss_delays_but_keeps_order_and_replays(rlpx: bool) -> None:
    lossy = _arrivals(rlpx, seed=11, loss=0.2)
    assert [n for n, _ in lossy] == list(range(60))  # nothing lost for good, order kept
    times = [t for _, t in lossy]
    assert times == sorted(times)
    assert max(times) >= 0.2  # some segment waited for a retransmission
    assert _arrivals(rlpx, seed=11, loss=0.2) == lossy  # same seed, same run
    assert _arrivals(rlpx, seed=12, loss=0.2) != lossy
    clean = _arrivals(rlpx, seed=11, loss=0.0)
    assert max(t for _, t in clean) <= 0.03 + 1e-9


@pytest.mark.parametrize("rlpx", MODES)
@pytest.mark.parametrize("side", ["listener", "dialer"])
def test_admission_refusals(rlpx: bool, side: str) -> None:
    async def main() -> None:
        network = MemoryNetwork(rlpx=rlpx)
        a, b = _end(network, 1), _end(network, 2)
        refusing = b if side == "listener" else a
        reason = (
            DisconnectReason.TOO_MANY_PEERS
            if side == "listener"
            else (DisconnectReason.ALREADY_CONNECTED)
        )
        seen: list[tuple[NodeID, bool]] = []

        def admit(node_id: NodeID, inbound: bool) -> DisconnectReason:
            seen.append((node_id, inbound))
            return reason

        refusing.admit = admit
        await b.listen()
        with pytest.raises(PeerDisconnected) as caught:
            await a.dial(b)
        assert caught.value.reason is reason
        assert caught.value.by_remote is (side == "listener")
        other = a if side == "listener" else b
        assert seen == [(other.key.node_id, side == "listener")]
        # The listener's handler never got a link: the refusal ended it in the handshake.
        await asyncio.sleep(10)
        assert b.accepted.empty()

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_self_connection_refused(rlpx: bool) -> None:
    async def main() -> None:
        network = MemoryNetwork(rlpx=rlpx)
        a = _end(network, 1)
        await a.listen()
        with pytest.raises(PeerDisconnected) as caught:
            await a.dial(a)
        assert caught.value.reason is DisconnectReason.SELF_CONNECTION

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_no_shared_capability_is_useless(rlpx: bool) -> None:
    async def main() -> None:
        network = MemoryNetwork(rlpx=rlpx)
        a = _end(network, 1, capabilities=(("eth", 63, 17),))
        b = _end(network, 2)
        await b.listen()
        with pytest.raises(PeerDisconnected) as caught:
            await a.dial(b)
        assert caught.value.reason is DisconnectReason.USELESS_PEER

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_disconnect_reason_arrives_after_the_messages(rlpx: bool) -> None:
    async def main() -> None:
        _, b, out, inbound, _ = await _connected(rlpx, LinkModel(Constant(0.02)))
        await out.send_message("shh", 1, b"last words")
        await out.disconnect(DisconnectReason.QUITTING)
        assert out.closed
        assert await inbound.read_message() == ("shh", 1, b"last words")
        with pytest.raises(PeerDisconnected) as caught:
            await inbound.read_message()
        assert (caught.value.reason, caught.value.by_remote) == (DisconnectReason.QUITTING, True)
        with pytest.raises(PeerDisconnected):
            await out.send_message("shh", 1, b"")
        await _finish(out, b)

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_close_is_an_eof_for_the_remote(rlpx: bool) -> None:
    async def main() -> None:
        _, b, out, inbound, _ = await _connected(rlpx, LinkModel(Constant(0.02)))
        inbound.close()
        with pytest.raises(PeerDisconnected) as caught:
            await inbound.read_message()
        assert (caught.value.reason, caught.value.by_remote) == (DisconnectReason.REQUESTED, False)
        with pytest.raises(PeerDisconnected) as caught:
            await out.read_message()
        assert (caught.value.reason, caught.value.by_remote) == (
            DisconnectReason.NETWORK_ERROR,
            True,
        )
        await _finish(out, b)

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_a_waiting_reader_survives_a_cancel_and_wakes_on_close(rlpx: bool) -> None:
    async def main() -> None:
        _, b, out, inbound, _ = await _connected(rlpx, LinkModel(Constant(0.02)))
        with pytest.raises(TimeoutError):  # a cancelled wait leaves the link readable
            async with asyncio.timeout(1.0):
                await inbound.read_message()
        await out.send_message("shh", 3, b"after the cancel")
        assert await inbound.read_message() == ("shh", 3, b"after the cancel")
        reader = asyncio.ensure_future(inbound.read_message())
        await asyncio.sleep(1.0)
        assert not reader.done()
        inbound.close()  # the reader waiting here is woken by the end, not left hanging
        with pytest.raises(PeerDisconnected) as caught:
            await reader
        assert (caught.value.reason, caught.value.by_remote) == (DisconnectReason.REQUESTED, False)
        await _finish(out, b)

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_dial_to_nobody_is_refused(rlpx: bool) -> None:
    async def main() -> None:
        network = MemoryNetwork(rlpx=rlpx, model=LinkModel(Constant(0.1)))
        a, b = _end(network, 1), _end(network, 2)
        with pytest.raises(PeerDisconnected) as caught:
            await a.dial(b)  # b never listened
        assert caught.value.reason is DisconnectReason.NETWORK_ERROR
        assert "refused" in str(caught.value)
        assert asyncio.get_running_loop().time() == pytest.approx(0.2)  # one round trip

    run(main())


@pytest.mark.parametrize("rlpx", MODES)
def test_handshake_deadline(rlpx: bool) -> None:
    async def main() -> None:
        network = MemoryNetwork(rlpx=rlpx, model=LinkModel(Constant(1.0)))
        a, b = _end(network, 1, handshake_timeout=3.0), _end(network, 2, handshake_timeout=3.0)
        await b.listen()
        with pytest.raises(PeerDisconnected) as caught:
            await a.dial(b)  # needs 4 s of round trips
        assert caught.value.reason is DisconnectReason.READ_TIMEOUT
        assert asyncio.get_running_loop().time() == 3.0

    run(main())


def test_rlpx_pings_keep_an_idle_link_alive() -> None:
    async def main() -> None:
        _, b, out, inbound, _ = await _connected(True, LinkModel(Constant(0.05)))
        await asyncio.sleep(300)  # ten read timeouts of silence from the application
        assert not out.closed and not inbound.closed
        await out.send_message("shh", 3, b"still here")
        assert await inbound.read_message() == ("shh", 3, b"still here")
        await _finish(out, b)

    run(main())


def test_plain_window_backpressure_and_write_timeout() -> None:
    async def main() -> None:
        model = LinkModel(Constant(0.01), window=10_000)
        _, b, out, inbound, _ = await _connected(False, model, write_timeout=20.0)
        loop = asyncio.get_running_loop()
        # Nobody reads: the writer may have one window unread by the other side, no more.
        noise = random.Random(4).randbytes(3000)  # incompressible: a frame is 3000 bytes and more
        for _ in range(3):
            await out.send_message("shh", 1, noise)
        blocked = asyncio.create_task(out.send_message("shh", 1, noise))
        await asyncio.sleep(10)
        assert not blocked.done()
        assert out._unread <= 2 * model.window  # type: ignore[attr-defined]
        for _ in range(4):  # reading makes room: the blocked send finishes
            await inbound.read_message()
        await blocked
        # A reader that never reads again: the write deadline drops the link at its time.
        for _ in range(3):
            await out.send_message("shh", 1, noise)
        stuck_at = loop.time()
        with pytest.raises(PeerDisconnected) as caught:
            await out.send_message("shh", 1, noise)
        assert caught.value.reason is DisconnectReason.NETWORK_ERROR
        assert loop.time() == pytest.approx(stuck_at + 20.0)
        await _finish(out, b)

    run(main())


def test_plain_window_releases_every_blocked_writer() -> None:
    # Two writers wait on one full window at once: a read that makes room wakes both (a read
    # only signals when somebody waits, so the count of waiters must be right for each).
    async def main() -> None:
        model = LinkModel(Constant(0.01), window=10_000)
        _, b, out, inbound, _ = await _connected(False, model, write_timeout=20.0)
        noise = random.Random(5).randbytes(3000)
        for _ in range(3):
            await out.send_message("shh", 1, noise)
        writers = [asyncio.create_task(out.send_message("shh", 1, noise)) for _ in range(2)]
        await asyncio.sleep(5)
        assert not any(w.done() for w in writers)
        for _ in range(5):
            await inbound.read_message()
        await asyncio.gather(*writers)  # both, well before the 20 s write deadline
        assert asyncio.get_running_loop().time() < 10
        await _finish(out, b)

    run(main())


def test_listen_errors() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        a = _end(network, 1)
        await a.listen()
        with pytest.raises(OSError):
            await a.transport.listen(
                a.key,
                a.transport.host,
                a.port,
                a.config,
                None,
                None,
                _random(1),  # type: ignore[arg-type]
            )
        with pytest.raises(OSError):
            await a.transport.listen(
                a.key,
                "10.9.9.9",
                0,
                a.config,
                None,
                None,
                _random(1),  # type: ignore[arg-type]
            )

    run(main())


def test_models_validate_and_sample_from_the_seed() -> None:
    with pytest.raises(UsageError):
        LinkModel(loss=1.5)
    with pytest.raises(UsageError):
        LinkModel(bandwidth=0)
    with pytest.raises(UsageError):
        Uniform(0.2, 0.1)
    with pytest.raises(UsageError):
        LogNormal(0.0, 1.0)
    draws = [LogNormal(0.05, 0.5).sample(random.Random(9)) for _ in range(2)]
    assert draws[0] == draws[1] and 0 < draws[0] <= 10
    uniform = [Uniform(0.1, 0.2).sample(random.Random(n)) for n in range(50)]
    assert all(0.1 <= u <= 0.2 for u in uniform)
    # A lost segment waits one RTO, then twice that for each further loss.
    model = LinkModel(loss=0.5, rto=0.25)
    delays = {model.retransmission_delay(random.Random(n)) for n in range(200)}
    possible = {sum(min(0.25 * 2**i, 60.0) for i in range(k)) for k in range(40)}
    assert delays <= possible and len(delays) > 3


def test_a_pair_of_hosts_gets_its_own_model() -> None:
    async def main() -> None:
        network = MemoryNetwork(model=LinkModel(Constant(0.01)))
        a, b, c = _end(network, 1), _end(network, 2), _end(network, 3)
        network.set_model(b.transport.host, a.transport.host, LinkModel(Constant(0.25)))
        await b.listen()
        loop = asyncio.get_running_loop()
        out = await a.dial(b)  # the slow pair: four one-way trips of 250 ms
        assert loop.time() == pytest.approx(1.0)
        fast = await c.dial(b)
        assert loop.time() == pytest.approx(1.04)
        for link in (out, fast):
            await _finish(link, b)

    run(main())
