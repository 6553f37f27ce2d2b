"""ENR (EIP-778, v4 scheme): the devp2p.md §8 V6 record, signing, verification, text form."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hush import rlp
from hush.crypto import PrivateKey, keccak256
from hush.discovery.v4 import enr
from hush.errors import DecodeError

VECTOR = json.loads((Path(__file__).parent.parent / "vectors" / "discv4.json").read_text())
KEY = PrivateKey(bytes.fromhex(VECTOR["signer_key"]))
TEXT = VECTOR["enr"]["text"]


def test_vector_decodes_and_verifies() -> None:
    record = enr.from_text(TEXT)
    assert record.seq == 1
    assert record.ip == "127.0.0.1" and record.udp_port == 30303 and record.tcp_port is None
    assert record.id_hash.hex() == VECTOR["enr"]["node_id"]
    assert record.node_id == KEY.node_id
    assert [k for k, _ in record.pairs] == [b"id", b"ip", b"secp256k1", b"udp"]
    assert record.text() == TEXT


def test_signing_reproduces_the_vector() -> None:
    assert enr.make_record(KEY, 1, ip="127.0.0.1", udp_port=30303).text() == TEXT


def test_round_trip_with_tcp_and_ipv6() -> None:
    record = enr.make_record(KEY, 7, ip="::1", udp_port=1, tcp_port=2)
    again = enr.decode(record.encode())
    assert again == record and again.ip == "::1" and again.tcp_port == 2


def _raw(record: enr.Record) -> list[rlp.Item]:
    item = rlp.decode(record.encode())
    assert isinstance(item, list)
    return item


def test_tampered_record_fails() -> None:
    items = _raw(enr.from_text(TEXT))
    items[1] = b"\x02"  # seq 2 under the seq-1 signature
    with pytest.raises(DecodeError, match="invalid signature"):
        enr.decode(rlp.encode(items))


def test_other_key_cannot_sign_for_the_record() -> None:
    other = PrivateKey(b"\x01" * 32)
    record = enr.from_text(TEXT)
    forged = enr.Record(record.seq, record.pairs, other.sign(keccak256(record.content()))[:64])
    with pytest.raises(DecodeError, match="invalid signature"):
        enr.decode(forged.encode())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda items: [*items[:2], b"id"], "signature, seq"),
        (lambda items: items[:2] + items[4:6] + items[2:4] + items[6:], "not sorted"),
        (lambda items: [b"\x01" * 64, items[1], b"id", b"v5"], "identity scheme"),
        (lambda items: [[b"x"], *items[1:]], "signature must be a string"),
    ],
)
def test_malformed_records(mutate: object, message: str) -> None:
    items = _raw(enr.from_text(TEXT))
    with pytest.raises(DecodeError, match=message):
        enr.decode(rlp.encode(mutate(items)))  # type: ignore[operator]


def test_size_and_text_limits() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        enr.decode(b"\xc0" * 301)
    with pytest.raises(DecodeError, match="enr:"):
        enr.from_text("enode://x")
    with pytest.raises(DecodeError, match="base64"):
        enr.from_text(TEXT + "+")
    too_big = "enr:" + base64.urlsafe_b64encode(b"\x00" * 400).decode().rstrip("=")
    with pytest.raises(DecodeError):
        enr.from_text(too_big)
    with pytest.raises(DecodeError, match="exceeds"):
        enr.make_record(KEY, 1, extra={b"z": rlp.encode(b"\x00" * 300)})


def test_the_shh_entry_is_published_only_when_asked() -> None:
    key = PrivateKey(b"\x09" * 32)
    plain = enr.make_record(key, 1, "127.0.0.1", udp_port=30303, tcp_port=30303)
    assert enr.shh_versions(plain) is None  # the default: a standard v4 record
    flagged = enr.make_record(key, 2, "127.0.0.1", 30303, 30303, extra=enr.shh_entry())
    again = enr.from_text(flagged.text())
    assert enr.shh_versions(again) == (6,) and dict(again.pairs)[b"shh"] == b"\xc1\x06"
    junk = enr.make_record(key, 3, extra={b"shh": b"\x06"})  # an integer, not a list
    with pytest.raises(DecodeError, match="shh entry"):
        enr.shh_versions(junk)
