"""shh/6 packet codecs (whisper-v6.md §3.3, §8.5) and the per-peer state machine's drop rules."""

from __future__ import annotations

import os

import pytest

from hush import rlp
from hush.crypto import SymmetricKey
from hush.errors import DecodeError, DisconnectReason, PeerError
from hush.shh import packets
from hush.shh.message import wrap
from hush.shh.packets import PacketCode, Status
from hush.shh.peer import (
    BloomChanged,
    DirectMessage,
    Envelopes,
    Ignored,
    MailRequest,
    PowRequirementChanged,
    ShhPeer,
    StatusReceived,
)
from hush.shh.topic import FULL_BLOOM, topic_to_bloom
from hush.types import Topic

TOPIC = Topic(b"\x01\x02\x03\x04")


def test_status_known_answers() -> None:
    assert packets.encode_status(Status(pow_requirement=0.2)).hex() == "cc06883fc999999999999a8080"
    assert packets.encode_pow_requirement(0.2).hex() == "883fc999999999999a"
    assert packets.encode_pow_requirement(0.0).hex() == "80"
    assert packets.encode_pow_requirement(0.001).hex() == "883f50624dd2f1a9fc"
    bloom = topic_to_bloom(TOPIC)
    assert packets.encode_bloom(bloom) == bytes.fromhex("b840") + bloom


def test_status_leniency_like_geth() -> None:
    # Only the version is mandatory; a full-node bloom reads as None; trailing items are ignored.
    assert packets.decode_status(rlp.encode([6])) == Status(6, 0.0, None, False)
    with_extras = rlp.encode([6, packets.float_to_bits(1.5), b"\xff" * 64, 1, b"ext", [b"x"]])
    assert packets.decode_status(with_extras) == Status(6, 1.5, None, True)
    odd_light = rlp.encode([6, 0, b"", [b"not a bool"]])
    assert packets.decode_status(odd_light).light is False
    # An optional item that doesn't decode ends the reading, as in geth: no error.
    assert packets.decode_status(rlp.encode([6, [b"x"], b"\xff" * 64, 1])) == Status(6)
    assert packets.decode_status(rlp.encode([6, b"\x00\x01"])) == Status(6)
    assert packets.decode_status(rlp.encode([6, 0x3FF0000000000000, [b"x"], 1])) == Status(6, 1.0)
    # Bytes after a packet's RLP value are ignored, as geth's stream decoding does.
    assert packets.decode_status(rlp.encode([6]) + b"junk") == Status(6)
    assert packets.decode_pow_requirement(packets.encode_pow_requirement(2.5) + b"\x01") == 2.5
    assert packets.decode_messages(packets.encode_messages([]) + b"\xc0") == []


@pytest.mark.parametrize(
    "payload",
    [
        rlp.encode([]),
        rlp.encode([6, packets.float_to_bits(float("nan"))]),
        rlp.encode([6, packets.float_to_bits(-1.0)]),
        rlp.encode([6, 0, b"\x00" * 63]),
        b"\xc2\x06",
    ],
)
def test_bad_status_disconnects(payload: bytes) -> None:
    peer = ShhPeer()
    with pytest.raises(PeerError) as caught:
        peer.receive(PacketCode.STATUS, payload)
    assert caught.value.reason is DisconnectReason.SUBPROTOCOL_ERROR
    with pytest.raises(PeerError):  # a failed peer stays failed
        peer.receive(PacketCode.STATUS, packets.encode_status(Status()))


def handshaken(**kwargs: bool) -> ShhPeer:
    peer = ShhPeer(**kwargs)  # type: ignore[arg-type]
    event = peer.receive(PacketCode.STATUS, packets.encode_status(Status(pow_requirement=0.5)))
    assert isinstance(event, StatusReceived) and peer.active and peer.pow_requirement == 0.5
    return peer


def test_packets_before_status_disconnect() -> None:
    with pytest.raises(PeerError, match="sent packet 1 before status packet"):
        ShhPeer().receive(PacketCode.MESSAGES, packets.encode_messages([]))


def test_wrong_version_and_two_light_clients() -> None:
    with pytest.raises(PeerError, match="version"):
        ShhPeer().receive(PacketCode.STATUS, packets.encode_status(Status(version=5)))
    light = packets.encode_status(Status(light=True))
    with pytest.raises(PeerError, match="two light client"):
        ShhPeer(local_light=True).receive(PacketCode.STATUS, light)
    assert ShhPeer(local_light=True, restrict_light=False).receive(PacketCode.STATUS, light)


def test_after_handshake() -> None:
    peer = handshaken()
    envelope = wrap(b"x", TOPIC, 1_700_000_000, os.urandom, sym_key=SymmetricKey(os.urandom(32)))
    event = peer.receive(PacketCode.MESSAGES, packets.encode_messages([envelope.encode()] * 2))
    assert isinstance(event, Envelopes) and event.envelopes == [envelope, envelope]
    assert peer.receive(PacketCode.POW_REQUIREMENT, packets.encode_pow_requirement(2.0)) == (
        PowRequirementChanged(2.0)
    )
    bloom = topic_to_bloom(TOPIC)
    assert peer.receive(PacketCode.BLOOM_FILTER, packets.encode_bloom(bloom)) == BloomChanged(bloom)
    peer.receive(PacketCode.BLOOM_FILTER, packets.encode_bloom(FULL_BLOOM))
    assert peer.bloom is None
    assert isinstance(peer.receive(PacketCode.STATUS, packets.encode_status(Status())), Ignored)
    assert isinstance(peer.receive(50, b"anything"), Ignored)
    # Direct messages only from trusted peers; archive requests only with an archive server.
    direct = packets.encode_envelope_packet(envelope)
    assert isinstance(peer.receive(PacketCode.P2P_MESSAGE, direct), Ignored)
    assert isinstance(peer.receive(PacketCode.P2P_REQUEST, direct), Ignored)
    peer.trusted = True
    peer.accept_mail_requests = True
    assert peer.receive(PacketCode.P2P_MESSAGE, direct) == DirectMessage(envelope)
    assert peer.receive(PacketCode.P2P_REQUEST, direct) == MailRequest(envelope)


@pytest.mark.parametrize(
    ("code", "payload"),
    [
        (PacketCode.MESSAGES, b"\xc5\xc4\x01\x02\x03\x04"),  # envelope with 4 items
        (PacketCode.MESSAGES, b"\x01"),
        (PacketCode.POW_REQUIREMENT, rlp.encode(packets.float_to_bits(float("inf")))),
        (PacketCode.POW_REQUIREMENT, b"\xc0"),
        (PacketCode.BLOOM_FILTER, rlp.encode(b"\x00" * 63)),
    ],
)
def test_malformed_packets_disconnect(code: int, payload: bytes) -> None:
    peer = handshaken()
    with pytest.raises(PeerError) as caught:
        event = peer.receive(code, payload)
        if isinstance(event, Envelopes):  # split on receipt, each envelope decoded on its own
            for raw in peer.encoded_envelopes(event):
                peer.decode_envelope(raw)
    assert caught.value.reason is DisconnectReason.SUBPROTOCOL_ERROR
    with pytest.raises(PeerError, match="already failed"):
        peer.receive(PacketCode.MESSAGES, packets.encode_messages([]))


def _one_by_one(payload: bytes) -> tuple[list[list[bytes]], str]:
    peer = handshaken()
    event = peer.receive(PacketCode.MESSAGES, payload)
    assert isinstance(event, Envelopes)
    got: list[bytes] = []
    try:
        for raw in peer.encoded_envelopes(event):
            got.append(peer.decode_envelope(raw).encode())
    except PeerError as exc:
        assert not peer.active  # the slices before the failing one came through
        return [got[i : i + 3] for i in range(0, len(got) - len(got) % 3, 3)], str(exc)
    return [got[i : i + 3] for i in range(0, len(got), 3)], ""


def _sliced(payload: bytes) -> tuple[list[list[bytes]], str]:
    peer = handshaken()
    event = peer.receive(PacketCode.MESSAGES, payload)
    assert isinstance(event, Envelopes)
    got: list[list[bytes]] = []
    try:
        for chunk in peer.decode_slices(event, 3):
            got.append([envelope.encode() for envelope in chunk])
    except PeerError as exc:
        assert exc.reason is DisconnectReason.SUBPROTOCOL_ERROR and not peer.active
        return got, str(exc)
    return got, ""


def test_decode_slices_is_decode_envelope_in_slices() -> None:
    """The batch decoder gives what `decode_envelope` of each encoding gives, and fails the peer
    with the same error at a malformed list or envelope (the slices before it come through)."""
    key = SymmetricKey(os.urandom(32))
    good = [
        wrap(b"x" * i, TOPIC, 1_700_000_000, os.urandom, sym_key=key).encode() for i in range(7)
    ]
    bad_envelope = b"\xc5\x01\x02\x03\x04\x05"  # five items
    cases = [
        packets.encode_messages(good),
        packets.encode_messages([]),
        packets.encode_messages([*good[:3], bad_envelope, *good[3:]]),
        packets.encode_messages([*good[:4], b"\x83abc"]),  # a string, not an envelope
        packets.encode_messages(good[:4])[:-5],  # the list is cut short
        packets.encode_messages(good) + b"trailing",
    ]
    for payload in cases:
        try:
            expected = _one_by_one(payload)
        except PeerError as exc:  # the list header itself: on receipt, for both
            with pytest.raises(PeerError, match=str(exc)):
                _sliced(payload)
            continue
        assert _sliced(payload) == expected
    assert _sliced(cases[0])[0] == [good[0:3], good[3:6], good[6:]]
    assert "invalid packet 1" in _sliced(cases[2])[1]


def test_oversized_packet_disconnects() -> None:
    peer = handshaken()
    peer.max_message_size = 100
    with pytest.raises(PeerError, match="oversized"):
        peer.receive(PacketCode.MESSAGES, packets.encode_messages([b"\x80" * 200]))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x01",  # a byte string, not a list
        b"\x81\x05",  # a non-canonical byte string
        b"\xc5\x01\x02",  # a list running past the end
        b"\xf8\x05\x01",  # long form for a short list
        b"\xf9\x00\x40",  # a length with a leading zero byte
        b"\xfa\x01",  # a length prefix running past the end
    ],
)
@pytest.mark.parametrize("code", [PacketCode.MESSAGES, 1])
def test_a_messages_header_fails_the_peer_as_the_list_decoder_does(
    payload: bytes, code: int
) -> None:
    """A `messages` packet on an active peer (the inlined common case): the list decoder's error,
    named as every malformed packet is, and the peer failed for good."""
    with pytest.raises(DecodeError) as reference:
        list(packets.iter_messages(payload))
    peer = handshaken()
    with pytest.raises(PeerError) as caught:
        peer.receive(code, payload)
    assert str(caught.value) == f"invalid packet 1: {reference.value}"
    assert caught.value.reason is DisconnectReason.SUBPROTOCOL_ERROR and not peer.active
    with pytest.raises(PeerError, match="already failed"):
        peer.receive(code, packets.encode_messages([]))


def test_messages_before_status_and_over_the_size_limit_take_the_general_path() -> None:
    early = ShhPeer()
    with pytest.raises(PeerError, match="sent packet 1 before status packet"):
        early.receive(PacketCode.MESSAGES, packets.encode_messages([]))
    peer = handshaken()
    payload = packets.encode_messages([b"\x80" * 90])
    peer.max_message_size = len(payload)
    assert peer.receive(PacketCode.MESSAGES, payload) == Envelopes(payload)  # at the limit: taken
    peer.max_message_size = len(payload) - 1
    with pytest.raises(PeerError, match=f"oversized message received \\({len(payload)} bytes"):
        peer.receive(PacketCode.MESSAGES, payload)
    assert not peer.active


def test_known_set_forgets_what_the_pool_drops() -> None:
    peer = handshaken()
    assert peer.mark_known(b"a" * 32)  # type: ignore[arg-type]
    assert peer.mark_known(b"b" * 32)  # type: ignore[arg-type]
    assert not peer.mark_known(b"a" * 32)  # type: ignore[arg-type]
    peer.forget([b"a" * 32, b"c" * 32])  # type: ignore[list-item]
    assert list(peer.known) == [b"b" * 32]


def test_output_side_queues_packets_as_geth_encodes_them() -> None:
    peer = ShhPeer()
    assert peer.data_to_send() == []
    bloom = topic_to_bloom(TOPIC)
    envelope = wrap(b"x", TOPIC, 1_700_000_000, os.urandom, sym_key=SymmetricKey(os.urandom(32)))
    peer.send_status(Status(pow_requirement=0.2), now=100.0)
    peer.send_pow_requirement(0.2)
    peer.send_bloom(bloom)
    peer.send_messages([envelope.encode(), envelope.encode()])
    peer.send_direct(envelope)
    peer.send_mail_request(envelope)
    assert peer.data_to_send() == [
        (PacketCode.STATUS, bytes.fromhex("cc06883fc999999999999a8080")),
        (PacketCode.POW_REQUIREMENT, bytes.fromhex("883fc999999999999a")),
        (PacketCode.BLOOM_FILTER, bytes.fromhex("b840") + bloom),
        (PacketCode.MESSAGES, packets.encode_messages([envelope.encode()] * 2)),
        (PacketCode.P2P_MESSAGE, envelope.encode()),
        (PacketCode.P2P_REQUEST, envelope.encode()),
    ]
    assert peer.data_to_send() == []  # drained
    # What the peer reads back is what was queued.
    other = ShhPeer(trusted=True)
    other.receive(PacketCode.STATUS, packets.encode_status(Status()))
    peer.send_messages([envelope.encode()])
    peer.send_direct(envelope)
    (code, payload), (direct_code, direct) = peer.data_to_send()
    event = other.receive(code, payload)
    assert isinstance(event, Envelopes) and event.envelopes == [envelope]
    assert other.receive(direct_code, direct) == DirectMessage(envelope)


def test_status_deadline_is_timer_data() -> None:
    peer = ShhPeer(status_timeout=5.0)
    assert peer.get_timer() is None  # nothing sent, nothing awaited
    peer.send_status(Status(), now=1000.0)
    assert peer.get_timer() == 1005.0
    peer.handle_timer(1004.999)  # not due: nothing happens
    assert not peer.active and peer.get_timer() == 1005.0
    with pytest.raises(PeerError, match="no status packet in time") as caught:
        peer.handle_timer(1005.0)
    assert caught.value.reason is DisconnectReason.READ_TIMEOUT
    assert peer.get_timer() is None
    with pytest.raises(PeerError, match="already failed"):  # a timed-out peer stays failed
        peer.receive(PacketCode.STATUS, packets.encode_status(Status()))


def test_status_in_time_disarms_the_deadline() -> None:
    peer = ShhPeer()
    peer.send_status(Status(), now=0.0)
    assert peer.get_timer() == 5.0
    peer.receive(PacketCode.STATUS, packets.encode_status(Status()))
    assert peer.active and peer.get_timer() is None
    peer.handle_timer(1e9)  # long past: no status is awaited any more
    assert peer.active
