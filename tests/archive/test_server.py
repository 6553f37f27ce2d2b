"""The archive server in a real node on loopback: each request dialect in, the exact 127 and 125
bytes out (archive.md §1.7's matrix), against envelopes a real geth 1.9.7 made; hostile requests
answered ERROR= while the server keeps serving; ingest at first pool insertion; late arrivals."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hush import rlp
from hush.archive.admission import AdmissionConfig
from hush.archive.cursor import Cursor
from hush.archive.request import (
    encode_raw_request,
    encode_status_v1,
    encode_status_v2,
    encode_waku,
)
from hush.archive.server import ArchiveConfig
from hush.archive.store import ArchivedEnvelope
from hush.crypto.symmetric import SymmetricKey
from hush.node.ratelimit_config import Rate
from hush.shh.envelope import Envelope
from hush.shh.message import wrap
from hush.shh.topic import FULL_BLOOM, topic_to_bloom
from hush.types import Topic

from .helpers import PASSWORD, archive_node, exchange, geth_envelopes, raw_peer, request_envelope

GETH = [Envelope.decode(raw) for raw in geth_envelopes()]
NEWEST_FIRST = sorted(GETH, key=lambda e: (e.sent, e.hash), reverse=True)
LOWER = min(e.sent for e in GETH)
UPPER = max(e.sent for e in GETH)
DEADBEEF = Topic(bytes.fromhex("deadbeef"))
ZERO = Topic(bytes(4))


def complete(request_id: bytes, last: bytes, cursor: bytes = b"") -> bytes:
    """The status-go byte-string 125, spelled out: `b8 len ‖ id ‖ last hash ‖ cursor`."""
    body = request_id + last + cursor
    return bytes((0xB8, len(body))) + body


def batch(raws: list[bytes]) -> bytes:
    body = b"".join(raws)
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size + body


@pytest.fixture
async def served(store_url: str):  # type: ignore[no-untyped-def]
    generous = AdmissionConfig(peer_rate=Rate(10.0, 100.0))  # these tests ask a lot, on purpose
    config = ArchiveConfig(password=PASSWORD, admission=generous)
    async with archive_node(store_url, config) as (node, server):
        server.store.put([ArchivedEnvelope.of(e) for e in GETH])
        connection = await raw_peer(node)
        try:
            yield node, server, connection
        finally:
            connection.close()


def _of(topics: set[Topic]) -> list[Envelope]:
    return [e for e in NEWEST_FIRST if e.topic in topics]


async def test_matrix_geth_wnode_raw(served) -> None:  # type: ignore[no-untyped-def]
    """A: wnode's `lower ‖ upper(0xFFFFFFFF) ‖ bloom`: one raw envelope per 127, wnode's open upper
    bound served (geth returns nothing there), then 125 (which geth ignores)."""
    _, _, connection = served
    bloom = topic_to_bloom(DEADBEEF)
    request = request_envelope(encode_raw_request(LOWER, 0xFFFFFFFF, bloom), int(time.time()))
    messages, done = await exchange(connection, request.encode())
    want = _of({DEADBEEF})
    assert len(want) >= 5
    assert messages == [e.encode() for e in want]  # geth's own bytes, unchanged
    assert done == complete(request.hash, want[-1].hash)
    # Exactly 8 bytes: every topic.
    request = request_envelope(encode_raw_request(LOWER, UPPER), int(time.time()))
    messages, done = await exchange(connection, request.encode())
    assert messages == [e.encode() for e in NEWEST_FIRST]


async def test_matrix_status_raw_paged_follows_the_cursor(served) -> None:  # type: ignore[no-untyped-def]
    """A+: limit and a 36-byte cursor; pages without duplicates, the last without a cursor."""
    _, _, connection = served
    got: list[bytes] = []
    cursor: Cursor | None = None
    for _ in range(10):
        payload = encode_raw_request(LOWER, UPPER, FULL_BLOOM, 5, cursor)
        request = request_envelope(payload, int(time.time()))
        messages, done = await exchange(connection, request.encode())
        got += messages
        last = Envelope.decode(messages[-1])
        if len(got) < len(GETH):
            cursor = Cursor(last.sent, last.hash)
            assert done == complete(request.hash, last.hash, cursor.encode())
        else:
            assert done == complete(request.hash, last.hash)
            break
    assert got == [e.encode() for e in NEWEST_FIRST]


async def test_matrix_status_rlp_batched(served) -> None:  # type: ignore[no-untyped-def]
    """B (Batch): one 127 with a list of raw envelopes, then 125; C (topics): only those topics."""
    _, _, connection = served
    request = request_envelope(
        encode_status_v1(LOWER, 0, FULL_BLOOM, 0, None, True), int(time.time())
    )
    messages, done = await exchange(connection, request.encode())
    assert messages == [batch([e.encode() for e in NEWEST_FIRST])]
    assert done == complete(request.hash, NEWEST_FIRST[-1].hash)

    want = _of({ZERO})
    request = request_envelope(
        encode_status_v2(LOWER, UPPER, FULL_BLOOM, [ZERO], 1, None, False), int(time.time())
    )
    messages, done = await exchange(connection, request.encode())
    assert messages == [want[0].encode()]  # Batch false: a single envelope per packet
    if len(want) > 1:
        assert done == complete(
            request.hash, want[0].hash, Cursor(want[0].sent, want[0].hash).encode()
        )


async def test_matrix_waku_and_spec_forms(served) -> None:  # type: ignore[no-untyped-def]
    """D: topics win over the bloom, lists of envelopes; B′: 5 items, single envelopes."""
    _, _, connection = served
    want = _of({DEADBEEF})
    empty_bloom = bytes(64)  # MUST be ignored when topics are given
    request = request_envelope(
        encode_waku(LOWER, UPPER, empty_bloom, 100, None, [DEADBEEF]), int(time.time())
    )
    messages, done = await exchange(connection, request.encode())
    assert messages == [batch([e.encode() for e in want])]
    assert done == complete(request.hash, want[-1].hash)
    five = rlp.encode([rlp.uint_bytes(LOWER), rlp.uint_bytes(UPPER), FULL_BLOOM, b"\x02", b""])
    request = request_envelope(five, int(time.time()))
    messages, done = await exchange(connection, request.encode())
    assert messages == [e.encode() for e in NEWEST_FIRST[:2]]
    top = NEWEST_FIRST[1]
    assert done == complete(request.hash, top.hash, Cursor(top.sent, top.hash).encode())


async def test_request_to_the_node_key_and_list_form(store_url: str) -> None:
    """Requests encrypted to the node's key; 125 in the specs' list form by configuration."""
    from hush.archive.complete import CompleteForm

    async with archive_node(store_url, ArchiveConfig(complete_form=CompleteForm.LIST)) as (
        node,
        server,
    ):
        server.store.put([ArchivedEnvelope.of(e) for e in GETH])
        connection = await raw_peer(node)
        request = request_envelope(
            encode_status_v1(LOWER, UPPER, FULL_BLOOM, 3, None, True),
            int(time.time()),
            public_key=node.node_key.public_key,
        )
        messages, done = await exchange(connection, request.encode())
        assert messages == [batch([e.encode() for e in NEWEST_FIRST[:3]])]
        third = NEWEST_FIRST[2]
        cursor = Cursor(third.sent, third.hash).encode()
        assert done == rlp.encode([request.hash, third.hash, cursor])
        connection.close()


async def test_hostile_requests_get_error_answers_and_the_server_keeps_serving(served) -> None:  # type: ignore[no-untyped-def]
    node, server, connection = served
    now = int(time.time())

    async def refused(envelope: Envelope, why: str) -> None:
        messages, done = await exchange(connection, envelope.encode())
        assert messages == []
        size = 38 + len(why)  # `ERROR=` ‖ request id ‖ text, as one RLP byte string
        header = bytes((0x80 + size,)) if size < 56 else bytes((0xB8, size))
        assert done == header + b"ERROR=" + envelope.hash + why.encode()

    await refused(
        request_envelope(encode_raw_request(LOWER, UPPER), now, signed=False), "wrong signature"
    )
    wrong = SymmetricKey(os.urandom(32))
    await refused(
        request_envelope(encode_raw_request(LOWER, UPPER), now, sym_key=wrong),
        "failed to decrypt the request",
    )
    await refused(
        request_envelope(encode_status_v1(LOWER, UPPER, FULL_BLOOM, 1001, None, True), now),
        "limit 1001 exceeds 1000",
    )
    await refused(
        request_envelope(encode_raw_request(UPPER, LOWER), now),
        f"invalid time range: from {UPPER} is after to {LOWER}",
    )
    await refused(
        request_envelope(b"\x01" * 20, now),
        "invalid request: raw payload of 20 bytes (bloom needs 64)",
    )
    # Still serving, on the same connection.
    request = request_envelope(encode_raw_request(LOWER, UPPER), now)
    messages, _ = await exchange(connection, request.encode())
    assert len(messages) == len(GETH)
    assert server.refused == 5
    requests = server.stats.requests  # the metrics (hush.metrics.archive)
    assert requests[("other", "invalid")] == 3  # refused before a dialect was known
    assert requests[("status_v1", "invalid")] == 1 and requests[("raw", "invalid")] == 1
    assert requests[("raw", "ok")] == 1
    assert server.stats.envelopes_sent == len(GETH)
    assert any(p.node_id for p in node.peers())  # never disconnected


async def test_floods_are_rate_limited_per_peer_without_disconnect(store_url: str) -> None:
    admission = AdmissionConfig(peer_rate=Rate(0.001, 3.0))
    async with archive_node(store_url, ArchiveConfig(password=PASSWORD, admission=admission)) as (
        node,
        server,
    ):
        server.store.put([ArchivedEnvelope.of(e) for e in GETH])
        flooder = await raw_peer(node)
        answers = []
        for _ in range(6):
            request = request_envelope(encode_raw_request(LOWER, UPPER), int(time.time()))
            answers.append((await exchange(flooder, request.encode()))[1])
        errors = [a for a in answers if a[2:8] == b"ERROR="]
        assert len(errors) == 3 and all(a.endswith(b"rate limit exceeded") for a in errors)
        other = await raw_peer(node)  # another peer is served meanwhile
        request = request_envelope(encode_raw_request(LOWER, UPPER), int(time.time()))
        messages, _ = await exchange(other, request.encode())
        assert len(messages) == len(GETH)
        flooder.close()
        other.close()


async def test_archives_at_first_pool_insertion_and_late_arrivals_are_served(
    store_url: str, tmp_path: Path
) -> None:
    """Envelopes enter the archive when the pool first accepts them; one whose `sent` lies inside
    an already-fetched window but arrives later is served on the next request (zero loss)."""
    async with archive_node(store_url) as (node, server):
        now = int(time.time())
        key = SymmetricKey(os.urandom(32))

        def make(sent: int, text: bytes) -> Envelope:
            return wrap(text, DEADBEEF, sent, os.urandom, sym_key=key, ttl=600)

        early = [make(now - 100 + i, b"early %d" % i) for i in range(5)]
        for envelope in early:
            await node.inject(envelope)
        await node.inject(early[0])  # a duplicate: not accepted again
        await server.flush()
        assert server.store.count() == 5
        connection = await raw_peer(node)
        window = encode_status_v1(now - 200, now, FULL_BLOOM, 100, None, True)
        messages, _ = await exchange(connection, request_envelope(window, now).encode())
        assert rlp.split_list(messages[0]) == [e.encode() for e in reversed(early)]
        late = make(now - 150, b"late")  # inside the fetched window
        await node.inject(late)
        await server.flush()
        messages, _ = await exchange(connection, request_envelope(window, now).encode())
        assert late.encode() in rlp.split_list(messages[0])
        assert server.archived == 6
        connection.close()


async def test_bloom_beyond_the_topic_cap_is_read_and_filtered(store_url: str) -> None:
    """A bloom matching more topics than `max_bloom_topics` is served by reading the range and
    filtering: the same envelopes, in the same order, as the topic lookups give."""
    from hush.shh.topic import aggregate_blooms

    bloom = aggregate_blooms(topic_to_bloom(DEADBEEF), topic_to_bloom(ZERO))
    want = _of({DEADBEEF, ZERO})
    for cap in (1000, 1):
        config = ArchiveConfig(password=PASSWORD, max_bloom_topics=cap)
        async with archive_node(store_url, config) as (node, server):
            server.store.put([ArchivedEnvelope.of(e) for e in GETH])
            connection = await raw_peer(node)
            payload = encode_raw_request(LOWER, 0xFFFFFFFF, bloom)
            request = request_envelope(payload, int(time.time()))
            messages, done = await exchange(connection, request.encode())
            assert messages == [e.encode() for e in want]
            assert done == complete(request.hash, want[-1].hash)
            connection.close()
