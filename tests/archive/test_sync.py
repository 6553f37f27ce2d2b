"""Server↔server sync on 123/124 between trusted peers (archive.md §1.1, §1.6): the codec, the
shh layer's trust gate, and two real archive nodes on loopback syncing a range page by page."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hush import rlp
from hush.archive.cursor import Cursor
from hush.archive.page import PageQuery
from hush.archive.request import RequestRefused
from hush.archive.server import ArchiveServer
from hush.archive.store import ArchivedEnvelope
from hush.archive.sync import (
    decode_sync_request,
    decode_sync_response,
    encode_sync_request,
    encode_sync_response,
)
from hush.crypto import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.enode import Enode
from hush.errors import DecodeError, UsageError
from hush.net import P2PConfig, dial
from hush.node import Node
from hush.rpc.jsonrpc import CallContext
from hush.rpc.shhext import ShhextMethods
from hush.shh import packets
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.shh.peer import SYNC_REQUEST, SYNC_RESPONSE, Ignored, MailPacket, MailRequest, ShhPeer
from hush.shh.topic import FULL_BLOOM, topic_to_bloom
from hush.types import EnvelopeHash, Topic

from .helpers import archive_node, wait_for

TOPICS = [Topic(bytes.fromhex(t)) for t in ("11223344", "55667701", "99aabb02", "ccddee03")]
"""Topics whose blooms are disjoint (1..4 as 4-byte numbers would share theirs)."""
NO_HASH = EnvelopeHash(bytes(32))
CURSOR = Cursor(0x5F000000, bytes(range(32)))


def test_sync_codec_round_trips_and_refuses_bad_requests() -> None:
    payload = encode_sync_request(10, 20, FULL_BLOOM, 1000, CURSOR)
    request = decode_sync_request(payload)
    assert (request.lower, request.upper, request.limit, request.cursor) == (10, 20, 1000, CURSOR)
    for bad, why in [
        (encode_sync_request(10, 20, FULL_BLOOM, 0), "limit must be 1..1000"),
        (encode_sync_request(10, 20, FULL_BLOOM, 1001), "limit must be 1..1000"),
        (encode_sync_request(20, 10, FULL_BLOOM, 5), "lower is after upper"),
        (encode_sync_request(1, 2, bytes(10), 5), "bloom must be 64"),
        (rlp.encode([b"\x01", b"\x02", FULL_BLOOM, b"\x05", b"\x00" * 35]), "cursor must be 36"),
        (rlp.encode([b"\x01", b"\x02"]), "expected 5 items"),
        (b"\xc5\x01", "invalid sync request"),
    ]:
        with pytest.raises(RequestRefused, match=why):
            decode_sync_request(bad)
    raws = [wrap(b"x", TOPICS[0], 100, os.urandom, sym_key=SymmetricKey(bytes(range(32)))).encode()]
    response = decode_sync_response(encode_sync_response(raws, CURSOR))
    assert (response.raw_envelopes, response.cursor, response.final) == (raws, CURSOR, False)
    final = decode_sync_response(encode_sync_response([], None, "busy"))
    assert (final.raw_envelopes, final.cursor, final.final, final.error) == ([], None, True, "busy")
    with pytest.raises(DecodeError):
        decode_sync_response(rlp.encode([[], b"\x01" * 5, b"\x01", b""]))


def test_sync_packets_pass_the_shh_layer_only_from_trusted_peers() -> None:
    peer = ShhPeer(accept_mail_requests=True)
    peer.receive(PacketCode.STATUS, packets.encode_status(Status()))
    request = encode_sync_request(1, 2, FULL_BLOOM, 10)
    assert isinstance(peer.receive(SYNC_REQUEST, request), Ignored)  # untrusted
    assert isinstance(peer.receive(SYNC_RESPONSE, b"\xc0"), Ignored)
    peer.trusted = True
    assert peer.receive(SYNC_REQUEST, request) == MailRequest(MailPacket(SYNC_REQUEST, request))
    assert peer.receive(SYNC_RESPONSE, b"\xc0") == MailRequest(MailPacket(SYNC_RESPONSE, b"\xc0"))
    peer.accept_mail_requests = False  # no archive server: ignored, as geth ignores them
    assert isinstance(peer.receive(SYNC_REQUEST, request), Ignored)


def _history(now: int, count: int) -> list[ArchivedEnvelope]:
    key = SymmetricKey(os.urandom(32))
    return [
        ArchivedEnvelope.of(
            wrap(b"s%d" % i, TOPICS[i % 4], now - 5000 + i * 3, os.urandom, sym_key=key, ttl=60)
        )
        for i in range(count)
    ]


def _all(server: ArchiveServer, lower: int, upper: int) -> list[bytes]:
    return server.store.page(PageQuery(lower, upper, None, 1000), 0).raw_envelopes


@asynccontextmanager
async def _pair(
    urls: tuple[str, str], trust: bool = True
) -> AsyncIterator[tuple[Node, ArchiveServer, Node, ArchiveServer]]:
    """Two archive nodes, each with its own store, A connected to B, each trusting the other
    (unless `trust` is off on B's side)."""
    async with archive_node(urls[0]) as (a, a_server), archive_node(urls[1]) as (b, b_server):
        if trust:
            b.add_trusted_peer(a.enode)
        a.add_trusted_peer(b.enode)
        a.add_peer(b.enode)
        await wait_for(lambda: any(p.node_id == b.node_key.node_id for p in a.peers()))
        await wait_for(lambda: any(p.node_id == a.node_key.node_id for p in b.peers()))
        yield a, a_server, b, b_server


async def test_two_archive_nodes_sync_a_range_page_by_page(
    store_url: str, second_store_url: str
) -> None:
    now = int(time.time())
    async with _pair((store_url, second_store_url)) as (a, a_server, b, b_server):
        rows = _history(now, 1200)  # sent now-5000 … now-1403
        b_server.store.put(rows)
        a_server.store.put(rows[:100])  # A already has some
        b_id = b.node_key.node_id
        result = await a_server.sync_from(a, b_id, now - 6000, now, limit=500)
        assert result.error is None, result.error
        assert (result.pages, result.received, result.archived) == (3, 1200, 1100)
        assert result.cursor is None and result.invalid == 0
        assert _all(a_server, 0, now) == _all(b_server, 0, now)  # the same raw bytes, in order
        again = await a_server.sync_from(a, b_id, now - 6000, now)
        assert (again.pages, again.received, again.archived) == (2, 1200, 0)  # 1000 + 200
        # One page at a time, by cursor; the cursor moves back.
        first = await a_server.sync_from(a, b_id, now - 6000, now, limit=10, follow_cursor=False)
        assert first.pages == 1 and first.received == 10 and first.cursor is not None
        # Through shhext_syncMessages, by topic, into a third range.
        methods = ShhextMethods(a, archive=a_server)
        answer = await methods.sync_messages(
            CallContext(),
            {
                "mailServerPeer": b.enode,
                "from": now - 6000,
                "to": now,
                "topics": ["0x11223344"],
                "limit": 100,
                "followCursor": True,
            },
        )
        assert answer == {
            "cursor": "",
            "error": "",
            "envelopes": 0,
            "received": 300,
            "pages": 3,
            "limited": False,
        }
        assert b_server.served >= 9


async def test_sync_by_bloom_and_errors_are_answered_in_the_124(
    store_url: str, second_store_url: str
) -> None:
    now = int(time.time())
    async with _pair((store_url, second_store_url)) as (a, a_server, b, b_server):
        rows = _history(now, 40)
        b_server.store.put(rows)
        b_id = b.node_key.node_id
        result = await a_server.sync_from(
            a, b_id, now - 6000, now, topic_to_bloom(TOPICS[2]), limit=1000
        )
        assert result.error is None and result.archived == 10
        assert {r.topic for r in rows if r.raw in _all(a_server, 0, now)} == {TOPICS[2]}
        with pytest.raises(UsageError, match="lower must not be after upper"):
            await a_server.sync_from(a, b_id, now, now - 10)


async def test_sync_needs_the_serving_side_to_trust_the_requester(
    store_url: str, second_store_url: str
) -> None:
    """B does not trust A: its shh layer ignores the 123 (as it ignores any unknown code), so
    the sync ends by its timeout, and B's archive never saw a request."""
    now = int(time.time())
    async with _pair((store_url, second_store_url), trust=False) as (a, a_server, b, b_server):
        b_server.store.put(_history(now, 5))
        result = await a_server.sync_from(a, b.node_key.node_id, 0, now, timeout=0.5)
        assert result.error == "sync expired: no answer from the peer in time"
        assert b_server.served == 0 and b_server.refused == 0
        assert a_server.store.count() == 0


async def test_a_trusted_raw_peer_gets_an_error_124_for_a_bad_sync_request(store_url: str) -> None:
    async with archive_node(store_url) as (node, _):
        key = PrivateKey.generate(os.urandom)
        node.add_trusted_peer(Enode(key.node_id, "127.0.0.1", 1, 1))
        config = P2PConfig(client_id="sync-peer", capabilities=(("shh", 6, 128),))
        connection = await dial(key, Enode.parse(node.enode), config)
        await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
        await connection.send_message("shh", SYNC_REQUEST, encode_sync_request(5, 1, FULL_BLOOM, 5))
        while True:
            _, code, payload = await connection.read_message()
            if code == SYNC_RESPONSE:
                break
        response = decode_sync_response(payload)
        assert response.error == "invalid sync request: lower is after upper" and response.final
        connection.close()


async def test_a_sync_is_capped_in_pages_and_goes_on_from_its_cursor(
    store_url: str, second_store_url: str
) -> None:
    now = int(time.time())
    async with _pair((store_url, second_store_url)) as (a, a_server, b, b_server):
        b_server.store.put(_history(now, 100))
        b_id = b.node_key.node_id
        first = await a_server.sync_from(a, b_id, now - 6000, now, limit=10, max_pages=3)
        assert first.limited and first.error is None and first.cursor is not None
        assert (first.pages, first.received, first.archived) == (3, 30, 30)
        rest = await a_server.sync_from(a, b_id, now - 6000, now, limit=10, cursor=first.cursor)
        assert not rest.limited and rest.cursor is None and rest.archived == 70
        capped = await a_server.sync_from(a, b_id, now - 6000, now, limit=25, max_envelopes=40)
        assert capped.limited and capped.pages == 2
        with pytest.raises(UsageError, match="at least one page"):
            await a_server.sync_from(a, b_id, 0, now, max_pages=0)


def _sync_envelope(sent: int, i: int) -> bytes:
    key = SymmetricKey(bytes(range(1, 33)))
    return wrap(b"h%d" % i, TOPICS[0], sent, os.urandom, sym_key=key, ttl=60).encode()


async def test_a_hostile_sync_peer_is_bounded_and_gets_typed_errors(store_url: str) -> None:
    """A trusted peer that answers 123s with 124s breaking them: more envelopes than asked,
    a cursor outside the range, envelopes outside the range, and a cursor chain that never
    ends (one second back per page): each ends the sync with an error or at its page cap."""
    now = int(time.time())
    lower, upper = now - 1000, now
    async with archive_node(store_url) as (node, server):
        key = PrivateKey.generate(os.urandom)
        node.add_trusted_peer(Enode(key.node_id, "127.0.0.1", 1, 1))
        config = P2PConfig(client_id="hostile-sync", capabilities=(("shh", 6, 128),))
        connection = await dial(key, Enode.parse(node.enode), config)
        await connection.send_message("shh", PacketCode.STATUS, packets.encode_status(Status()))
        await wait_for(lambda: any(p.node_id == key.node_id for p in node.peers()))
        answers: list[bytes] = []

        async def serve() -> None:
            while True:
                _, code, payload = await connection.read_message()
                if code == SYNC_REQUEST:
                    request = decode_sync_request(payload)
                    if answers:
                        reply = answers.pop(0)
                    else:  # endless: one second further back each time
                        sent = request.cursor.sent - 1 if request.cursor else upper
                        reply = encode_sync_response(
                            [_sync_envelope(sent, sent)], Cursor(sent, NO_HASH)
                        )
                    await connection.send_message("shh", SYNC_RESPONSE, reply)

        serving = asyncio.create_task(serve())
        try:
            answers.append(encode_sync_response([_sync_envelope(now, i) for i in range(11)], None))
            too_many = await server.sync_from(node, key.node_id, lower, upper, limit=10)
            assert (
                too_many.error
                == "invalid sync response: sync response: 11 envelopes for a limit of 10"
            )
            assert too_many.archived == 0
            answers.append(encode_sync_response([], Cursor(upper + 5, NO_HASH)))
            outside = await server.sync_from(node, key.node_id, lower, upper)
            assert outside.error is not None and "outside the range" in outside.error
            answers.append(
                encode_sync_response([_sync_envelope(lower - 1, 1), _sync_envelope(now, 2)], None)
            )
            mixed = await server.sync_from(node, key.node_id, lower, upper)
            assert (mixed.invalid, mixed.archived, mixed.error) == (1, 1, None)
            endless = await server.sync_from(node, key.node_id, lower, upper, max_pages=25)
            assert endless.limited and endless.pages == 25 and endless.error is None
            assert endless.cursor == Cursor(upper - 24, NO_HASH)
        finally:
            serving.cancel()
            connection.close()
