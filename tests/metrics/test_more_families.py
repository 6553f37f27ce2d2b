"""The §5.2 families read from the listener, the sealer, the delivery queues, the write loops and
the archive: each moves for a real event on loopback nodes, read back from `/metrics` text with
prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack
from pathlib import Path

from archive.helpers import PASSWORD, node_config
from node.conftest import config, connect, raw_peer, wait_for
from prometheus_client import generate_latest

from hush.archive.client import HistoryClient, HistoryQuery
from hush.archive.server import ArchiveConfig, ArchiveServer
from hush.archive.store import ArchivedEnvelope, open_store
from hush.metrics import NodeStats
from hush.metrics.server import metrics_registry
from hush.net.limits import ConnectionGate
from hush.net.transport import TcpTransport
from hush.node import Node, PostRequest
from hush.node.delivery import SUBSCRIPTION_QUEUE
from hush.sealer import InlineSealer, Sealer
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode

from .conftest import KEY, TOPIC, StatsNodeFactory, messages
from .test_prometheus import parse

Families = dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]


def scrape(node: Node, stats: NodeStats) -> Families:
    return parse(generate_latest(metrics_registry(node, stats)).decode())


def sample(families: Families, family: str, name: str, **labels: str) -> float:
    return families[family].get((name, tuple(sorted(labels.items()))), 0.0)


async def test_inbound_refusals_and_failed_handshakes_are_counted() -> None:
    gate = ConnectionGate(
        max_pending_inbound=1,
        max_inbound_per_ip=100,
        inbound_throttle=0,
        exempt_lan=True,
        max_connections=1000,
        evict_pending_after=None,  # the first squatter stays until its deadline
    )
    stats = NodeStats()
    node = Node(config(handshake_timeout=0.5), transport=TcpTransport(gate), observers=[stats])
    async with node, AsyncExitStack() as sockets:
        assert node.listen_port is not None
        before = scrape(node, stats)
        assert sample(before, "hush_p2p_connections", "hush_p2p_connections", state="open") == 0
        port = node.listen_port

        async def open_socket() -> asyncio.StreamWriter:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            sockets.callback(writer.close)
            return writer

        await open_socket()  # silent: pending until the handshake deadline
        await wait_for(lambda: gate.pending == 1)
        pending = scrape(node, stats)
        assert sample(pending, "hush_p2p_connections", "hush_p2p_connections", state="pending") == 1
        await open_socket()  # over the pending cap: closed at accept
        await wait_for(lambda: gate.refused.total() == 1)
        await wait_for(lambda: gate.handshake_failures.total() == 1)  # the squatter timed out
        garbage = await open_socket()
        # not an auth message either way: not a legacy one, nor an EIP-8 one of 64 bytes
        garbage.write(b"\x00\x40" + os.urandom(398))
        await wait_for(lambda: gate.handshake_failures.total() == 2)

        events = scrape(node, stats)["hush_peer_events"]
        fails = {
            dict(labels)["reason"]: value
            for (_, labels), value in events.items()
            if dict(labels)["event"] == "handshake_fail"
        }
        assert fails.pop("inbound_refused_pending") == 1
        assert fails.pop("inbound_local_read_timeout") == 1
        assert fails == {"inbound_local_protocol_error": 1}  # the garbage
        assert node.peers() == []  # none of them became a peer


async def test_pow_hashes_count_the_nonces_tried(stats_node: StatsNodeFactory) -> None:
    zero = bytes  # the search starts at nonce 0: the nonce found says how many were hashed
    envelope = wrap(b"pow", TOPIC, int(time.time()), os.urandom, sym_key=KEY, ttl=50)
    inline = InlineSealer(random_bytes=zero)
    found = inline.seal(envelope, 2.0, 5)
    assert found.nonce > 0 and inline.hashes == found.nonce + 1
    with Sealer(processes=1, random_bytes=zero) as sealer:
        threaded = sealer.seal(envelope, 2.0, 5)
        assert threaded.nonce == found.nonce and sealer.hashes == found.nonce + 1
        sealer.seal(envelope, -1, 0.05)  # best within the time: every slice counts in full
        assert sealer.hashes > found.nonce + 1

    node, stats = await stats_node()
    assert sample(scrape(node, stats), "hush_pow_hashes", "hush_pow_hashes_total") == 0
    key = node.keys.add_sym_key(KEY.secret)
    await node.post(PostRequest(b"sealed here", TOPIC, sym_key_id=key, pow_target=1.0))
    assert stats.seals.count == 1
    families = scrape(node, stats)
    hashes = sample(families, "hush_pow_hashes", "hush_pow_hashes_total")
    assert isinstance(node.sealer, Sealer) and hashes == node.sealer.hashes >= 1


def _envelopes(count: int) -> list[Envelope]:
    sent = int(time.time())
    return [wrap(b"m%d" % i, TOPIC, sent, os.urandom, sym_key=KEY, ttl=60) for i in range(count)]


async def test_a_full_subscription_queue_counts_overflow(stats_node: StatsNodeFactory) -> None:
    node, stats = await stats_node(min_pow=0.0)
    key = node.keys.add_sym_key(KEY.secret)
    subscription = node.subscribe(Filter(sym_key=node.keys.sym_key(key), topics=frozenset({TOPIC})))
    extra = 5
    batch = _envelopes(SUBSCRIPTION_QUEUE + extra)  # nobody reads the subscription
    hostile = await raw_peer(node)
    await hostile.send_message("shh", PacketCode.MESSAGES, messages(*batch))
    await wait_for(lambda: stats.accepted == len(batch))
    families = scrape(node, stats)
    overflow = "hush_delivery_queue_overflow"
    assert sample(families, overflow, f"{overflow}_total", queue="normal") == extra
    assert sample(families, overflow, f"{overflow}_total", queue="filter") == 0
    assert subscription.queued == SUBSCRIPTION_QUEUE and subscription.dropped == extra
    subscription.close()  # the counter outlives the subscription
    assert scrape(node, stats)[overflow][f"{overflow}_total", (("queue", "normal"),)] == extra


async def test_write_loop_turns_are_timed(stats_node: StatsNodeFactory) -> None:
    a, sa = await stats_node()
    b, sb = await stats_node()
    await connect(a, b)
    key = a.keys.add_sym_key(KEY.secret)
    await a.post(PostRequest(b"relayed", TOPIC, sym_key_id=key, pow_target=0.05))
    await wait_for(lambda: sb.accepted == 1)
    await wait_for(lambda: sa.broadcast_turns.count >= 1)
    turns = scrape(a, sa)["hush_broadcast_turn_seconds"]
    count = turns["hush_broadcast_turn_seconds_count", ()]
    assert count == sa.broadcast_turns.count >= 1
    assert turns["hush_broadcast_turn_seconds_bucket", (("le", "+Inf"),)] == count
    assert 0 <= turns["hush_broadcast_turn_seconds_sum", ()] < 5


async def test_archive_and_history_client_counters_move(tmp_path: Path) -> None:
    now = int(time.time())
    server_stats, client_stats = NodeStats(), NodeStats()
    store = open_store(str(tmp_path / "archive.sqlite"), None)
    store.put([ArchivedEnvelope.of(e) for e in _envelopes(30)])  # before start: counted once
    server = ArchiveServer(
        store, ArchiveConfig(password=PASSWORD, retention_days=0), stats=server_stats.archive
    )
    observers = [server_stats, server.observer]
    async with server, Node(node_config(), observers=observers, mail_handler=server.handle) as node:
        live = wrap(b"live", TOPIC, now, os.urandom, sym_key=KEY, ttl=60)
        hostile = await raw_peer(node)
        await hostile.send_message("shh", PacketCode.MESSAGES, messages(live))
        await wait_for(lambda: server.archived == 1)  # archived through the node's observer
        async with Node(node_config(listen=False), observers=[client_stats]) as client_node:
            client = HistoryClient(client_node.deliver_archived, stats=client_stats.archive)
            query = HistoryQuery(now - 3600, now + 60, limit=20, sym_key=server.sym_key)
            result = await client.fetch(node.enode, query)
            assert result.error is None and (result.envelopes, result.pages) == (31, 2)
            client_side = scrape(client_node, client_stats)
        served = scrape(node, server_stats)
    backend = server.backend
    archived = "hush_mail_archived_envelopes"
    assert sample(served, archived, archived, backend=backend) == 31  # 30 at start, 1 live
    requests = "hush_mail_requests"
    assert sample(served, requests, f"{requests}_total", dialect="status_v2", result="ok") == 2
    assert sample(served, "hush_mail_envelopes_sent", "hush_mail_envelopes_sent_total") == 31
    assert sample(served, "hush_mail_bytes_sent", "hush_mail_bytes_sent_total") > 0
    queries = served["hush_mail_db_query_seconds"]
    assert sum(v for (n, _), v in queries.items() if n.endswith("_count")) == 2
    history = "hush_history_requests"
    assert sample(client_side, history, f"{history}_total", result="completed") == 2
    durations = client_side["hush_history_request_duration_seconds"]
    assert durations["hush_history_request_duration_seconds_count", ()] == 2
