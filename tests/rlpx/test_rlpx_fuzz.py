"""Hypothesis: random and mutated bytes into every decoder; only hush's own errors may escape."""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rlpx_vectors import ACK2, AUTH1, AUTH2, V3_F1, V5_HELLO
from test_rlpx_connection import establish, make_pair

from hush.crypto import PrivateKey
from hush.errors import DecodeError, HushError, PeerError
from hush.rlpx import Capability, Connection, FrameCodec, Hello
from hush.rlpx.base import decode_disconnect, snappy_compress, snappy_decompress
from hush.rlpx.handshake import decode_ack, decode_auth

KEY_A = PrivateKey(
    bytes.fromhex("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee")
)
KEY_B = PrivateKey(
    bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip" and data:
            index = draw(st.integers(0, len(data) - 1))
            data[index] ^= draw(st.integers(1, 255))
        elif kind == "cut" and data:
            start = draw(st.integers(0, len(data) - 1))
            del data[start : start + draw(st.integers(1, 40))]
        else:
            index = draw(st.integers(0, len(data)))
            data[index:index] = draw(st.binary(min_size=1, max_size=20))
    return bytes(data)


def packets(*bases: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=700), *(mutated(base) for base in bases))


@FUZZ
@given(packets(AUTH1, AUTH2))
def test_decode_auth_only_raises_peer_error(data: bytes) -> None:
    with contextlib.suppress(PeerError):
        decode_auth(KEY_B, data)


@FUZZ
@given(packets(ACK2))
def test_decode_ack_only_raises_peer_error(data: bytes) -> None:
    with contextlib.suppress(PeerError):
        decode_ack(KEY_A, data)


@FUZZ
@given(packets(V5_HELLO))
def test_hello_decode_only_raises_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        Hello.decode(data)


@FUZZ
@given(st.binary(max_size=40), st.booleans())
def test_decode_disconnect_never_raises(data: bytes, snappy: bool) -> None:
    decode_disconnect(data, snappy)


@FUZZ
@given(st.one_of(st.binary(max_size=200), mutated(snappy_compress(b"hello" * 40))))
def test_snappy_decompress_only_raises_peer_error(data: bytes) -> None:
    with contextlib.suppress(PeerError):
        assert len(snappy_decompress(data, 1000)) <= 1000


@FUZZ
@given(packets(V3_F1))
def test_frame_decode_only_raises_peer_error(data: bytes) -> None:
    secret = bytes(32)
    from hush.crypto.keccak import keccak_state

    codec = FrameCodec(secret, secret, keccak_state(), keccak_state(), 4096)
    buffer = bytearray(data)
    try:
        while codec.decode(buffer) is not None:
            pass
    except PeerError:
        pass


@FUZZ
@given(packets(AUTH2), st.integers(1, 64))
def test_recipient_connection_on_hostile_auth(data: bytes, chunk: int) -> None:
    conn = Connection(KEY_B, os.urandom, client_id="b", capabilities=[Capability("shh", 6, 128)])
    try:
        for start in range(0, len(data), chunk):
            conn.receive_data(data[start : start + chunk])
            while conn.next_event() is not None:
                pass
    except PeerError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_established_connection_on_mutated_frames(data: st.DataObject) -> None:
    a, b = make_pair()
    establish(a, b)
    a.send_message("shh", 1, os.urandom(data.draw(st.integers(0, 300))))
    a.ping()
    wire = data.draw(mutated(a.data_to_send()))
    b.receive_data(wire)
    try:
        while b.next_event() is not None:
            pass
    except HushError:
        pass


@FUZZ
@given(st.text(max_size=300))
def test_enode_parse_only_raises_hush_errors(text: str) -> None:
    from hush.enode import Enode

    with contextlib.suppress(HushError):
        Enode.parse(text)


@FUZZ
@given(st.sampled_from(["enode://", "enode://" + KEY_A.node_id.hex()]), st.text(max_size=40))
def test_enode_parse_suffixes_only_raise_hush_errors(prefix: str, suffix: str) -> None:
    from hush.enode import Enode

    with contextlib.suppress(HushError):
        Enode.parse(prefix + suffix)
