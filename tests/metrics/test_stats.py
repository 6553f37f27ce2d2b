"""NodeStats counts each kind of event at the node's accounting points (real loopback nodes)."""

from __future__ import annotations

import os
import socket
import time

from node.conftest import connect, disconnect_reason, raw_peer, wait_for

from hush.crypto import PrivateKey
from hush.enode import Enode
from hush.errors import DisconnectReason
from hush.metrics import read_node
from hush.node import PostRequest
from hush.shh.filters import Filter
from hush.shh.packets import PacketCode, encode_pow_requirement
from hush.shh.pool import AddStatus
from hush.shh.topic import topic_to_bloom
from hush.types import Topic

from .conftest import KEY, TOPIC, StatsNodeFactory, messages, sealed


async def test_accepted_duplicate_and_a_peer_joining_and_leaving(
    stats_node: StatsNodeFactory,
) -> None:
    a, sa = await stats_node()
    b, sb = await stats_node()
    b.install_filter(Filter(sym_key=KEY, topics=frozenset({TOPIC})))
    await connect(a, b)
    assert sb.peer_events.get("connect", "inbound") == 1
    assert sa.peer_events.get("connect", "outbound") == 1
    key = a.keys.add_sym_key(KEY.secret)
    sent = await a.post(PostRequest(b"counted", TOPIC, sym_key_id=key, pow_target=0.05))
    await wait_for(lambda: sb.accepted == 1)
    assert (sa.received.get("local"), sa.accepted, sa.seals.count) == (1, 1, 1)
    assert sa.bundles.count >= 1 and sa.bundles.sum >= 1
    assert sb.received.get("peer") == 1 and sb.duplicate == 0
    assert (sb.sizes.count, sb.ages.count) == (1, 1)
    assert sb.delivered.get("false") == 1
    assert sb.packets.get("in", "0x01") >= 1 and sb.packet_bytes.get("in", "0x01") > 0
    assert sb.peers[a.node_key.node_id].envelopes_in == 1
    readings = read_node(b)
    assert readings.decrypt_attempts[True, True] == 1  # b's filter opened it
    assert (readings.filters_sym, readings.filters_asym) == (1, 0)

    envelope = a.envelope(sent)
    assert envelope is not None
    hostile = await raw_peer(b)
    await wait_for(lambda: sb.peer_events.get("connect", "inbound") == 2)
    await hostile.send_message("shh", PacketCode.MESSAGES, messages(envelope))
    await wait_for(lambda: sb.duplicate == 1)
    assert sb.accepted == 1 and sb.received.get("peer") == 2
    (hostile_id,) = set(sb.peers) - {a.node_key.node_id}
    assert sb.peers[hostile_id].packets_in == 2  # status, messages
    await hostile.disconnect(DisconnectReason.REQUESTED)
    await wait_for(lambda: sb.peer_events.get("disconnect", "remote_requested") == 1)
    assert hostile_id not in sb.peers  # per-peer traffic lives only while connected
    await a.stop()
    await wait_for(lambda: sb.peer_events.get("disconnect", "remote_quitting") == 1)
    assert sb.peers == {}


async def test_each_rejection_reason_is_counted(stats_node: StatsNodeFactory) -> None:
    node, stats = await stats_node(min_pow=0.02, max_message_size=4096)
    node.pool.set_bloom(topic_to_bloom(TOPIC), 0)  # long enough ago: no tolerance left
    now = time.time()
    low_pow = sealed(now, pow_target=0)
    while low_pow.pow() >= 0.02:  # target 0 takes the first nonce, which may be lucky
        low_pow = sealed(now, pow_target=0)
    batch = [
        sealed(now + 60),  # in_future
        sealed(now - 100),  # very_old
        low_pow,
        sealed(now, topic=Topic(b"else")),  # no_bloom_match
        sealed(now - 55),  # expired within the tolerance: dropped, not the sender's fault
    ]
    hostile = await raw_peer(node)
    await hostile.send_message("shh", PacketCode.MESSAGES, messages(*batch))
    assert await disconnect_reason(hostile) is DisconnectReason.SUBPROTOCOL_ERROR
    await wait_for(lambda: stats.peer_events.get("disconnect", "subprotocol_error") == 1)
    assert {
        reason: stats.rejected.get(reason)
        for reason in ("in_future", "very_old", "low_pow", "no_bloom_match", "expired")
    } == dict.fromkeys(("in_future", "very_old", "low_pow", "no_bloom_match", "expired"), 1)
    assert stats.accepted == 0 and stats.received.get("peer") == 5
    huge = sealed(now, payload=bytes(5000))
    assert await node.inject(huge) is AddStatus.REJECTED
    assert stats.rejected.get("oversized") == 1 and stats.received.get("local") == 1


async def test_over_budget_envelopes_are_counted(stats_node: StatsNodeFactory) -> None:
    node, stats = await stats_node(pool_bytes=4096, pool_peer_share=0.5)
    now = time.time()
    hostile = await raw_peer(node)
    await hostile.send_message(
        "shh", PacketCode.MESSAGES, messages(*(sealed(now) for _ in range(8)))
    )
    await wait_for(lambda: stats.received.get("peer") == 8)
    assert stats.accepted >= 1 and stats.rejected.get("over_budget") == 8 - stats.accepted
    assert read_node(node).pool_envelopes == stats.accepted


async def test_a_failing_static_peer_is_remembered_with_its_last_error(
    stats_node: StatsNodeFactory,
) -> None:
    node, stats = await stats_node()
    with socket.socket() as closed:  # bound, never listening: connecting is refused at once
        closed.bind(("127.0.0.1", 0))
        other_id = PrivateKey.generate(os.urandom).node_id
        node.add_peer(Enode(other_id, "127.0.0.1", closed.getsockname()[1]))
        await wait_for(lambda: other_id in stats.failing)
    failure = stats.failing[other_id]
    assert failure.failures >= 1 and "connect" in failure.last_error
    assert stats.peer_events.get("handshake_fail", "local_network_error") >= 1
    stats.peer_connected(other_id, False, "later")  # a session starts: no longer failing
    assert other_id not in stats.failing


async def test_rate_limit_counters_are_read_from_the_node(stats_node: StatsNodeFactory) -> None:
    node, _ = await stats_node(ratelimit_packets=(1, 2), ratelimit_exempt_loopback=False)
    hostile = await raw_peer(node)
    for _ in range(5):
        await hostile.send_message("shh", PacketCode.POW_REQUIREMENT, encode_pow_requirement(0.1))
    await wait_for(lambda: sum(read_node(node).rate_limits.exceeded.values()) >= 2)
    limits = read_node(node).rate_limits
    assert sum(limits.checked.values()) > 0
    by_action = {action.value: 0 for _, _, action in limits.exceeded}
    for (_, _, action), count in limits.exceeded.items():
        by_action[action.value] += count
    assert by_action["observed"] >= 2 and by_action.get("dropped", 0) == 0  # observe mode
