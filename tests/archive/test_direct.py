"""Dialect E, the direct `MessagesRequest` (archive.md §1.2): a code 126 payload that is not an
envelope reaches the archive server raw, over a real node on loopback; the answer is batched 127
and 125 with the request's own ID. Without an archive server, 126 is ignored unread, as geth
does, whatever it carries."""

from __future__ import annotations

import os
import time

from hush import rlp
from hush.archive.client import HistoryClient, HistoryQuery
from hush.archive.cursor import Cursor
from hush.archive.request import encode_direct_request
from hush.archive.server import ArchiveConfig
from hush.archive.store import ArchivedEnvelope
from hush.crypto.keccak import keccak256
from hush.crypto.symmetric import SymmetricKey
from hush.node import Node
from hush.shh import packets
from hush.shh.envelope import Envelope
from hush.shh.filters import Filter
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.shh.peer import Ignored, MailPacket, MailRequest, ShhPeer
from hush.shh.topic import FULL_BLOOM, topic_to_bloom
from hush.types import Topic

from .helpers import (
    PASSWORD,
    archive_node,
    exchange,
    geth_envelopes,
    node_config,
    raw_peer,
    wait_for,
)
from .test_server import batch, complete

GETH = [Envelope.decode(raw) for raw in geth_envelopes()]
NEWEST_FIRST = sorted(GETH, key=lambda e: (e.sent, e.hash), reverse=True)
LOWER = min(e.sent for e in GETH)
UPPER = max(e.sent for e in GETH)
RID = bytes(range(32))


def error(request_id: bytes, why: str) -> bytes:
    size = 38 + len(why)
    header = bytes((0x80 + size,)) if size < 56 else bytes((0xB8, size))
    return header + b"ERROR=" + request_id + why.encode()


def test_peer_hands_a_non_envelope_request_over_raw() -> None:
    peer = ShhPeer(accept_mail_requests=False)
    peer.receive(PacketCode.STATUS, packets.encode_status(Status()))
    direct = encode_direct_request(RID, 1, 2, 10, None, FULL_BLOOM)
    # No archive server: ignored unread, garbage included (geth never decodes it then).
    assert isinstance(peer.receive(PacketCode.P2P_REQUEST, b"\xff garbage"), Ignored)
    assert isinstance(peer.receive(PacketCode.P2P_REQUEST, direct), Ignored)
    peer.accept_mail_requests = True
    code = PacketCode.P2P_REQUEST
    assert peer.receive(code, direct) == MailRequest(MailPacket(code, direct))
    assert peer.receive(code, b"\xff") == MailRequest(MailPacket(code, b"\xff"))
    envelope = GETH[0]
    assert peer.receive(PacketCode.P2P_REQUEST, envelope.encode()) == MailRequest(envelope)
    assert peer.active  # none of it failed the peer


async def test_direct_request_is_served_batched_with_its_id(store_url: str) -> None:
    async with archive_node(store_url) as (node, server):
        server.store.put([ArchivedEnvelope.of(e) for e in GETH])
        connection = await raw_peer(node)
        got: list[bytes] = []
        cursor: Cursor | None = None
        while True:
            direct = encode_direct_request(RID, LOWER, UPPER, 2, cursor, FULL_BLOOM)
            messages, done = await exchange(connection, direct)
            page = NEWEST_FIRST[len(got) : len(got) + 2]
            assert messages == [batch([e.encode() for e in page])]  # always batched
            got.extend(rlp.split_list(messages[0]))
            if len(got) < len(GETH):
                cursor = Cursor(page[-1].sent, page[-1].hash)
                assert done == complete(RID, page[-1].hash, cursor.encode())
            else:
                assert done == complete(RID, page[-1].hash)
                break
        assert got == [e.encode() for e in NEWEST_FIRST]
        # The bloom selects topics, as for the other dialects.
        topic = NEWEST_FIRST[0].topic
        want = [e.encode() for e in NEWEST_FIRST if e.topic == topic]
        direct = encode_direct_request(RID, LOWER, UPPER, 100, None, topic_to_bloom(topic))
        messages, _ = await exchange(connection, direct)
        assert rlp.split_list(messages[0]) == want
        assert server.stats.requests[("direct", "ok")] == len(GETH) // 2 + len(GETH) % 2 + 1
        connection.close()


async def test_hostile_direct_requests_get_errors_and_the_peer_stays(store_url: str) -> None:
    async with archive_node(store_url) as (node, server):
        server.store.put([ArchivedEnvelope.of(e) for e in GETH])
        connection = await raw_peer(node)
        garbage = b"\xc5\x01"  # a truncated list: neither an envelope nor a MessagesRequest
        assert (await exchange(connection, garbage)) == (
            [],
            error(keccak256(garbage), "invalid request: " + _rlp_error(garbage)),
        )
        empty_bloom = encode_direct_request(RID, LOWER, UPPER, 10, None, b"")
        assert (await exchange(connection, empty_bloom)) == (
            [],
            error(RID, "invalid request: bloom must not be empty"),
        )
        backwards = encode_direct_request(RID, UPPER, LOWER, 10, None, FULL_BLOOM)
        assert (await exchange(connection, backwards)) == (
            [],
            error(RID, f"invalid time range: from {UPPER} is after to {LOWER}"),
        )
        too_many = encode_direct_request(RID, LOWER, UPPER, 1001, None, FULL_BLOOM)
        assert (await exchange(connection, too_many))[1] == error(RID, "limit 1001 exceeds 1000")
        messages, _ = await exchange(
            connection, encode_direct_request(RID, LOWER, UPPER, 1000, None, FULL_BLOOM)
        )
        assert rlp.split_list(messages[0]) == [e.encode() for e in NEWEST_FIRST]
        assert server.refused == 4 and any(p.node_id for p in node.peers())
        connection.close()


def _rlp_error(payload: bytes) -> str:
    from hush.archive.request import RequestRefused, decode_p2p_request

    try:
        decode_p2p_request(payload)
    except RequestRefused as exc:
        return str(exc).removeprefix("invalid request: ")
    raise AssertionError("garbage decoded")


async def test_direct_requests_can_be_refused_by_configuration(store_url: str) -> None:
    config = ArchiveConfig(password=PASSWORD, accept_direct=False)
    async with archive_node(store_url, config) as (node, _):
        connection = await raw_peer(node)
        direct = encode_direct_request(RID, LOWER, UPPER, 10, None, FULL_BLOOM)
        assert (await exchange(connection, direct)) == (
            [],
            error(RID, "direct requests are not accepted here"),
        )
        connection.close()


async def test_garbage_126_without_an_archive_server_is_ignored_like_geth() -> None:
    """geth reads 126 only when it runs a mail server: the peer stays, and what it sends next
    (an envelope) is still taken."""
    async with Node(node_config()) as node:
        connection = await raw_peer(node)
        await connection.send_message("shh", PacketCode.P2P_REQUEST, b"\xff not rlp at all")
        await connection.send_message(
            "shh", PacketCode.P2P_REQUEST, encode_direct_request(RID, 1, 2, 3, None, FULL_BLOOM)
        )
        now = int(time.time())
        envelope = wrap(b"after", Topic(b"abcd"), now, os.urandom, sym_key=SymmetricKey(RID))
        await connection.send_message(
            "shh", PacketCode.MESSAGES, packets.encode_messages([envelope.encode()])
        )
        await wait_for(lambda: envelope.hash in node.pool, timeout=10)
        assert len(node.peers()) == 1
        connection.close()


async def test_history_client_direct_mode_end_to_end(store_url: str) -> None:
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    topics = (Topic(b"\x00\x00\x00\x01"), Topic(b"\x00\x00\x00\x02"), Topic(b"\x00\x00\x00\x03"))
    rows = [
        ArchivedEnvelope.of(
            wrap(b"m%d" % i, topics[i % 3], now - 3600 + i, os.urandom, sym_key=key, ttl=60)
        )
        for i in range(90)
    ]
    async with archive_node(store_url) as (server_node, server):
        server.store.put(rows)
        async with Node(node_config(listen=False)) as client_node:
            filter_id = client_node.install_filter(
                Filter(sym_key=key, topics=frozenset(topics[:2]))
            )
            client = HistoryClient(client_node.deliver_archived)
            query = HistoryQuery(now - 7200, now, topics[:2], limit=25, mode="direct")
            result = await client.fetch(server_node.enode, query)
            assert result.error is None, result.error
            assert result.envelopes == 60 and result.duplicates == 0
            assert len(result.request_id) == 32 and result.cursor is None
            payloads = sorted(m.payload for m in client_node.filter_messages(filter_id))
            assert payloads == sorted(b"m%d" % i for i in range(90) if i % 3 != 2)
            assert server.stats.requests[("direct", "ok")] == result.pages
