"""Ethereum Node Records, EIP-778, with the "v4" identity scheme (devp2p.md §8 V6).

    record = [signature, seq, k1, v1, k2, v2, …]     keys unique and sorted, at most 300 bytes
    v4 signature = 64-byte r‖s over keccak256(rlp([seq, k1, v1, …])), key in "secp256k1"
    (33-byte compressed); node id = keccak256(64-byte public key)

Values are kept as their raw RLP so a record we don't fully understand re-encodes byte for byte.
A record must verify before anything in it is used: `decode` checks the signature (low S, as
geth's `crypto.VerifySignature`). Text form: "enr:" + URL-safe base64 without padding.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass

from hush import rlp
from hush.crypto import PrivateKey, keccak256, public_key_from_bytes, recover_public_key
from hush.crypto.keys import CURVE_ORDER
from hush.errors import DecodeError, InvalidKeyError
from hush.types import NodeID

__all__ = ["MAX_RECORD_SIZE", "Record", "decode", "from_text", "make_record"]

MAX_RECORD_SIZE = 300
"""EIP-778: a record's RLP may not exceed 300 bytes."""
_HALF_ORDER = CURVE_ORDER // 2
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class Record:
    """A signed record. `pairs` are (key, raw RLP value), sorted by key."""

    seq: int
    pairs: tuple[tuple[bytes, bytes], ...]
    signature: bytes

    def get(self, key: bytes) -> bytes | None:
        """The raw RLP value under `key`, or None."""
        for name, value in self.pairs:
            if name == key:
                return value
        return None

    def _uint(self, key: bytes, bits: int) -> int | None:
        raw = self.get(key)
        if raw is None:
            return None
        return rlp.decode_uint(rlp.decode(raw), bits, key.decode("ascii", "replace"))

    @property
    def public_key(self) -> bytes:
        """The 33-byte compressed key of the "secp256k1" entry."""
        raw = self.get(b"secp256k1")
        value = rlp.decode(raw) if raw is not None else b""
        if not isinstance(value, bytes) or len(value) != 33:
            raise DecodeError("enr: missing or malformed secp256k1 key")
        return value

    @property
    def node_id(self) -> NodeID:
        """The 64-byte public key (what enode URLs and discv4 carry)."""
        return NodeID(public_key_from_bytes(self.public_key).format(compressed=False)[1:])

    @property
    def id_hash(self) -> bytes:
        """keccak256 of the 64-byte key: the node id of geth's `enode.ID`."""
        return keccak256(self.node_id)

    @property
    def ip(self) -> str | None:
        for key, size in ((b"ip", 4), (b"ip6", 16)):
            raw = self.get(key)
            if raw is not None:
                value = rlp.decode(raw)
                if isinstance(value, bytes) and len(value) == size:
                    return str(ipaddress.ip_address(value))
        return None

    @property
    def udp_port(self) -> int | None:
        return self._uint(b"udp", 16)

    @property
    def tcp_port(self) -> int | None:
        return self._uint(b"tcp", 16)

    def content(self) -> bytes:
        """rlp([seq, k1, v1, …]): what the signature covers."""
        return rlp.encode_list_payload(self._content_payload())

    def _content_payload(self) -> bytes:
        parts = [rlp.encode_uint(self.seq)]
        for key, value in self.pairs:
            parts.append(rlp.encode_bytes(key))
            parts.append(value)
        return b"".join(parts)

    def encode(self) -> bytes:
        return rlp.encode_list_payload(rlp.encode_bytes(self.signature) + self._content_payload())

    def text(self) -> str:
        return "enr:" + base64.urlsafe_b64encode(self.encode()).rstrip(b"=").decode("ascii")


SHH_KEY = b"shh"
"""hush's private ENR key: the shh versions a node speaks, an RLP list of integers."""


def shh_entry(versions: tuple[int, ...] = (6,)) -> dict[bytes, bytes]:
    """The `shh` entry for `make_record(extra=…)`."""
    return {SHH_KEY: rlp.encode_list_payload(b"".join(rlp.encode_uint(v) for v in versions))}


def shh_versions(record: Record) -> tuple[int, ...] | None:
    """The shh versions a record advertises (None: no `shh` entry, as on every non-hush node);
    a malformed entry is a DecodeError."""
    raw = dict(record.pairs).get(SHH_KEY)
    if raw is None:
        return None
    item = rlp.decode(raw)
    if not isinstance(item, list) or len(item) > 8 or not all(isinstance(v, bytes) for v in item):
        raise DecodeError("enr: shh entry must be a short list of versions")
    return tuple(rlp.decode_uint(v) for v in item)


def make_record(
    key: PrivateKey,
    seq: int,
    ip: str | None = None,
    udp_port: int | None = None,
    tcp_port: int | None = None,
    extra: dict[bytes, bytes] | None = None,
) -> Record:
    """A v4 record signed by `key`: id, secp256k1, and ip/ip6, tcp, udp when given. `extra`
    maps further keys to raw RLP values."""
    compressed = public_key_from_bytes(key.public_key).format(compressed=True)
    entries: dict[bytes, bytes] = {
        b"id": rlp.encode_bytes(b"v4"),
        b"secp256k1": rlp.encode_bytes(compressed),
    }
    if ip is not None:
        address = ipaddress.ip_address(ip)
        entries[b"ip" if address.version == 4 else b"ip6"] = rlp.encode_bytes(address.packed)
    if udp_port is not None:
        entries[b"udp"] = rlp.encode_uint(udp_port)
    if tcp_port is not None:
        entries[b"tcp"] = rlp.encode_uint(tcp_port)
    entries.update(extra or {})
    unsigned = Record(seq, tuple(sorted(entries.items())), b"")
    signature = key.sign(keccak256(unsigned.content()))[:64]
    record = Record(seq, unsigned.pairs, signature)
    if len(record.encode()) > MAX_RECORD_SIZE:
        raise DecodeError(f"enr: record exceeds {MAX_RECORD_SIZE} bytes")
    return record


def decode(data: bytes) -> Record:
    """Decode and verify a record; raises DecodeError saying what is wrong."""
    if len(data) > MAX_RECORD_SIZE:
        raise DecodeError(f"enr: record of {len(data)} bytes exceeds {MAX_RECORD_SIZE}")
    items = rlp.split_list(data)
    if len(items) < 2 or len(items) % 2:
        raise DecodeError("enr: record must be [signature, seq, k, v, …]")
    stop = rlp.decode_prefix(data)[1]
    if stop != len(data):
        raise DecodeError("enr: trailing bytes after the record")
    signature = rlp.decode(items[0])
    if not isinstance(signature, bytes):
        raise DecodeError("enr: signature must be a string")
    seq = rlp.decode_uint(rlp.decode(items[1]), 64, "enr seq")
    pairs: list[tuple[bytes, bytes]] = []
    for index in range(2, len(items), 2):
        key = rlp.decode(items[index])
        if not isinstance(key, bytes):
            raise DecodeError("enr: keys must be strings")
        if pairs and key <= pairs[-1][0]:
            raise DecodeError("enr: keys not sorted or duplicated")
        rlp.decode(items[index + 1])  # a value is any well-formed item
        pairs.append((key, items[index + 1]))
    record = Record(seq, tuple(pairs), signature)
    scheme = record.get(b"id")
    if scheme is None or rlp.decode(scheme) != b"v4":
        raise DecodeError("enr: unknown identity scheme")
    _verify_v4(record)
    return record


def _verify_v4(record: Record) -> None:
    if len(record.signature) != 64:
        raise DecodeError("enr: v4 signature must be 64 bytes")
    if int.from_bytes(record.signature[32:], "big") > _HALF_ORDER:
        raise DecodeError("enr: signature with high S")
    try:
        expected = public_key_from_bytes(record.public_key).format(compressed=False)
    except InvalidKeyError as exc:
        raise DecodeError("enr: secp256k1 entry is not a curve point") from exc
    digest = keccak256(record.content())
    for v in (0, 1):
        if recover_public_key(record.signature + bytes((v,)), digest) == expected:
            return
    raise DecodeError("enr: invalid signature")


def from_text(text: str) -> Record:
    """Parse and verify the "enr:…" text form."""
    text = text.strip()
    if not text.startswith("enr:"):
        raise DecodeError("enr: text form must start with 'enr:'")
    body = text[4:]
    if len(body) > (MAX_RECORD_SIZE * 4 + 2) // 3 or not _BASE64URL.issuperset(body):
        raise DecodeError("enr: text form too long, padded or not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("enr: text form is not URL-safe base64") from exc
    return decode(raw)
