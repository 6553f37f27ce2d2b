"""Hostile floods against one node on loopback: its memory stays within the pool's cap, PoW buys a
place, one peer gets only its share, and a peer's huge packet doesn't stall the others (issue 7).

The flooder is a raw shh peer (hush.net.dial) sending envelopes built by hand, at PoW 0 (the nodes
under attack take PoW 0, so the flood costs nothing to make); the honest peer is a real node.
Every flood is bounded in count; what the tests wait for is an explicit signal (a PoW requirement
packet sent after the flood is processed in order with it), never a sleep.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from hush.crypto import SymmetricKey
from hush.errors import DisconnectReason, UsageError
from hush.net import PeerConnection
from hush.node import Node, NodeConfig, PostRequest
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode
from hush.types import EnvelopeHash, Topic

from .conftest import NodeFactory, connect, disconnect_reason, raw_peer, wait_for

TOPIC = Topic(b"\x0f\x10\x0d\x00")
KEY = SymmetricKey(bytes(range(40, 72)))
MIB = 1024 * 1024


def flood(count: int, data: int = 4, *, now: int | None = None, ttl: int = 60) -> list[Envelope]:
    """`count` distinct envelopes of `data` bytes, unsealed (nonce = index: PoW ~0)."""
    expiry = (now or int(time.time())) + ttl - 5  # sent 5 s before `now`
    return [
        Envelope(expiry, ttl, TOPIC, i.to_bytes(max(data, 4), "big")[-data:] if data else b"", i)
        for i in range(count)
    ]


def packed(envelopes: list[Envelope], per_packet: int) -> list[bytes]:
    return [
        packets.encode_messages([e.encode() for e in envelopes[i : i + per_packet]])
        for i in range(0, len(envelopes), per_packet)
    ]


async def send_then_mark(flooder: PeerConnection, payloads: list[bytes], node: Node) -> None:
    """Send the packets, then a PoW requirement: once the node has it, it has processed them."""
    for payload in payloads:
        await flooder.send_message("shh", PacketCode.MESSAGES, payload)
    await flooder.send_message("shh", PacketCode.POW_REQUIREMENT, packets.encode_pow_requirement(7))
    await wait_for(lambda: any(p.pow_requirement == 7 for p in node.peers()), timeout=60)


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def honest_envelopes(count: int, pow_target: float = 0.02) -> list[Envelope]:
    """Sealed by a real node's sealer: what an honest peer would post."""
    from hush.sealer import Sealer

    now = int(time.time())
    with Sealer(processes=1) as sealer:
        return [
            sealer.seal(wrap(b"honest %d" % i, TOPIC, now, os.urandom, sym_key=KEY), pow_target, 5)
            for i in range(count)
        ]


async def post_all(node: Node, envelopes: list[Envelope]) -> list[EnvelopeHash]:
    for envelope in envelopes:
        await node.inject(envelope)
    return [envelope.hash for envelope in envelopes]


async def test_tiny_envelope_flood_stays_within_the_cap(make_node: NodeFactory) -> None:
    """80,000 tiny envelopes (1.7 MB on the wire) at a node with a 2 MiB pool: memory grows by
    the cap plus a bounded overhead (it grew ~60 MB before: ~750 B each, counted as 21 B), and an
    honest peer's envelopes still get through."""
    cap = 2 * MIB
    node = await make_node(min_pow=0.0, pool_bytes=cap)
    honest = await make_node(min_pow=0.0)
    await connect(node, honest)
    payloads = packed(flood(80_000), 20_000)
    mine = honest_envelopes(100)
    flooder = await raw_peer(node)
    before = rss()
    sending = asyncio.ensure_future(send_then_mark(flooder, payloads, node))
    sent = await post_all(honest, mine)
    await sending
    await wait_for(lambda: sum(h in node.pool for h in sent) >= 99, timeout=20)
    growth = rss() - before
    assert node.pool.bytes_used <= cap
    assert growth <= cap + 24 * MIB, f"RSS grew {growth / MIB:.1f} MiB"
    assert len(node.peers()) == 2  # the flooder is still connected: a full pool isn't its fault
    flooder.close()


async def test_large_envelope_flood_at_ten_times_the_cap(make_node: NodeFactory) -> None:
    """10 MiB of 20 KB envelopes (then 1 MB of small ones) at a 1 MiB pool: the flooder gets its
    share, honest envelopes
    still find room (before, the pool filled and refused them), nobody is disconnected."""
    cap = MIB
    node = await make_node(min_pow=0.0, pool_bytes=cap)
    honest = await make_node(min_pow=0.0)
    await connect(node, honest)
    flooder = await raw_peer(node)
    big = flood(512, data=20_000)
    small = flood(3000, data=300, ttl=59)  # distinct from the big ones; they plug the gaps
    await send_then_mark(flooder, packed(big, 40) + packed(small, 1000), node)
    assert node.pool.bytes_used <= cap
    sent = await post_all(honest, honest_envelopes(20))
    await wait_for(lambda: all(h in node.pool for h in sent), timeout=20)
    assert node.pool.bytes_used <= cap
    assert len(node.peers()) == 2  # nor is the flooder disconnected
    flooder.close()


async def test_higher_pow_evicts_lower_pow(make_node: NodeFactory) -> None:
    """A full pool (one peer may fill it here) makes room for costlier envelopes: the flood's
    PoW-0 envelopes are evicted, the honest ones (PoW 0.02) take their place."""
    cap = 256 * 1024
    node = await make_node(min_pow=0.0, pool_bytes=cap, pool_peer_share=1.0)
    honest = await make_node(min_pow=0.0)
    await connect(node, honest)
    flooder = await raw_peer(node)
    junk = flood(400, data=1000)
    await send_then_mark(flooder, packed(junk, 100), node)
    pooled_junk = sum(e.hash in node.pool for e in junk)
    assert pooled_junk > 0 and node.pool.bytes_used <= cap
    sent = await post_all(honest, honest_envelopes(30))
    await wait_for(lambda: all(h in node.pool for h in sent), timeout=20)
    assert sum(e.hash in node.pool for e in junk) < pooled_junk
    assert node.pool.bytes_used <= cap


async def test_one_peer_gets_only_its_share(make_node: NodeFactory) -> None:
    cap = 512 * 1024
    node = await make_node(min_pow=0.0, pool_bytes=cap, pool_peer_share=0.25)
    flooder = await raw_peer(node)
    junk = flood(600, data=1000)
    await send_then_mark(flooder, packed(junk, 100), node)
    assert sum(len(e.encode()) for e in junk if e.hash in node.pool) <= cap // 4
    assert len(node.peers()) == 1  # over its share, not disconnected
    # What it couldn't pool it isn't marked as knowing (its known set is bounded by the pool).
    (peer,) = node._peers.values()
    assert all(h in node.pool for h in peer.shh.known)
    late = flood(1, data=999, now=int(time.time()) + 1)
    await send_then_mark(flooder, packed(late, 1), node)  # still over its share: not pooled
    assert late[0].hash not in node.pool
    flooder.close()


def storm(kind: str, count: int) -> list[Envelope]:
    now = int(time.time())
    envelopes = flood(count)
    if kind == "invalid storm":
        envelopes.append(flood(1, now=now - 200)[0])  # very old: geth drops the sender
    elif kind == "clock-skewed":
        envelopes[: count // 2] = flood(count // 2, now=now + 10)  # sent 5 s ahead: tolerated
        envelopes.append(flood(1, now=now + 25)[0])  # sent 20 s ahead: geth drops the sender
    return envelopes


async def check_big_packet_yields(make_node: NodeFactory, kind: str) -> None:
    node = await make_node(min_pow=0.0)
    honest = await make_node(min_pow=0.0)
    await connect(node, honest)
    mine = honest_envelopes(1)
    envelopes = storm(kind, 12_000)  # 47 slices; the 40,000 took a second on main
    (payload,) = packed(envelopes, len(envelopes))
    flooder = await raw_peer(node)
    await flooder.send_message("shh", PacketCode.MESSAGES, payload)
    await wait_for(lambda: len(node.pool) > 0, timeout=30)  # the node has started on it
    (sent,) = await post_all(honest, mine)
    await wait_for(lambda: sent in node.pool, timeout=30)
    # The honest envelope got in while the big packet was still being worked through.
    assert sum(e.hash in node.pool for e in envelopes) < len(envelopes) - 1
    if kind == "valid flood":
        await wait_for(lambda: all(e.hash in node.pool for e in envelopes), timeout=30)
        flooder.close()
        return
    # geth's rule: the whole batch is processed, then the sender is dropped.
    await wait_for(lambda: sum(e.hash in node.pool for e in envelopes) == len(envelopes) - 1, 30)
    assert await disconnect_reason(flooder) is DisconnectReason.SUBPROTOCOL_ERROR
    if kind == "clock-skewed":
        entry = node.pool.get(envelopes[0].hash)
        assert entry is not None  # its PoW counts the skew, as geth's does (diff = sent - now + 1)
        assert entry.pow in {envelopes[0].pow(diff=d) for d in range(1, 7)}
        assert entry.pow < envelopes[0].pow()


async def test_big_valid_packet_yields_to_honest_peer(make_node: NodeFactory) -> None:
    await check_big_packet_yields(make_node, "valid flood")


async def test_invalid_envelope_storm(make_node: NodeFactory) -> None:
    await check_big_packet_yields(make_node, "invalid storm")


async def test_clock_skewed_peer(make_node: NodeFactory) -> None:
    await check_big_packet_yields(make_node, "clock-skewed")


async def test_post_after_flood_is_never_evicted(make_node: NodeFactory) -> None:
    """What shh_post acknowledged stays pooled until it expires, whatever arrives after it."""
    cap = 128 * 1024
    node = await make_node(min_pow=0.0, pool_bytes=cap, pool_peer_share=1.0)
    key = node.keys.add_sym_key(KEY.secret)
    posted = await node.post(PostRequest(b"mine", TOPIC, sym_key_id=key, pow_target=0.001))
    flooder = await raw_peer(node)
    await send_then_mark(flooder, packed(honest_envelopes(150, pow_target=0.05), 50), node)
    assert posted in node.pool and node.pool.bytes_used <= cap
    inbox = node.subscribe(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    assert inbox is not None
    flooder.close()


@pytest.mark.parametrize("share", [0, -0.1, 1.5, float("nan")])
def test_pool_peer_share_validated(share: float) -> None:
    with pytest.raises(UsageError, match="pool_peer_share"):
        NodeConfig(datadir=None, pool_peer_share=share)
