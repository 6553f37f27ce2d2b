"""The RLPx handshake: auth and ack packets, both formats, and the session secrets (devp2p.md §2).

Rules (devp2p.md §2.2–§2.4, §7.1–§7.4):

* As initiator we always send EIP-8 auth and accept either ack format.
* As recipient we accept either auth format (geth's algorithm, §2.3: try the fixed legacy size as a
  whole ECIES blob first, else read the 2-byte size prefix) and answer in the format received.
* Only the first RLP item of an EIP-8 plaintext is decoded; version, extra list elements and the
  padding after the list are ignored.
* The MAC states are seeded with the packets exactly as they went over the wire (EIP-8: including
  the size prefix), and `shared-secret` hashes the recipient nonce first.

Everything here is pure: randomness comes from an injected `random_bytes`, bytes come in through an
explicit buffer. Remote misbehaviour raises `PeerError`; nothing else escapes on hostile input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from hush import rlp
from hush.crypto import (
    ECIES_OVERHEAD,
    PrivateKey,
    ecies_decrypt,
    ecies_encrypt,
    keccak256,
    recover_public_key,
)
from hush.crypto.keccak import keccak_state
from hush.errors import DecodeError, InvalidKeyError, PeerError
from hush.types import NodeID, RandomBytes

__all__ = [
    "ACK_LEGACY_SIZE",
    "AUTH_LEGACY_SIZE",
    "HANDSHAKE_VERSION",
    "MAX_HANDSHAKE_PACKET",
    "AckMessage",
    "AuthMessage",
    "HandshakeFormat",
    "Initiator",
    "Recipient",
    "Secrets",
    "decode_ack",
    "decode_auth",
    "derive_secrets",
    "encode_ack",
    "encode_auth",
]

HANDSHAKE_VERSION = 4
"""The version number we put in EIP-8 auth/ack (devp2p.md §2.2); the remote's is ignored."""

AUTH_LEGACY_SIZE = 307
"""Pre-EIP-8 auth on the wire: 194 bytes of plaintext + ECIES overhead (devp2p.md §2.2)."""

ACK_LEGACY_SIZE = 210
"""Pre-EIP-8 ack on the wire: 97 bytes of plaintext + ECIES overhead (devp2p.md §2.2)."""

MAX_HANDSHAKE_PACKET = 2048
"""Our cap on an EIP-8 packet (size prefix excluded). geth 1.8/1.9 have none, later geth caps at
2 KiB (devp2p.md §2.3); real packets are ~300–800 bytes."""

_SIG_LENGTH = 65
_KEY_LENGTH = 64
_NONCE_LENGTH = 32
_PAD_MIN = 100
_PAD_SPAN = 200  # EIP-8 padding: 100..299 bytes (geth's range)


class HandshakeFormat(enum.Enum):
    """Which wire format a handshake packet used (devp2p.md §2.2)."""

    LEGACY = "pre-EIP-8"
    EIP8 = "EIP-8"


@dataclass(frozen=True, slots=True)
class AuthMessage:
    """The decoded content of an auth packet."""

    signature: bytes
    initiator_public_key: bytes
    """64 bytes: the initiator's static key, its authenticated identity."""
    initiator_nonce: bytes
    version: int
    format: HandshakeFormat


@dataclass(frozen=True, slots=True)
class AckMessage:
    """The decoded content of an ack packet."""

    ephemeral_public_key: bytes
    recipient_nonce: bytes
    version: int
    format: HandshakeFormat


@dataclass(frozen=True, slots=True)
class Secrets:
    """Session secrets and the two running MAC states (devp2p.md §2.4).

    The MAC states are mutable Keccak sponges owned by the frame codec from here on.
    """

    remote_node_id: NodeID
    aes_secret: bytes
    mac_secret: bytes
    egress_mac: Any
    ingress_mac: Any


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _padding(random_bytes: RandomBytes) -> bytes:
    # The padding's length must vary (that is EIP-8's point); its content is ignored by everyone.
    length = _PAD_MIN + int.from_bytes(random_bytes(2), "big") % _PAD_SPAN
    return random_bytes(length)


def _seal(recipient: bytes, plaintext: bytes, random_bytes: RandomBytes, eip8: bool) -> bytes:
    recipient65 = b"\x04" + recipient
    if not eip8:
        return ecies_encrypt(recipient65, plaintext, random_bytes)
    body = plaintext + _padding(random_bytes)
    prefix = (len(body) + ECIES_OVERHEAD).to_bytes(2, "big")
    # The size prefix is authenticated as ECIES shared MAC data (devp2p.md §2.1, §7.2).
    return prefix + ecies_encrypt(recipient65, body, random_bytes, prefix)


def _static_shared(key: PrivateKey, remote_public_key: bytes) -> bytes:
    try:
        return key.ecdh_x(b"\x04" + remote_public_key)
    except InvalidKeyError as exc:
        raise PeerError("handshake: remote public key is not a curve point") from exc


def encode_auth(
    node_key: PrivateKey,
    remote_public_key: bytes,
    ephemeral_key: PrivateKey,
    nonce: bytes,
    random_bytes: RandomBytes,
    format: HandshakeFormat = HandshakeFormat.EIP8,
) -> bytes:
    """The auth packet as it goes on the wire."""
    token = _xor(_static_shared(node_key, remote_public_key), nonce)
    signature = ephemeral_key.sign(token)
    if format is HandshakeFormat.LEGACY:
        plain = signature + keccak256(ephemeral_key.node_id) + node_key.node_id + nonce + b"\x00"
        return _seal(remote_public_key, plain, random_bytes, eip8=False)
    plain = rlp.encode([signature, node_key.node_id, nonce, rlp.uint_bytes(HANDSHAKE_VERSION)])
    return _seal(remote_public_key, plain, random_bytes, eip8=True)


def encode_ack(
    remote_public_key: bytes,
    ephemeral_key: PrivateKey,
    nonce: bytes,
    random_bytes: RandomBytes,
    format: HandshakeFormat = HandshakeFormat.EIP8,
) -> bytes:
    """The ack packet as it goes on the wire."""
    if format is HandshakeFormat.LEGACY:
        plain = ephemeral_key.node_id + nonce + b"\x00"
        return _seal(remote_public_key, plain, random_bytes, eip8=False)
    plain = rlp.encode([ephemeral_key.node_id, nonce, rlp.uint_bytes(HANDSHAKE_VERSION)])
    return _seal(remote_public_key, plain, random_bytes, eip8=True)


class _PacketReader:
    """geth's dual-format reader (devp2p.md §2.3) over an explicit buffer.

    `read(buffer)` consumes exactly one packet from the front of `buffer` and returns
    (plaintext, packet bytes, format), or None while more bytes are needed.
    """

    __slots__ = ("_key", "_legacy_size", "_size")

    def __init__(self, key: PrivateKey, legacy_size: int) -> None:
        self._key = key
        self._legacy_size = legacy_size
        self._size: int | None = None  # set once the legacy attempt failed

    def read(self, buffer: bytearray) -> tuple[bytes, bytes, HandshakeFormat] | None:
        if self._size is None:
            if len(buffer) < self._legacy_size:
                return None
            head = bytes(buffer[: self._legacy_size])
            plain = ecies_decrypt(self._key, head)
            if plain is not None:
                del buffer[: self._legacy_size]
                return plain, head, HandshakeFormat.LEGACY
            size = int.from_bytes(head[:2], "big")
            if size < self._legacy_size:
                raise PeerError(f"handshake: EIP-8 size {size} underflows {self._legacy_size}")
            if size > MAX_HANDSHAKE_PACKET:
                raise PeerError(f"handshake: EIP-8 size {size} exceeds {MAX_HANDSHAKE_PACKET}")
            self._size = size
        total = self._size + 2
        if len(buffer) < total:
            return None
        packet = bytes(buffer[:total])
        plain = ecies_decrypt(self._key, packet[2:], packet[:2])
        if plain is None:
            raise PeerError("handshake: packet does not decrypt with our key")
        del buffer[:total]
        return plain, packet, HandshakeFormat.EIP8


def _first_list(plain: bytes, what: str, min_items: int) -> list[rlp.Item]:
    try:
        item, _ = rlp.decode_prefix(plain)
    except DecodeError as exc:
        raise PeerError(f"handshake: bad {what} RLP: {exc}") from exc
    if not isinstance(item, list) or len(item) < min_items:
        raise PeerError(f"handshake: {what} is not a list of at least {min_items} items")
    return item


def _field(item: rlp.Item, length: int, name: str) -> bytes:
    if not isinstance(item, bytes) or len(item) != length:
        raise PeerError(f"handshake: {name} must be {length} bytes")
    return item


def _version(item: rlp.Item) -> int:
    # The version is informational (EIP-8); a malformed one is still a malformed packet.
    try:
        return rlp.decode_uint(item, 64, "handshake version")
    except DecodeError as exc:
        raise PeerError(str(exc)) from exc


def _parse_auth(plain: bytes, format: HandshakeFormat) -> AuthMessage:
    if format is HandshakeFormat.LEGACY:
        if len(plain) != 194:
            raise PeerError("handshake: legacy auth must be 194 bytes")
        # bytes 65..97 (keccak of the ephemeral key) are redundant; geth skips them too.
        return AuthMessage(plain[:65], plain[97:161], plain[161:193], plain[193], format)
    fields = _first_list(plain, "auth", 4)
    return AuthMessage(
        _field(fields[0], _SIG_LENGTH, "auth signature"),
        _field(fields[1], _KEY_LENGTH, "auth public key"),
        _field(fields[2], _NONCE_LENGTH, "auth nonce"),
        _version(fields[3]),
        format,
    )


def _parse_ack(plain: bytes, format: HandshakeFormat) -> AckMessage:
    if format is HandshakeFormat.LEGACY:
        if len(plain) != 97:
            raise PeerError("handshake: legacy ack must be 97 bytes")
        return AckMessage(plain[:64], plain[64:96], plain[96], format)
    fields = _first_list(plain, "ack", 3)
    return AckMessage(
        _field(fields[0], _KEY_LENGTH, "ack ephemeral key"),
        _field(fields[1], _NONCE_LENGTH, "ack nonce"),
        _version(fields[2]),
        format,
    )


def decode_auth(key: PrivateKey, packet: bytes) -> AuthMessage:
    """Decode one complete auth packet (either format); raises PeerError."""
    buffer = bytearray(packet)
    result = _PacketReader(key, AUTH_LEGACY_SIZE).read(buffer)
    if result is None or buffer:
        raise PeerError("handshake: auth packet has the wrong length")
    return _parse_auth(result[0], result[2])


def decode_ack(key: PrivateKey, packet: bytes) -> AckMessage:
    """Decode one complete ack packet (either format); raises PeerError."""
    buffer = bytearray(packet)
    result = _PacketReader(key, ACK_LEGACY_SIZE).read(buffer)
    if result is None or buffer:
        raise PeerError("handshake: ack packet has the wrong length")
    return _parse_ack(result[0], result[2])


def derive_secrets(
    *,
    initiator: bool,
    ephemeral_key: PrivateKey,
    remote_ephemeral_public_key: bytes,
    initiator_nonce: bytes,
    recipient_nonce: bytes,
    auth_packet: bytes,
    ack_packet: bytes,
    remote_node_id: bytes,
) -> Secrets:
    """The session secrets and MAC states (devp2p.md §2.4)."""
    try:
        ephemeral_shared = ephemeral_key.ecdh_x(b"\x04" + remote_ephemeral_public_key)
    except InvalidKeyError as exc:
        raise PeerError("handshake: remote ephemeral key is not a curve point") from exc
    shared = keccak256(ephemeral_shared + keccak256(recipient_nonce + initiator_nonce))
    aes_secret = keccak256(ephemeral_shared + shared)
    mac_secret = keccak256(ephemeral_shared + aes_secret)
    # Each MAC is keyed with the other side's nonce and seeded with the packet its owner sent.
    mac1 = keccak_state(_xor(mac_secret, recipient_nonce) + auth_packet)
    mac2 = keccak_state(_xor(mac_secret, initiator_nonce) + ack_packet)
    egress, ingress = (mac1, mac2) if initiator else (mac2, mac1)
    return Secrets(NodeID(bytes(remote_node_id)), aes_secret, mac_secret, egress, ingress)


class Initiator:
    """The dialing side: `auth_packet` to send first, then `receive(buffer)` until it yields secrets."""

    __slots__ = ("_auth", "_ephemeral", "_key", "_nonce", "_reader", "_remote")

    def __init__(
        self,
        node_key: PrivateKey,
        remote_node_id: bytes,
        random_bytes: RandomBytes,
        *,
        ephemeral_key: PrivateKey | None = None,
        nonce: bytes | None = None,
        auth_format: HandshakeFormat = HandshakeFormat.EIP8,
    ) -> None:
        if len(remote_node_id) != _KEY_LENGTH:
            raise InvalidKeyError("remote node id must be 64 bytes")
        self._key = node_key
        self._remote = bytes(remote_node_id)
        self._ephemeral = ephemeral_key or PrivateKey.generate(random_bytes)
        self._nonce = nonce if nonce is not None else random_bytes(_NONCE_LENGTH)
        # We always send EIP-8 (devp2p.md §2.3); `auth_format` exists to test legacy recipients.
        self._auth = encode_auth(
            node_key, self._remote, self._ephemeral, self._nonce, random_bytes, auth_format
        )
        self._reader = _PacketReader(node_key, ACK_LEGACY_SIZE)

    @property
    def auth_packet(self) -> bytes:
        """The auth packet to send."""
        return self._auth

    def receive(self, buffer: bytearray) -> Secrets | None:
        """Consume the ack from `buffer`; None until it is complete. Raises PeerError."""
        result = self._reader.read(buffer)
        if result is None:
            return None
        plain, packet, format = result
        ack = _parse_ack(plain, format)
        return derive_secrets(
            initiator=True,
            ephemeral_key=self._ephemeral,
            remote_ephemeral_public_key=ack.ephemeral_public_key,
            initiator_nonce=self._nonce,
            recipient_nonce=ack.recipient_nonce,
            auth_packet=self._auth,
            ack_packet=packet,
            remote_node_id=self._remote,
        )


class Recipient:
    """The listening side: `receive(buffer)` consumes the auth and returns (ack packet, secrets)."""

    __slots__ = ("_ephemeral", "_key", "_nonce", "_random", "_reader")

    def __init__(
        self,
        node_key: PrivateKey,
        random_bytes: RandomBytes,
        *,
        ephemeral_key: PrivateKey | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self._key = node_key
        self._random = random_bytes
        self._ephemeral = ephemeral_key or PrivateKey.generate(random_bytes)
        self._nonce = nonce if nonce is not None else random_bytes(_NONCE_LENGTH)
        self._reader = _PacketReader(node_key, AUTH_LEGACY_SIZE)

    def receive(self, buffer: bytearray) -> tuple[bytes, Secrets] | None:
        """Consume the auth from `buffer`; None until complete, then the ack to send and the secrets."""
        result = self._reader.read(buffer)
        if result is None:
            return None
        plain, packet, format = result
        auth = _parse_auth(plain, format)
        token = _xor(_static_shared(self._key, auth.initiator_public_key), auth.initiator_nonce)
        remote_ephemeral = recover_public_key(auth.signature, token)
        if remote_ephemeral is None:
            raise PeerError("handshake: auth signature does not recover")
        # Answer in the format received (devp2p.md §2.3).
        ack = encode_ack(
            auth.initiator_public_key, self._ephemeral, self._nonce, self._random, format
        )
        secrets = derive_secrets(
            initiator=False,
            ephemeral_key=self._ephemeral,
            remote_ephemeral_public_key=remote_ephemeral[1:],
            initiator_nonce=auth.initiator_nonce,
            recipient_nonce=self._nonce,
            auth_packet=packet,
            ack_packet=ack,
            remote_node_id=auth.initiator_public_key,
        )
        return ack, secrets
