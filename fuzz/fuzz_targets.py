"""Fuzz targets for every hush decoder: one function per decoder, bytes in, a property checked.

The property is the same everywhere: hostile bytes produce either a valid result or one of hush's
own typed errors (`HushError` subclasses, or exactly the narrower one a decoder promises), never
another exception; and where a decoder has a cheap inverse or a second implementation, the result
is checked against it (re-encoding, the envelope fast path against the generic decoder, frames
against what the sender framed). A violation is an exception escaping the target: atheris
(`fuzz/run.py`) reports it as a crash, the corpus replay in `tests/fuzz/` as a failed test.

Targets carve their input with `_Reader` rather than atheris' FuzzedDataProvider, so the same
bytes mean the same thing with or without atheris installed (the replay is pure Python). Every
target is deterministic: keys are fixed (devp2p.md §8 V1), "randomness" is a constant stream.

Bounded work per input: every loop below is bounded by the input's length, and `run.py` runs
with libFuzzer's `-timeout` and `-rss_limit_mb`; the replay test bounds each input's allocations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hush import rlp
from hush.crypto import PrivateKey, SymmetricKey, ecies_encrypt, keccak256
from hush.enode import Enode
from hush.errors import DecodeError, DisconnectReason, HushError, PeerError
from hush.node import Node, NodeConfig
from hush.rlpx import Capability, Connection, Initiator, Recipient
from hush.rlpx.base import (
    Hello,
    decode_disconnect,
    match_capabilities,
    snappy_compress,
    snappy_decompress,
)
from hush.rlpx.connection import (
    Authenticated,
    DisconnectReceived,
    HelloReceived,
    MessageReceived,
    PongReceived,
    State,
)
from hush.rlpx.frame import FrameCodec
from hush.rlpx.handshake import (
    ACK_LEGACY_SIZE,
    AUTH_LEGACY_SIZE,
    Secrets,
    decode_ack,
    decode_auth,
    derive_secrets,
)
from hush.rpc import params
from hush.rpc.api import ShhApi
from hush.rpc.jsonrpc import CallContext, Dispatcher, Method, encode
from hush.shh import packets
from hush.shh.envelope import Envelope, _decode_fast, short_rlp
from hush.shh.message import (
    OpenedMessage,
    build_plaintext,
    open_asymmetric,
    open_symmetric,
    parse_plaintext,
)
from hush.shh.peer import (
    BloomChanged,
    DirectMessage,
    Envelopes,
    Ignored,
    MailPacket,
    MailRequest,
    PowRequirementChanged,
    ShhPeer,
    StatusReceived,
)
from hush.types import Topic

__all__ = ["ALL", "CORPUS", "TARGETS", "Target"]

CORPUS = Path(__file__).parent / "corpus"

# devp2p.md §8 V1: the spec's handshake keys, so the spec's auth/ack vectors decrypt here.
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
SYM = SymmetricKey(bytes(range(1, 33)))
SHH_CAPS = (Capability("shh", 6, 128),)
MAX_MESSAGE = 4096  # the connection target's message limit: small, so that the limit is reachable


def constant_random(n: int) -> bytes:
    """Deterministic "randomness": a valid scalar, IV and padding, the same every run."""
    return b"\x5a" * n


class _Reader:
    """Carves fuzz input: bytes, small integers and length-prefixed records; zeros once exhausted."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def rest(self) -> bytes:
        return self.take(len(self.data))

    def records(self) -> Iterator[tuple[int, bytes]]:
        """(op, payload) pairs: 1 op byte, a 2-byte length (capped by what is left), the payload."""
        while self.pos < len(self.data):
            op = self.byte()
            length = (self.byte() << 8) | self.byte()
            yield op, self.take(length)


def record(op: int, payload: bytes) -> bytes:
    """One `_Reader.records` record: what seeds are built from."""
    return bytes((op,)) + len(payload).to_bytes(2, "big") + payload


# -- RLP -----------------------------------------------------------------------------------------


def fuzz_rlp(data: bytes) -> None:
    """Strict canonical RLP: whatever decodes re-encodes to exactly the bytes it came from."""
    try:
        item, stop = rlp.decode_prefix(data)
    except DecodeError:
        item, stop = None, -1
    if item is not None:
        assert 0 < stop <= len(data)
        assert rlp.encode(item) == data[:stop], "canonical decode must re-encode identically"
    try:
        whole = rlp.decode(data)
    except DecodeError:
        assert item is None or stop != len(data)
    else:
        assert stop == len(data) and whole == item
        try:
            items = rlp.decode_list(data)
        except DecodeError:
            assert isinstance(whole, bytes)
        else:
            assert items == whole
    if isinstance(item, bytes):
        bits = 8 * (1 + data[0] % 9)
        try:
            value = rlp.decode_uint(item, bits)
        except DecodeError:
            pass
        else:
            assert 0 <= value < 2**bits and rlp.uint_bytes(value) == item


# -- RLPx handshake ------------------------------------------------------------------------------


def _auth_plain_legacy(body: bytes) -> bytes:
    return body[:194].ljust(194, b"\x00")


def _seal_eip8(recipient: bytes, plain: bytes) -> bytes:
    prefix = (len(plain) + 113).to_bytes(2, "big")
    return prefix + ecies_encrypt(recipient, plain, constant_random, prefix)


def _check_auth(packet: bytes) -> None:
    try:
        auth = decode_auth(KEY_B, packet)
    except PeerError:
        return
    assert len(auth.signature) == 65 and len(auth.initiator_public_key) == 64
    assert len(auth.initiator_nonce) == 32


def _check_ack(packet: bytes) -> None:
    try:
        ack = decode_ack(KEY_A, packet)
    except PeerError:
        return
    assert len(ack.ephemeral_public_key) == 64 and len(ack.recipient_nonce) == 32
    with contextlib.suppress(PeerError):
        derive_secrets(
            initiator=True,
            ephemeral_key=EPH_A,
            remote_ephemeral_public_key=ack.ephemeral_public_key,
            initiator_nonce=NONCE_A,
            recipient_nonce=ack.recipient_nonce,
            auth_packet=b"",
            ack_packet=packet,
            remote_node_id=KEY_B.node_id,
        )


def _recipient_stream(stream: bytes, chunk: int) -> None:
    """The listening side reading an auth in `chunk`-byte reads, as the shell feeds it."""
    recipient = Recipient(KEY_B, constant_random, ephemeral_key=EPH_B, nonce=NONCE_B)
    buffer = bytearray()
    try:
        for start in range(0, len(stream), chunk):
            buffer += stream[start : start + chunk]
            result = recipient.receive(buffer)
            if result is not None:
                ack, secrets = result
                assert len(ack) in (ACK_LEGACY_SIZE,) or len(ack) > ACK_LEGACY_SIZE
                assert len(secrets.aes_secret) == 32 and len(secrets.remote_node_id) == 64
                return
    except PeerError:
        return


def fuzz_handshake(data: bytes) -> None:
    """auth/ack in both formats: raw packets, and chosen plaintexts sealed to our key."""
    reader = _Reader(data)
    mode = reader.byte() % 7
    body = reader.rest()
    if mode == 0:  # raw auth packet, either format
        _check_auth(body)
    elif mode == 1:  # raw ack packet, either format
        _check_ack(body)
    elif mode == 2:  # a legacy auth plaintext that decrypts: the parser and signature recovery
        packet = ecies_encrypt(KEY_B.public_key, _auth_plain_legacy(body), constant_random)
        assert len(packet) == AUTH_LEGACY_SIZE
        _check_auth(packet)
        _recipient_stream(packet, 1 + (body[:1] or b"\x00")[0])
    elif mode == 3:  # an EIP-8 auth plaintext (RLP) that decrypts
        packet = _seal_eip8(KEY_B.public_key, body)
        _check_auth(packet)
        _recipient_stream(packet, 1 + len(body) % 97)
    elif mode == 4:  # a legacy ack plaintext
        plain = body[:97].ljust(97, b"\x00")
        _check_ack(ecies_encrypt(KEY_A.public_key, plain, constant_random))
    elif mode == 5:  # an EIP-8 ack plaintext
        _check_ack(_seal_eip8(KEY_A.public_key, body))
    else:  # a raw stream into the recipient, in reads of a chosen size
        _recipient_stream(body[1:], 1 + (body[:1] or b"\x00")[0])


# -- RLPx frames and the p2p base protocol ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Session:
    """A real handshake's outcome (spec keys, AUTH₂), replayed so each input costs microseconds."""

    auth: bytes
    ack: bytes
    initiator: Secrets
    recipient: Secrets

    @staticmethod
    def make() -> _Session:
        auth = Initiator(
            KEY_A, KEY_B.node_id, constant_random, ephemeral_key=EPH_A, nonce=NONCE_A
        ).auth_packet
        recipient = Recipient(KEY_B, constant_random, ephemeral_key=EPH_B, nonce=NONCE_B)
        result = recipient.receive(bytearray(auth))
        assert result is not None
        ack, recipient_secrets = result
        initiator_secrets = derive_secrets(
            initiator=True,
            ephemeral_key=EPH_A,
            remote_ephemeral_public_key=EPH_B.node_id,
            initiator_nonce=NONCE_A,
            recipient_nonce=NONCE_B,
            auth_packet=auth,
            ack_packet=ack,
            remote_node_id=KEY_B.node_id,
        )
        return _Session(auth, ack, initiator_secrets, recipient_secrets)

    @staticmethod
    def _codec(secrets: Secrets, max_frame_size: int) -> FrameCodec:
        return FrameCodec(
            secrets.aes_secret,
            secrets.mac_secret,
            secrets.egress_mac.copy(),
            secrets.ingress_mac.copy(),
            max_frame_size,
        )

    def sender(self) -> FrameCodec:
        """Node A's codec (the initiator), fresh."""
        return self._codec(self.initiator, 0xFFFFFF)

    def receiver(self, max_frame_size: int) -> FrameCodec:
        """Node B's codec (the recipient), fresh."""
        return self._codec(self.recipient, max_frame_size)

    def recipient_secrets(self) -> Secrets:
        s = self.recipient
        return Secrets(
            s.remote_node_id, s.aes_secret, s.mac_secret, s.egress_mac.copy(), s.ingress_mac.copy()
        )


_SESSION: _Session | None = None


def _session() -> _Session:
    global _SESSION  # noqa: PLW0603 - built on first use, once per process
    if _SESSION is None:
        _SESSION = _Session.make()
    return _SESSION


def fuzz_frame(data: bytes) -> None:
    """FrameCodec.decode with real session keys: framed bodies come back exactly, in any read
    sizes; any tampered byte is a PeerError at the frame it is in, never a wrong body."""
    session = _session()
    reader = _Reader(data)
    max_frame = 1 + ((reader.byte() << 8) | reader.byte()) * 16
    chunk = 1 + reader.byte()
    sender, receiver = session.sender(), session.receiver(max_frame)
    wire = bytearray()
    # (start, end) of each frame on the wire and its body; None for raw bytes
    bodies: list[tuple[int, int, bytes | None]] = []
    tamper: int | None = None
    for op, payload in reader.records():
        if op % 4 == 3:  # raw, unauthenticated bytes
            if payload:
                bodies.append((len(wire), len(wire) + len(payload), None))
                tamper = len(wire) if tamper is None else tamper
                wire += payload
            continue
        frame = sender.encode(payload)
        bodies.append((len(wire), len(wire) + len(frame), payload))
        wire += frame
        if op % 4 == 2 and tamper is None and frame:  # flip one bit somewhere in this frame
            tamper = len(wire) - len(frame) + op * 7 % len(frame)
            wire[tamper] ^= 1 << (op % 8)
    buffer = bytearray()
    got: list[bytes] = []
    try:
        for start in range(0, len(wire), chunk):
            buffer += wire[start : start + chunk]
            while (body := receiver.decode(buffer)) is not None:
                got.append(body)
    except PeerError:
        failed = True
    else:
        failed = False
    # Every frame before the first tampered or oversized one decoded to exactly its body.
    for (_start, _end, body), decoded in zip(bodies, got, strict=False):
        assert decoded == body, "a frame decoded to a different body"
    first_bad = len(bodies)
    for index, (start, end, body) in enumerate(bodies):
        tampered = tamper is not None and start <= tamper < end
        if tampered or body is None or len(body) > max_frame:
            first_bad = index
            break
    assert len(got) <= first_bad
    if failed:
        assert first_bad < len(bodies), "PeerError on a stream of untouched frames"
    else:
        # No error: every frame decoded, or the stream ends in raw bytes too short to judge.
        assert len(got) == first_bad
        assert first_bad == len(bodies) or bodies[first_bad][2] is None


class _ReplayedRecipient(Recipient):
    """The recipient side of the real handshake above, replayed: consumes the auth, returns its ack
    and fresh copies of its secrets (the handshake itself is the `handshake` target's)."""

    __slots__ = ()

    def receive(self, buffer: bytearray) -> tuple[bytes, Secrets] | None:
        session = _session()
        if len(buffer) < len(session.auth):
            return None
        del buffer[: len(session.auth)]
        return session.ack, session.recipient_secrets()


def fuzz_connection(data: bytes) -> None:
    """A recipient Connection after the handshake: Hello, Disconnect (compressed or not),
    Ping/Pong, unknown ids and sub-protocol messages framed with valid MACs by the remote."""
    session = _session()
    reader = _Reader(data)
    flags = reader.byte()
    conn = Connection(
        KEY_B,
        constant_random,
        client_id="fuzz",
        capabilities=SHH_CAPS + ((Capability("eth", 63, 17),) if flags & 1 else ()),
        max_message_size=MAX_MESSAGE,
        recipient=_ReplayedRecipient(KEY_B, constant_random, ephemeral_key=EPH_B, nonce=NONCE_B),
    )
    conn.receive_data(session.auth)
    assert conn.next_event() == Authenticated(KEY_A.node_id)
    conn.data_to_send()
    conn.send_hello()
    sender = session.sender()
    frames = 0
    for op, payload in reader.records():
        kind = op & 3
        if kind == 0:  # frame data as given: the msg-id RLP itself is fuzzed
            conn.receive_data(sender.encode(payload))
        elif kind == 3:  # raw bytes on the wire
            conn.receive_data(payload)
        else:
            # ids 0-47 (base protocol, eth/shh), then 100-250 (shh, and beyond every capability)
            msg_id = op >> 2 if op >> 2 < 48 else 100 + (op >> 2) % 16 * 10
            if kind == 2:
                payload = snappy_compress(payload)
            conn.receive_data(sender.encode(rlp.encode_uint(msg_id) + payload))
        frames += 1
    events = 0
    try:
        while (event := conn.next_event()) is not None:
            events += 1
            assert events <= frames
            if isinstance(event, HelloReceived):
                assert conn.state is State.ESTABLISHED and event.capabilities
                assert event.hello.node_id == KEY_A.node_id
            elif isinstance(event, MessageReceived):
                assert event.capability in ("shh", "eth") and len(event.payload) <= MAX_MESSAGE
            elif isinstance(event, DisconnectReceived):
                assert conn.state is State.CLOSED and isinstance(event.reason, DisconnectReason)
            else:
                assert isinstance(event, PongReceived), event
    except PeerError as exc:
        assert conn.state is State.ERROR and isinstance(exc.reason, DisconnectReason)
        try:
            conn.next_event()
        except PeerError as again:
            assert again is exc
        else:
            raise AssertionError("ERROR state must keep failing") from None
        conn.disconnect(exc.reason)  # our egress is intact: a Disconnect can still be framed
    out = conn.data_to_send()
    assert len(out) <= 64 + 64 * (frames + 2)  # Hello + a Pong per Ping + a Disconnect


def fuzz_hello(data: bytes) -> None:
    """Hello.decode: a DecodeError or a Hello that survives re-encoding and the identity check."""
    try:
        hello = Hello.decode(data)
    except DecodeError:
        return
    again = Hello.decode(hello.encode()) if len(hello.encode()) <= 2048 else hello
    assert again == hello
    try:
        hello.check_identity(KEY_A.node_id)
    except PeerError as exc:
        assert exc.reason in (
            DisconnectReason.INVALID_IDENTITY,
            DisconnectReason.UNEXPECTED_IDENTITY,
        )
    shared = match_capabilities(SHH_CAPS, hello.capabilities)
    assert len(shared) <= 1


def fuzz_disconnect(data: bytes) -> None:
    """decode_disconnect never raises; snappy_decompress raises only PeerError, within its limit."""
    for snappy in (False, True):
        assert isinstance(decode_disconnect(data, snappy), DisconnectReason)
    limit = 1 + (data[:1] or b"\x00")[0] * 64
    try:
        out = snappy_decompress(data, limit)
    except PeerError:
        pass
    else:
        assert len(out) <= limit
    assert snappy_decompress(snappy_compress(data), len(data)) == data


# -- shh -----------------------------------------------------------------------------------------


def fuzz_shh_status(data: bytes) -> None:
    """decode_status: a DecodeError or a Status whose re-encoding decodes to the same Status."""
    try:
        status = packets.decode_status(data)
    except DecodeError:
        return
    assert math.isfinite(status.pow_requirement) and status.pow_requirement >= 0
    assert status.bloom is None or len(status.bloom) == 64
    assert packets.decode_status(packets.encode_status(status)) == status


def fuzz_shh_peer(data: bytes) -> None:
    """ShhPeer.receive over a packet sequence: events or PeerError(SUBPROTOCOL_ERROR), and once
    failed, failed for good."""
    reader = _Reader(data)
    flags = reader.byte()
    peer = ShhPeer(
        local_light=bool(flags & 1),
        max_message_size=64 << (flags >> 4),
        trusted=bool(flags & 2),
        accept_mail_requests=bool(flags & 4),
    )
    failed: PeerError | None = None
    for op, payload in reader.records():
        # 0-127, more of the direct-message codes 126/127, and unknown codes up to 765
        code = op if op < 128 else (126 + (op & 1) if op < 192 else op * 3)
        try:
            event = peer.receive(code, payload)
        except PeerError as exc:
            assert exc.reason is DisconnectReason.SUBPROTOCOL_ERROR
            assert not peer.active
            failed = exc
            continue
        assert failed is None, "a failed peer accepted a packet"
        assert peer.active
        if isinstance(event, StatusReceived):
            assert event.status.version == 6
        elif isinstance(event, Envelopes):
            # Split and decoded piecemeal, as the node does: a bad envelope fails the peer.
            count = 0
            decoded: list[Envelope] = []
            try:
                for raw in peer.encoded_envelopes(event):
                    envelope = peer.decode_envelope(raw)
                    assert isinstance(envelope, Envelope)
                    decoded.append(envelope)
                    count += 1
            except PeerError as exc:
                assert exc.reason is DisconnectReason.SUBPROTOCOL_ERROR and not peer.active
                failed = exc
            assert count <= len(payload) // 10 + 1
            # The batch entry point: the same envelopes, or a DecodeError where the peer failed.
            sliced: list[Envelope] = []
            try:
                for chunk in packets.decode_messages_in_slices(event.payload, 7):
                    sliced.extend(chunk)
            except DecodeError:
                assert failed is not None
            else:
                assert failed is None and sliced == decoded
        elif isinstance(event, PowRequirementChanged):
            assert math.isfinite(event.value) and event.value >= 0
        elif isinstance(event, BloomChanged):
            assert event.bloom is None or len(event.bloom) == 64
        elif isinstance(event, MailRequest) and isinstance(event.envelope, MailPacket):
            # Not an envelope: a 126 payload for the archive server to answer, or 123/124 server
            # sync from a trusted peer; only with an archive server.
            packet = event.envelope
            assert peer.accept_mail_requests and packet.payload == payload
            assert packet.code == code and (code == 126 or (peer.trusted and code in (123, 124)))
        elif isinstance(event, DirectMessage | MailRequest):
            assert isinstance(event.envelope, Envelope)
        else:
            assert isinstance(event, Ignored)


def fuzz_envelope(data: bytes) -> None:
    """Envelope.decode's fast path against the generic decoder (rlp.decode + from_item): the same
    acceptance, the same fields, and an envelope that re-encodes to its input."""
    fast = _decode_fast(data)
    try:
        generic: Envelope | None = Envelope.from_item(rlp.decode(data), data)
    except DecodeError:
        generic = None
    if fast is not None:
        assert generic is not None, "fast path accepted what the strict decoder refuses"
        assert fast == (generic.expiry, generic.ttl, generic.topic, generic.data, generic.nonce)
    try:
        reference: Envelope | None = Envelope.decode_python(data)
        reference_error = ""
    except DecodeError as exc:
        reference, reference_error = None, str(exc)
    try:
        envelope = Envelope.decode(data)  # the C path where it was built
    except DecodeError as exc:
        assert generic is None and reference is None
        assert str(exc) == reference_error, "C and Python paths fail differently"
        return
    assert generic is not None and envelope == generic
    assert reference is not None and envelope.hash == reference.hash
    assert envelope.pow() == reference.pow() and envelope.pow(3) == reference.pow(3)
    assert envelope.encode() == data
    rebuilt = Envelope(envelope.expiry, envelope.ttl, envelope.topic, envelope.data, envelope.nonce)
    assert rebuilt._encode() == data
    assert envelope.hash == keccak256(data)
    assert envelope.short_rlp() == short_rlp(
        envelope.expiry, envelope.ttl, envelope.topic, envelope.data
    )
    assert envelope.pow() >= 0 and envelope.size() == 20 + len(envelope.data)


def _check_opened(opened: OpenedMessage | None, plain: bytes | None) -> None:
    parsed = parse_plaintext(plain) if plain is not None else None
    assert (opened is None) == (parsed is None)
    if opened is not None and parsed is not None:
        assert (opened.payload, opened.padding, opened.signer) == (
            parsed.payload,
            parsed.padding,
            parsed.signer,
        )


def fuzz_message(data: bytes) -> None:
    """open_symmetric / open_asymmetric never raise: None, or a message whose fields are what the
    plaintext says; parse_plaintext undoes build_plaintext."""
    reader = _Reader(data)
    mode = reader.byte() % 4
    body = reader.rest()
    topic = Topic(b"\x00\x00\x00\x01")
    if mode == 0:  # arbitrary envelope data under both openers
        envelope = Envelope(1, 1, topic, body)
        assert SYM.open(body) == SYM.open_python(body)  # the C opener against cryptography
        _check_opened(open_symmetric(envelope, SYM), SYM.open(body))
        assert open_asymmetric(envelope, KEY_A) is None or len(body) >= 113
    elif mode == 1:  # a plaintext behind a valid AES-GCM tag
        envelope = Envelope(1, 1, topic, SYM.seal(body, b"\x00" * 12))
        _check_opened(open_symmetric(envelope, SYM), body)
    elif mode == 2:  # a plaintext behind a valid ECIES MAC
        envelope = Envelope(1, 1, topic, ecies_encrypt(KEY_A.public_key, body, constant_random))
        _check_opened(open_asymmetric(envelope, KEY_A), body)
    else:  # build_plaintext round trip with chosen padding, signed or not
        split = (body[:1] or b"\x00")[0]
        payload, padding = body[1 : 1 + split], body[1 + split :]
        signer = KEY_B if split & 1 else None
        plain = build_plaintext(payload, constant_random, padding or None, signer)
        parsed = parse_plaintext(plain)
        assert parsed is not None and parsed.payload == payload
        assert parsed.signer == (KEY_B.public_key if signer else None)
        if padding:
            assert parsed.padding == padding


# -- enode URLs and JSON-RPC ---------------------------------------------------------------------


def fuzz_enode(data: bytes) -> None:
    """Enode.parse: a DecodeError or an Enode that prints to a URL parsing back to itself."""
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        enode = Enode.parse(text)
    except HushError:
        return
    assert len(enode.node_id) == 64 and 0 <= enode.tcp_port <= 0xFFFF
    again = Enode.parse(str(enode))  # `discport` equal to the port is left out when printed
    assert (again.node_id, again.ip, again.tcp_port, again.discovery_port) == (
        enode.node_id,
        enode.ip,
        enode.tcp_port,
        enode.discovery_port,
    )


_ERROR_CODES = {-32700, -32600, -32601, -32602, -32000}


def _rpc_api() -> Dispatcher:
    # A node that is never started: no sockets, no dialling (add_peer only records a static peer
    # while stopped), no timers. Built per input so no state leaks between inputs.
    node = Node(NodeConfig(listen=False, datadir=None, pow_processes=1), node_key=KEY_A)
    api = ShhApi(node, random_bytes=constant_random)

    async def decoded_only(_context: object, *_args: object) -> str:
        return "0x00"

    methods = []
    for method in api.methods():
        if method.name in _DECODE_ONLY:
            method = Method(method.name, decoded_only, method.params)
        methods.append(method)
    return Dispatcher(methods)


_DECODE_ONLY = {"shh_post", "shh_generateSymKeyFromPassword"}
"""Handlers whose work is by design proportional to a parameter (PoW for up to `powTime`
seconds; PBKDF2): their parameters go through the real decoders, their handlers are not run.
Sealing limits are tested with the sealer (tests/test_sealer.py)."""

_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP  # noqa: PLW0603 - one loop for the whole fuzzing process
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def _check_response(response: Any) -> None:
    assert isinstance(response, dict), response
    assert response["jsonrpc"] == "2.0"
    if "error" in response:
        assert response["error"]["code"] in _ERROR_CODES, response
    else:
        assert "result" in response


def fuzz_rpc_body(data: bytes) -> None:
    """Dispatcher.handle_body over the real ShhApi: a JSON-RPC answer Go's encoder can write,
    with one of geth's error codes (never -32603, an unexpected exception in a handler)."""
    dispatcher = _rpc_api()

    async def handle() -> Any:
        response = await dispatcher.handle_body(data, CallContext())
        await asyncio.sleep(0)  # let a bloom announcement spawned by a filter run
        return response

    response = _loop().run_until_complete(handle())
    if response is None:
        return
    for item in response if isinstance(response, list) else [response]:
        _check_response(item)
    json.loads(encode(response))


_PARAM_DECODERS: list[Callable[[Any, str | None], Any]] = []


def fuzz_rpc_params(data: bytes) -> None:
    """Every shh/admin/net parameter decoder on any JSON value: a value or ParamError."""
    if not _PARAM_DECODERS:
        _PARAM_DECODERS.extend(
            [
                params.as_str,
                params.as_bool,
                params.as_uint32,
                params.as_float,
                params.as_hex,
                params.as_topic,
                params.as_new_message,
                params.as_criteria,
            ]
        )
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return
    for decode in _PARAM_DECODERS:
        try:
            decode(value, None)
        except params.ParamError as exc:
            assert str(exc)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    max_len: int = 4096
    """libFuzzer's -max_len for this target."""


TARGETS: dict[str, Target] = {
    target.name: target
    for target in [
        Target("rlp", fuzz_rlp, 1024),
        Target("handshake", fuzz_handshake, 1024),
        Target("frame", fuzz_frame, 4096),
        Target("connection", fuzz_connection, 4096),
        Target("hello", fuzz_hello, 2100),
        Target("disconnect", fuzz_disconnect, 512),
        Target("shh_status", fuzz_shh_status, 512),
        Target("shh_peer", fuzz_shh_peer, 4096),
        Target("envelope", fuzz_envelope, 2048),
        Target("message", fuzz_message, 1024),
        Target("enode", fuzz_enode, 512),
        Target("rpc_body", fuzz_rpc_body, 4096),
        Target("rpc_params", fuzz_rpc_params, 2048),
    ]
}

ALL = sorted(TARGETS)
"""The order `fuzz_all` dispatches in: its first input byte picks the target."""


def fuzz_all(data: bytes) -> None:
    """Every target behind one entry point (one atheris process for the CI smoke run)."""
    if data:
        TARGETS[ALL[data[0] % len(ALL)]].run(data[1:])


TARGETS["all"] = Target("all", fuzz_all, 4097)
