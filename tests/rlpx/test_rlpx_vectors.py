"""Replays devp2p.md §8: V1 (EIP-8 handshake), V2 (fake-hash frame), V3 (real-MAC frames), V5 (Hello)."""

from __future__ import annotations

import os

import pytest
from rlpx_vectors import (
    ACK1,
    ACK2,
    ACK3,
    AUTH1,
    AUTH2,
    AUTH3,
    V2_FRAME,
    V3_F1,
    V3_F1_PAYLOAD,
    V3_F2,
    V3_F3,
    V5_HELLO,
)

from hush.crypto import PrivateKey, keccak256
from hush.rlpx.base import Hello, snappy_compress
from hush.rlpx.frame import FrameCodec
from hush.rlpx.handshake import (
    HandshakeFormat,
    Recipient,
    decode_ack,
    decode_auth,
    derive_secrets,
)

KEY_A = PrivateKey(
    bytes.fromhex("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee")
)
KEY_B = PrivateKey(
    bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
)
EPH_A = PrivateKey(
    bytes.fromhex("869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d")
)
EPH_B = PrivateKey(
    bytes.fromhex("e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4")
)
NONCE_A = bytes.fromhex("7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6")
NONCE_B = bytes.fromhex("559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd")
SIGNATURE = bytes.fromhex(
    "299ca6acfd35e3d72d8ba3d1e2b60b5561d5af5218eb5bc182045769eb4226910a301acae3b369fffc4a4899d6b02531"
    "e89fd4fe36a2cf0d93607ba470b50f7800"
)
AES_SECRET = bytes.fromhex("80e8632c05fed6fc2a13b0f8d31a3cf645366239170ea067065aba8e28bac487")
MAC_SECRET = bytes.fromhex("2ea74ec5dae199227dff1af715362700e989d889d7a493cb0639691efb8e5f98")


@pytest.mark.parametrize(
    ("packet", "format", "version"),
    [
        (AUTH1, HandshakeFormat.LEGACY, 0),
        (AUTH2, HandshakeFormat.EIP8, 4),
        (AUTH3, HandshakeFormat.EIP8, 56),
    ],
)
def test_auth_vectors_decode(packet: bytes, format: HandshakeFormat, version: int) -> None:
    auth = decode_auth(KEY_B, packet)
    assert auth.format is format
    assert auth.version == version
    assert auth.signature == SIGNATURE
    assert auth.initiator_public_key == KEY_A.node_id
    assert auth.initiator_nonce == NONCE_A


@pytest.mark.parametrize(
    ("packet", "format", "version"),
    [
        (ACK1, HandshakeFormat.LEGACY, 0),
        (ACK2, HandshakeFormat.EIP8, 4),
        (ACK3, HandshakeFormat.EIP8, 57),
    ],
)
def test_ack_vectors_decode(packet: bytes, format: HandshakeFormat, version: int) -> None:
    ack = decode_ack(KEY_A, packet)
    assert ack.format is format
    assert ack.version == version
    assert ack.ephemeral_public_key == EPH_B.node_id
    assert ack.recipient_nonce == NONCE_B


def test_legacy_auth_carries_ephemeral_hash() -> None:
    from hush.crypto import ecies_decrypt

    plain = ecies_decrypt(KEY_B, AUTH1)
    assert plain is not None
    assert plain[65:97] == keccak256(EPH_A.node_id)


def _session(initiator: bool) -> FrameCodec:
    secrets = derive_secrets(
        initiator=initiator,
        ephemeral_key=EPH_A if initiator else EPH_B,
        remote_ephemeral_public_key=(EPH_B if initiator else EPH_A).node_id,
        initiator_nonce=NONCE_A,
        recipient_nonce=NONCE_B,
        auth_packet=AUTH2,
        ack_packet=ACK2,
        remote_node_id=(KEY_B if initiator else KEY_A).node_id,
    )
    assert secrets.aes_secret == AES_SECRET
    assert secrets.mac_secret == MAC_SECRET
    return FrameCodec(
        secrets.aes_secret, secrets.mac_secret, secrets.egress_mac, secrets.ingress_mac
    )


def test_eip8_session_secrets_and_ingress_mac() -> None:
    secrets = derive_secrets(
        initiator=False,
        ephemeral_key=EPH_B,
        remote_ephemeral_public_key=EPH_A.node_id,
        initiator_nonce=NONCE_A,
        recipient_nonce=NONCE_B,
        auth_packet=AUTH2,
        ack_packet=ACK2,
        remote_node_id=KEY_A.node_id,
    )
    assert secrets.aes_secret == AES_SECRET
    assert secrets.mac_secret == MAC_SECRET
    secrets.ingress_mac.update(b"foo")
    assert secrets.ingress_mac.digest().hex() == (
        "0c7ec6340062cc46f5e9f1e3cf86f8c8c403c5a0964f5df0ebd34a75ddc86db5"
    )
    secrets.egress_mac.update(b"foo")
    assert secrets.egress_mac.digest().hex() == (
        "64f0b10a107ff6f066a9e0a48a47230e1ab816b85584cdcf3364c42ae6e4c75a"
    )


def test_recipient_replays_auth2_to_the_vector_secrets() -> None:
    # B, with the vector's ephemeral key and nonce, answers Auth₂; its MAC seeds must use the
    # full prefixed Auth₂ (the ack it sends is random, so only ingress can be pinned).
    recipient = Recipient(KEY_B, os.urandom, ephemeral_key=EPH_B, nonce=NONCE_B)
    result = recipient.receive(bytearray(AUTH2))
    assert result is not None
    ack, secrets = result
    assert secrets.remote_node_id == KEY_A.node_id
    ack_msg = decode_ack(KEY_A, ack)
    assert ack_msg.format is HandshakeFormat.EIP8
    assert ack_msg.recipient_nonce == NONCE_B
    secrets.ingress_mac.update(b"foo")
    assert secrets.ingress_mac.digest().hex().startswith("0c7ec634")


def test_recipient_answers_legacy_auth_with_legacy_ack() -> None:
    recipient = Recipient(KEY_B, os.urandom, ephemeral_key=EPH_B, nonce=NONCE_B)
    result = recipient.receive(bytearray(AUTH1))
    assert result is not None
    ack, _ = result
    assert len(ack) == 210
    assert decode_ack(KEY_A, ack).format is HandshakeFormat.LEGACY


class _FakeHash:
    """geth's TestRLPXFrameFake hash: digest is always 32 × 0x01, updates are ignored."""

    def update(self, data: bytes, /) -> None:
        pass

    def digest(self) -> bytes:
        return b"\x01" * 32


def test_v2_fake_hash_frame() -> None:
    secret = keccak256(b"")
    codec = FrameCodec(secret, secret, _FakeHash(), _FakeHash())
    frame = codec.encode(b"\x08" + bytes.fromhex("c401020304"))
    assert frame == V2_FRAME
    reader = FrameCodec(secret, secret, _FakeHash(), _FakeHash())
    assert reader.decode(bytearray(V2_FRAME)) == bytes.fromhex("08c401020304")


def test_v3_frames_with_real_macs() -> None:
    b_side = _session(initiator=False)
    a_side = _session(initiator=True)
    assert b_side.encode(b"\x80" + V3_F1_PAYLOAD) == V3_F1
    assert b_side.encode(b"\x02" + snappy_compress(b"\xc0")) == V3_F2
    hello_a = Hello(5, "kat", (("shh", 6),), 0, KEY_A.node_id).encode()
    assert a_side.encode(b"\x80" + hello_a) == V3_F3
    assert a_side.egress_digest.hex() == (
        "fb0de181da3e4387a28cdcd2f8f3ea1f49ce9b74a03de56fc178bb7533143c96"
    )
    assert b_side.egress_digest.hex() == (
        "013e0a6514e2eff0517bb41c2ab7a2a471f5b113faebf676fe114ffc699c0d71"
    )
    # The other side's ingress reads them back, one byte at a time for the incremental path.
    buffer = bytearray()
    frames = []
    for byte in V3_F1 + V3_F2:
        buffer.append(byte)
        frame = a_side.decode(buffer)
        if frame is not None:
            frames.append(frame)
    assert frames == [b"\x80" + V3_F1_PAYLOAD, bytes.fromhex("020100c0")]
    assert not buffer
    assert b_side.decode(bytearray(V3_F3)) == b"\x80" + hello_a


def test_v3_hello_payload_matches_our_encoder() -> None:
    assert Hello(5, "kat", (("shh", 6),), 0, KEY_B.node_id).encode() == V3_F1_PAYLOAD
    hello = Hello.decode(V3_F1_PAYLOAD)
    hello.check_identity(KEY_B.node_id)


def test_v5_hello_with_extras() -> None:
    hello = Hello.decode(V5_HELLO)
    assert hello.version == 55
    assert hello.client_id == "kneth/v0.91/plan9"
    assert hello.capabilities == (("eth", 61), ("mork", 22))
    assert hello.listen_port == 9999
    assert hello.node_id == KEY_A.node_id
    hello.check_identity(KEY_A.node_id)
