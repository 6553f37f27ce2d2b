"""The archive's pure core: the request dialects told apart in the spec's order, the cursor, the
125 encodings and page cutting (archive.md §1.2–1.4, §1.7). Exact bytes, written out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hush import rlp
from hush.archive.complete import (
    CompleteForm,
    RequestComplete,
    RequestFailed,
    bundle_envelopes,
    decode_complete,
    encode_complete,
    encode_error,
)
from hush.archive.cursor import Cursor
from hush.archive.page import cut_page, resolve, topics_for_bloom
from hush.archive.request import (
    Dialect,
    HistoryRequest,
    RequestRefused,
    decode_p2p_request,
    encode_direct_request,
    encode_raw_request,
    encode_status_v1,
    encode_status_v2,
    encode_waku,
    parse_request_payload,
)
from hush.errors import DecodeError
from hush.shh.envelope import Envelope
from hush.shh.topic import FULL_BLOOM, topic_to_bloom
from hush.types import Bloom, EnvelopeHash, Topic

GETH_VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "envelopes.json").read_text()
)["vectors"]
RID = bytes(range(32))
T1 = Topic(bytes.fromhex("deadbeef"))
T2 = Topic(bytes.fromhex("01020304"))
BLOOM = Bloom(bytes(topic_to_bloom(T1)))
CURSOR = Cursor(0x5F000010, EnvelopeHash(b"\xaa" * 32))


def test_cursor_is_gethss_mailserver_key() -> None:
    """geth's wnode mailserver key is `uint32_be(sent) ‖ hash`: the cursor has that layout."""
    for vector in GETH_VECTORS:
        if "mailserver_db_key" not in vector:
            continue
        envelope = Envelope.decode(bytes.fromhex(vector["envelope_rlp"][2:]))
        cursor = Cursor(envelope.sent, envelope.hash)
        assert cursor.encode().hex() == vector["mailserver_db_key"].removeprefix("0x")
        assert Cursor.decode(cursor.encode()) == cursor


def test_cursor_length_is_exactly_36() -> None:
    with pytest.raises(DecodeError):
        Cursor.decode(bytes(35))
    with pytest.raises(DecodeError):
        Cursor.decode(bytes(40))  # status-go ≥ 2021's 40-byte key is not a cursor


# The dialect matrix: bytes in, the request out.

RAW8 = bytes.fromhex("5f0000005f0000ff")
DIALECTS = [
    (RAW8, HistoryRequest(Dialect.RAW, RID, 0x5F000000, 0x5F0000FF, FULL_BLOOM)),
    (
        RAW8 + BLOOM,
        HistoryRequest(Dialect.RAW, RID, 0x5F000000, 0x5F0000FF, BLOOM),
    ),
    (
        RAW8 + BLOOM + b"\x00\x00\x00\x10",
        HistoryRequest(Dialect.RAW_PAGED, RID, 0x5F000000, 0x5F0000FF, BLOOM, (), 16),
    ),
    (
        RAW8 + BLOOM + b"\x00\x00\x00\x10" + CURSOR.encode(),
        HistoryRequest(Dialect.RAW_PAGED, RID, 0x5F000000, 0x5F0000FF, BLOOM, (), 16, CURSOR),
    ),
    (  # a 116-byte raw payload: the cursor is not 36 bytes where it should be, so none
        RAW8 + BLOOM + b"\x00\x00\x00\x10" + CURSOR.encode() + b"\x00" * 4,
        HistoryRequest(Dialect.RAW_PAGED, RID, 0x5F000000, 0x5F0000FF, BLOOM, (), 16),
    ),
    (  # B: 6 items, the last a byte string (Batch)
        bytes.fromhex("f84f845f000000845f0000ffb840") + BLOOM + bytes.fromhex("108001"),
        HistoryRequest(Dialect.STATUS_V1, RID, 0x5F000000, 0x5F0000FF, BLOOM, (), 16, None, True),
    ),
    (  # B′: 5 items
        bytes.fromhex("f872845f000000845f0000ffb840")
        + BLOOM
        + bytes.fromhex("10a4")
        + CURSOR.encode(),
        HistoryRequest(Dialect.SPEC_V03, RID, 0x5F000000, 0x5F0000FF, BLOOM, (), 16, CURSOR),
    ),
    (  # C: 7 items, topics in the middle
        bytes.fromhex("f85c845f000000845f0000ffb840")
        + BLOOM
        + bytes.fromhex("ca84deadbeef84010203048203e88001"),
        HistoryRequest(
            Dialect.STATUS_V2, RID, 0x5F000000, 0x5F0000FF, BLOOM, (T1, T2), 1000, None, True
        ),
    ),
    (  # D: 6 items, the last a list of topics
        bytes.fromhex("f854845f000000845f0000ffb840") + BLOOM + bytes.fromhex("1080c584deadbeef"),
        HistoryRequest(Dialect.WAKU, RID, 0x5F000000, 0x5F0000FF, BLOOM, (T1,), 16, None, True),
    ),
    (  # D without a cursor: 5 items, the last a list
        bytes.fromhex("f853845f000000845f0000ffb840") + BLOOM + bytes.fromhex("10c584deadbeef"),
        HistoryRequest(Dialect.WAKU, RID, 0x5F000000, 0x5F0000FF, BLOOM, (T1,), 16, None, True),
    ),
]


@pytest.mark.parametrize(
    ("payload", "expected"), DIALECTS, ids=[e.dialect.name for _, e in DIALECTS]
)
def test_dialects(payload: bytes, expected: HistoryRequest) -> None:
    assert parse_request_payload(payload, RID) == expected


def test_encoders_give_the_matrix_bytes() -> None:
    assert encode_raw_request(0x5F000000, 0x5F0000FF) == DIALECTS[0][0]
    assert encode_raw_request(0x5F000000, 0x5F0000FF, BLOOM, 16, CURSOR) == DIALECTS[3][0]
    assert encode_status_v1(0x5F000000, 0x5F0000FF, BLOOM, 16, None, True) == DIALECTS[5][0]
    assert (
        encode_status_v2(0x5F000000, 0x5F0000FF, BLOOM, [T1, T2], 1000, None, True)
        == (DIALECTS[7][0])
    )
    assert encode_waku(0x5F000000, 0x5F0000FF, BLOOM, 16, None, [T1]) == DIALECTS[8][0]


def test_direct_request_is_told_from_an_envelope() -> None:
    direct = encode_direct_request(RID, 0x5F000000, 0x5F0000FF, 16, CURSOR, BLOOM)
    request = decode_p2p_request(direct)
    assert request == HistoryRequest(
        Dialect.DIRECT, RID, 0x5F000000, 0x5F0000FF, BLOOM, (), 16, CURSOR, True
    )
    envelope = Envelope.decode(bytes.fromhex(GETH_VECTORS[0]["envelope_rlp"][2:]))
    assert decode_p2p_request(envelope.encode()) == envelope


HOSTILE = [
    (b"\x00" * 7, "raw payload of 7 bytes"),
    (RAW8 + b"\x00" * 10, "bloom needs 64"),
    (rlp.encode([b"\x01", b"\x02"]), "2 items"),
    (rlp.encode([b"\x01", b"\x02", b"\x00" * 10, b"\x10", b"", b"\x01"]), "bloom must be 64"),
    (rlp.encode([b"\x01", b"\x02", BLOOM, b"\x10", b"\x00" * 35, b"\x01"]), "cursor must be 36"),
    (rlp.encode([b"\x01", b"\x02", BLOOM, b"\x00\x10", b"", b"\x01"]), "non-canonical"),
    (rlp.encode([b"\x01", b"\x02", BLOOM, b"\x10", b"", b"\x02"]), "boolean"),
    (rlp.encode([b"\x01", b"\x02", BLOOM, b"\x10", b"", [b"\x01\x02\x03"]]), "4 bytes"),
    (rlp.encode([b"\x01", b"\x02", BLOOM, b"\x10", b"", [T1] * 1001]), "more than 1000"),
    (rlp.encode([b"\x01" * 5, b"\x02", BLOOM, b"\x10", b"", b""]), "uint32"),
]


@pytest.mark.parametrize(("payload", "why"), HOSTILE, ids=[w for _, w in HOSTILE])
def test_hostile_payloads_are_refused(payload: bytes, why: str) -> None:
    with pytest.raises(RequestRefused, match=why):
        parse_request_payload(payload, RID)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (rlp.encode([RID[:31], b"\x01", b"\x02", b"\x10", b"", BLOOM]), "32 bytes"),
        (rlp.encode([RID, b"\x01", b"\x02", b"\x10", b"", b""]), "must not be empty"),
        (rlp.encode([RID, b"\x01", b"\x02"]), "not an envelope"),
        (b"\xc5\x01", "RLP"),
        (b"", "RLP"),
    ],
)
def test_hostile_direct_requests(payload: bytes, why: str) -> None:
    with pytest.raises(RequestRefused, match=why):
        decode_p2p_request(payload)


# Bounds: limit, open upper bounds (wnode's 0xFFFFFFFF fixed), range caps.

NOW = 0x5F001000


def test_resolve_bounds() -> None:
    base = HistoryRequest(Dialect.RAW, RID, 0x5F000000, 0xFFFFFFFF, FULL_BLOOM)
    query = resolve(base, NOW)
    assert (query.lower, query.upper, query.limit, query.topics) == (
        0x5F000000,
        NOW + 60,
        1000,
        None,
    )
    query = resolve(HistoryRequest(Dialect.STATUS_V1, RID, 1, 0, BLOOM, (), 5), NOW)
    assert (query.upper, query.limit, query.bloom) == (NOW + 60, 5, BLOOM)
    query = resolve(HistoryRequest(Dialect.WAKU, RID, 1, 2, BLOOM, (T1,), 5), NOW)
    assert (query.topics, query.bloom) == ((T1,), None)  # topics win over the bloom
    with pytest.raises(RequestRefused, match="exceeds 1000"):
        resolve(HistoryRequest(Dialect.STATUS_V1, RID, 1, 2, BLOOM, (), 1001), NOW)
    with pytest.raises(RequestRefused, match="after"):
        resolve(HistoryRequest(Dialect.STATUS_V1, RID, 3, 2, BLOOM), NOW)
    with pytest.raises(RequestRefused, match="exceeds 86400"):
        resolve(HistoryRequest(Dialect.RAW, RID, 1, NOW, BLOOM), NOW, raw_max_range=86400)
    resolve(HistoryRequest(Dialect.STATUS_V1, RID, 1, NOW, BLOOM), NOW, raw_max_range=86400)


def test_topics_for_bloom_uses_geth_overwrite_semantics() -> None:
    assert topics_for_bloom([T1, T2], BLOOM) == (T1,)
    assert topics_for_bloom([T1, T2], FULL_BLOOM) == (T1, T2)


def test_cut_page_reads_one_more_and_last_page_has_no_cursor() -> None:
    rows = [(10 - i, bytes([i]) * 32, 100) for i in range(4)]
    keys, cursor = cut_page(rows, 3)
    assert keys == [(10, b"\x00" * 32), (9, b"\x01" * 32), (8, b"\x02" * 32)]
    assert cursor == Cursor(8, EnvelopeHash(b"\x02" * 32))
    assert cut_page(rows[:3], 3) == (keys, None)
    assert cut_page([], 3) == ([], None)
    keys, cursor = cut_page(rows, 3, max_bytes=250)  # a byte budget ends the page early
    assert keys == [(10, b"\x00" * 32), (9, b"\x01" * 32)]
    assert cursor == Cursor(9, EnvelopeHash(b"\x01" * 32))
    assert cut_page(rows[:1], 3, max_bytes=50) == ([(10, b"\x00" * 32)], None)  # at least one


# 125: the exact bytes.

LAST = b"\xbb" * 32


def test_complete_byte_string_form() -> None:
    assert encode_complete(RID, LAST, None) == b"\xb8\x40" + RID + LAST
    with_cursor = encode_complete(RID, LAST, CURSOR)
    assert with_cursor == b"\xb8\x64" + RID + LAST + CURSOR.encode()  # 100 bytes: the maximum
    assert decode_complete(with_cursor) == RequestComplete(RID, LAST, CURSOR)
    assert decode_complete(encode_complete(RID, LAST, None)) == RequestComplete(RID, LAST, None)


def test_complete_list_form() -> None:
    encoded = encode_complete(RID, LAST, CURSOR, CompleteForm.LIST)
    assert encoded == b"\xf8\x67" + b"\xa0" + RID + b"\xa0" + LAST + b"\xa4" + CURSOR.encode()
    assert decode_complete(encoded) == RequestComplete(RID, LAST, CURSOR)


def test_error_form() -> None:
    encoded = encode_error(RID, "rate limit exceeded")
    assert encoded == b"\xb8\x39" + b"ERROR=" + RID + b"rate limit exceeded"
    assert decode_complete(encoded) == RequestFailed(RID, "rate limit exceeded")
    assert len(encode_error(RID, "é" * 1000)) < 300  # cut, on a character boundary
    assert decode_complete(encode_error(RID, "é" * 1000)).error == "é" * 128  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "payload",
    [
        rlp.encode_bytes(b"\x00" * 31),
        rlp.encode_bytes(b"\x00" * 101),
        rlp.encode_bytes(b"\x00" * 40),
    ],
)
def test_complete_payloads_clients_disconnect_on(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_complete(payload)


def test_bundles_stay_under_the_packet_size() -> None:
    raws = [bytes([0xC0 + 1, i]) for i in range(1, 100)]  # 2-byte fake items
    bundles = list(bundle_envelopes(raws, 60))
    assert all(len(b) <= 60 for b in bundles)
    assert [item for b in bundles for item in rlp.split_list(b)] == raws
    big = [b"\x00" * 100, b"\x01"]
    assert list(bundle_envelopes(big, 60)) == [rlp.encode_list_payload(big[0]), b"\xc1\x01"]
