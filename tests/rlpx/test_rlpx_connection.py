"""In-memory initiator/recipient pairs through the sans-IO `Connection` (no sockets, no loop)."""

from __future__ import annotations

import os

import pytest

from hush import rlp
from hush.crypto import PrivateKey
from hush.errors import DisconnectReason, PeerError, UsageError
from hush.rlpx import (
    Authenticated,
    Capability,
    Connection,
    DisconnectReceived,
    Event,
    HandshakeFormat,
    HelloReceived,
    Initiator,
    MessageReceived,
    PongReceived,
    State,
)
from hush.rlpx.base import Hello

SHH = (Capability("shh", 6, 128),)


def keys() -> tuple[PrivateKey, PrivateKey]:
    return PrivateKey.generate(os.urandom), PrivateKey.generate(os.urandom)


def make_pair(
    auth_format: HandshakeFormat = HandshakeFormat.EIP8,
    caps_a: tuple[Capability, ...] = SHH,
    caps_b: tuple[Capability, ...] = SHH,
    max_message_size: int = 1 << 20,
) -> tuple[Connection, Connection]:
    key_a, key_b = keys()
    initiator = Initiator(key_a, key_b.node_id, os.urandom, auth_format=auth_format)
    a = Connection(
        key_a,
        os.urandom,
        remote_node_id=key_b.node_id,
        client_id="a",
        capabilities=caps_a,
        initiator=initiator,
        max_message_size=max_message_size,
    )
    b = Connection(
        key_b, os.urandom, client_id="b", capabilities=caps_b, max_message_size=max_message_size
    )
    return a, b


def pump(src: Connection, dst: Connection) -> list[Event]:
    dst.receive_data(src.data_to_send())
    events = []
    while (event := dst.next_event()) is not None:
        events.append(event)
    return events


def establish(a: Connection, b: Connection) -> None:
    [auth_b] = pump(a, b)
    assert isinstance(auth_b, Authenticated)
    assert auth_b.node_id == a._key.node_id
    [auth_a] = pump(b, a)
    assert isinstance(auth_a, Authenticated)
    assert a.state is b.state is State.AUTHENTICATED
    a.send_hello()
    b.send_hello()
    [hello_b] = pump(a, b)
    [hello_a] = pump(b, a)
    assert isinstance(hello_a, HelloReceived)
    assert isinstance(hello_b, HelloReceived)
    assert hello_a.hello.client_id == "b"
    assert a.state is b.state is State.ESTABLISHED
    assert a.snappy and b.snappy


@pytest.mark.parametrize("auth_format", list(HandshakeFormat))
def test_pair_exchanges_messages(auth_format: HandshakeFormat) -> None:
    a, b = make_pair(auth_format)
    establish(a, b)
    a.send_message("shh", 1, rlp.encode([b"x" * 1000]))
    b.send_message("shh", 127, b"\xc0")
    assert pump(a, b) == [MessageReceived("shh", 1, rlp.encode([b"x" * 1000]))]
    assert pump(b, a) == [MessageReceived("shh", 127, b"\xc0")]


def test_ping_is_answered_automatically() -> None:
    a, b = make_pair()
    establish(a, b)
    a.ping()
    assert pump(a, b) == []
    assert pump(b, a) == [PongReceived()]


def test_disconnect_is_reported_with_reason() -> None:
    a, b = make_pair()
    establish(a, b)
    a.disconnect(DisconnectReason.TOO_MANY_PEERS)
    assert a.state is State.CLOSED
    assert pump(a, b) == [DisconnectReceived(DisconnectReason.TOO_MANY_PEERS)]
    assert b.state is State.CLOSED


def test_disconnect_instead_of_hello() -> None:
    a, b = make_pair()
    pump(a, b)
    pump(b, a)
    b.disconnect(DisconnectReason.ALREADY_CONNECTED)
    a.send_hello()
    assert pump(b, a) == [DisconnectReceived(DisconnectReason.ALREADY_CONNECTED)]


def test_no_shared_capability_is_useless_peer() -> None:
    a, b = make_pair(caps_b=(Capability("eth", 63, 17),))
    pump(a, b)
    pump(b, a)
    a.send_hello()
    b.send_hello()
    with pytest.raises(PeerError) as info:
        pump(b, a)
    assert info.value.reason is DisconnectReason.USELESS_PEER
    assert a.state is State.ERROR
    with pytest.raises(PeerError):  # every later call fails the same way
        a.next_event()
    a.disconnect(info.value.reason)  # but we may still tell the peer
    assert a.state is State.CLOSED
    with pytest.raises(PeerError) as info:  # b sees a's Hello first and agrees
        pump(a, b)
    assert info.value.reason is DisconnectReason.USELESS_PEER


def test_message_before_hello_is_protocol_error() -> None:
    a, b = make_pair()
    pump(a, b)
    pump(b, a)
    a.send_hello()
    assert b._codec is not None
    b._out += b._codec.encode(b"\x02\xc0")  # a Ping where the Hello should be
    with pytest.raises(PeerError, match="expected Hello") as info:
        pump(b, a)
    assert info.value.reason is DisconnectReason.PROTOCOL_ERROR


def test_bad_mac_is_protocol_error() -> None:
    a, b = make_pair()
    establish(a, b)
    a.send_message("shh", 1, b"\xc0")
    data = bytearray(a.data_to_send())
    data[20] ^= 1
    b.receive_data(bytes(data))
    with pytest.raises(PeerError) as info:
        b.next_event()
    assert info.value.reason is DisconnectReason.PROTOCOL_ERROR
    assert b.state is State.ERROR


def test_oversize_frame_is_refused_from_header() -> None:
    a, b = make_pair(max_message_size=1000)
    establish(a, b)
    a.send_message("shh", 1, os.urandom(5000))
    data = a.data_to_send()
    b.receive_data(data[:32])  # header only: refused before the body arrives
    with pytest.raises(PeerError, match="exceeds"):
        b.next_event()


def test_compressible_oversize_message_is_refused_by_declared_length() -> None:
    a, b = make_pair(max_message_size=10_000)
    establish(a, b)
    a.send_message("shh", 1, bytes(50_000))  # compresses to a small frame
    with pytest.raises(PeerError, match="declared length"):
        pump(a, b)


def test_unknown_base_id_ignored_and_out_of_range_id_fails() -> None:
    a, b = make_pair()
    establish(a, b)
    assert a._codec is not None
    a._out += a._codec.encode(b"\x0f" + bytes.fromhex("0100c0"))
    assert pump(a, b) == []
    a._out += a._codec.encode(rlp.encode_uint(0x10 + 128) + bytes.fromhex("0100c0"))
    with pytest.raises(PeerError, match="beyond"):
        pump(a, b)


def test_second_hello_is_protocol_error() -> None:
    a, b = make_pair()
    establish(a, b)
    a._state = State.AUTHENTICATED
    a.snappy = False
    a.send_hello()
    with pytest.raises(PeerError, match="second Hello"):
        pump(a, b)


def test_hello_identity_checks() -> None:
    other = PrivateKey.generate(os.urandom)
    with pytest.raises(PeerError) as info:
        Hello(5, "x", (), 0, other.node_id).check_identity(bytes(range(64)))
    assert info.value.reason is DisconnectReason.UNEXPECTED_IDENTITY
    with pytest.raises(PeerError) as info:
        Hello(5, "x", (), 0, bytes(64)).check_identity(bytes(64))
    assert info.value.reason is DisconnectReason.INVALID_IDENTITY


def test_hello_with_foreign_identity_is_unexpected_identity() -> None:
    a, b = make_pair()
    pump(a, b)
    pump(b, a)
    impostor = Hello(5, "evil", (("shh", 6),), 0, PrivateKey.generate(os.urandom).node_id)
    assert b._codec is not None
    b._out += b._codec.encode(b"\x80" + impostor.encode())
    a.send_hello()
    with pytest.raises(PeerError) as info:
        pump(b, a)
    assert info.value.reason is DisconnectReason.UNEXPECTED_IDENTITY


def test_verbs_outside_their_state_are_usage_errors() -> None:
    a, b = make_pair()
    with pytest.raises(UsageError):
        a.send_message("shh", 0, b"")
    with pytest.raises(UsageError):
        a.ping()
    with pytest.raises(UsageError):
        a.send_hello()
    establish(a, b)
    with pytest.raises(UsageError):
        a.send_message("eth", 0, b"")
    with pytest.raises(UsageError):
        a.send_message("shh", 128, b"")


@pytest.mark.parametrize("auth_format", list(HandshakeFormat))
def test_byte_at_a_time_delivery(auth_format: HandshakeFormat) -> None:
    a, b = make_pair(auth_format)
    events: list[Event] = []
    for byte in a.data_to_send():
        b.receive_data(bytes([byte]))
        while (event := b.next_event()) is not None:
            events.append(event)
    assert [type(e) for e in events] == [Authenticated]
    [auth] = pump(b, a)
    assert isinstance(auth, Authenticated)
