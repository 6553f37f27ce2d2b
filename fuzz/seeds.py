"""Write the seed inputs of every target into `fuzz/corpus/<target>/seed-*`: `python fuzz/seeds.py`.

Seeds come from geth's recorded envelopes (tests/vectors/envelopes.json), the devp2p spec's
known-answer vectors (devp2p.md §8, as copied into tests/rlpx/rlpx_vectors.py) and geth's
recorded RPC requests, laid out in each target's input format. Rerunning rewrites the seeds
identically; inputs the fuzzer found are kept beside them under other names.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "rlpx")]

import fuzz_targets as ft  # noqa: E402
import rlpx_vectors as spec  # noqa: E402

from hush import rlp  # noqa: E402
from hush.errors import DisconnectReason  # noqa: E402
from hush.rlpx.base import Hello, encode_disconnect, snappy_compress  # noqa: E402
from hush.shh import packets  # noqa: E402
from hush.shh.topic import FULL_BLOOM, topic_to_bloom  # noqa: E402
from hush.types import Bloom, Topic  # noqa: E402

VECTORS = json.loads((ROOT / "tests" / "vectors" / "envelopes.json").read_text())["vectors"]
ENVELOPES = [bytes.fromhex(v["envelope_rlp"][2:]) for v in VECTORS]
PLAINTEXTS = [bytes.fromhex(v["decrypted_plaintext"][2:]) for v in VECTORS]
R = ft.record


def seeds() -> Iterator[tuple[str, str, bytes]]:
    """(target, seed name, input)."""
    for v, raw in zip(VECTORS, ENVELOPES, strict=True):
        yield "envelope", v["name"], raw
        yield "rlp", "envelope-" + v["name"], raw
    yield "rlp", "nested", rlp.encode([b"", [b"\x01", [b"\x7f", b"\x80"]], b"x" * 60])
    yield "rlp", "long-list", rlp.encode([b"a" * 56] * 5)
    yield "rlp", "hello", spec.V5_HELLO
    deep: rlp.Item = []
    for _ in range(rlp.MAX_DEPTH + 1):
        deep = [deep]
    yield "rlp", "too-deep", rlp.encode(deep)

    for name, packet in [("auth1-legacy", spec.AUTH1), ("auth2-eip8", spec.AUTH2)]:
        yield "handshake", "spec-" + name, b"\x00" + packet
    yield "handshake", "spec-auth3-eip8-extras", b"\x00" + spec.AUTH3
    for name, packet in [("ack1", spec.ACK1), ("ack2", spec.ACK2), ("ack3", spec.ACK3)]:
        yield "handshake", "spec-" + name, b"\x01" + packet
    auth_eip8 = rlp.encode([b"\x11" * 65, ft.KEY_A.node_id, ft.NONCE_A, b"\x04"])
    yield "handshake", "auth-eip8-plain", b"\x03" + auth_eip8
    yield "handshake", "auth-legacy-plain", b"\x02" + b"\x22" * 194
    yield (
        "handshake",
        "ack-eip8-plain",
        b"\x05" + rlp.encode([ft.EPH_B.node_id, ft.NONCE_B, b"\x04"]),
    )
    yield "handshake", "ack-legacy-plain", b"\x04" + ft.EPH_B.node_id + ft.NONCE_B + b"\x00"
    yield "handshake", "stream-auth2", b"\x06\x40" + spec.AUTH2

    frames = b"".join(R(op, body) for op, body in [(0, b"\x80\xc0"), (1, b"x" * 40), (0, b"")])
    yield "frame", "three-frames", b"\x01\x00\x07" + frames
    yield "frame", "tampered", b"\x01\x00\x10" + R(0, b"\x02\xc0") + R(2, b"\x01" * 20)
    yield "frame", "oversize", b"\x00\x01\x00" + R(0, b"y" * 64)
    yield "frame", "raw-tail", b"\x01\x00\x03" + R(0, b"\x03\xc0") + R(3, b"garbage")

    hello = Hello(5, "seed/v1", (("shh", 6), ("eth", 63)), 0, ft.KEY_A.node_id).encode()
    hello4 = Hello(4, "seed/v1", (("shh", 6),), 0, ft.KEY_A.node_id).encode()
    hello_frame = R(1 | (0 << 2), hello)  # kind 1: msg id 0 + payload
    shh_status = packets.encode_status(packets.Status(pow_requirement=0.2))
    yield "connection", "hello", b"\x00" + hello_frame
    yield (
        "connection",
        "hello-ping-shh",
        (
            b"\x01"
            + hello_frame
            + R(2 | (2 << 2), b"\xc0")  # Ping, compressed
            + R(2 | (3 << 2), b"\xc0")  # Pong
            + R(2 | (16 << 2), shh_status)  # shh status on the first sub-protocol id
            + R(2 | (40 << 2), b"\xc0")
            + R(2 | (1 << 2), encode_disconnect(DisconnectReason.TOO_MANY_PEERS))
        ),
    )
    yield (
        "connection",
        "hello-v4-uncompressed",
        (b"\x00" + R(1, hello4) + R(1 | (2 << 2), b"\xc0") + R(1 | (16 << 2), shh_status)),
    )
    yield "connection", "disconnect-before-hello", b"\x00" + R(1 | (1 << 2), b"\xc1\x04")
    yield "connection", "spec-hello-wrong-identity", b"\x00" + R(1, spec.V5_HELLO)
    yield "connection", "second-hello", b"\x00" + hello_frame + hello_frame
    yield "connection", "raw-msg-id", b"\x00" + hello_frame + R(0, b"\x88" + b"\xff" * 8)

    yield "hello", "spec-v5-extras", spec.V5_HELLO
    yield "hello", "ours", hello
    yield "hello", "oversize", hello + b"\x00" * 2048
    for reason in (DisconnectReason.REQUESTED, DisconnectReason.SUBPROTOCOL_ERROR):
        payload = encode_disconnect(reason)
        yield "disconnect", f"list-{reason:#x}", payload
        yield "disconnect", f"snappy-{reason:#x}", snappy_compress(payload)
    yield "disconnect", "bare-int", b"\x04"
    yield "disconnect", "snappy-text", snappy_compress(b"hello " * 30)

    bloom = topic_to_bloom(Topic(b"\xde\xad\xbe\xef"))
    statuses = {
        "minimal": rlp.encode([b"\x06"]),
        "full": packets.encode_status(packets.Status(pow_requirement=0.2)),
        "bloom-light": packets.encode_status(packets.Status(6, 2.5, Bloom(bloom), True)),
        "full-bloom": packets.encode_status(packets.Status(6, 0.0, FULL_BLOOM)),
        "extension-items": rlp.encode(
            [b"\x06", rlp.uint_bytes(packets.float_to_bits(0.001)), bloom, b"\x01", [b"\x01"]]
        ),
    }
    for name, status in statuses.items():
        yield "shh_status", name, status
    messages = packets.encode_messages(ENVELOPES[:4])
    yield (
        "shh_peer",
        "status-messages",
        (
            b"\x76"
            + R(0, statuses["full"])
            + R(1, messages)
            + R(2, packets.encode_pow_requirement(1.5))
        ),
    )
    yield (
        "shh_peer",
        "bloom-direct-mail",
        (
            b"\x76"
            + R(0, statuses["bloom-light"])
            + R(3, packets.encode_bloom(Bloom(bloom)))
            + R(127, ENVELOPES[0])
            + R(126, ENVELOPES[1])
            + R(0, statuses["minimal"])
            + R(77, b"")
        ),
    )
    yield "shh_peer", "before-status", b"\x70" + R(1, messages)

    for v, plain in zip(VECTORS, PLAINTEXTS, strict=True):
        data = bytes.fromhex(v["envelope"]["data"][2:]) if "data" in v["envelope"] else b""
        if data:
            yield "message", "data-" + v["name"], b"\x00" + data[:1000]
        yield (
            "message",
            ("sym-" if v["name"].startswith(("sym", "wnode")) else "asym-") + v["name"],
            (b"\x01" if v["name"].startswith(("sym", "wnode")) else b"\x02") + plain[:1000],
        )
    yield "message", "build-signed", b"\x03\x05hellopadding"
    yield "message", "build-unsigned", b"\x03\x04hipad"

    node = ft.KEY_A.node_id.hex()
    for name, url in {
        "ipv4": f"enode://{node}@127.0.0.1:30303",
        "discport": f"enode://{node}@10.0.0.1:30303?discport=30301",
        "ipv6": f"enode://{node}@[::1]:30303",
        "no-host": f"enode://{node}",
        "bad-key": "enode://" + "ab" * 64 + "@127.0.0.1:1",
    }.items():
        yield "enode", name, url.encode()

    post_errors = json.loads((ROOT / "tests" / "vectors" / "rpc_post_errors.json").read_text())
    requests: list[tuple[str, object]] = [
        ("shh_post", [case["request"]]) for case in post_errors["rejected_posts"]
    ]
    requests += [
        ("shh_version", []),
        ("shh_info", None),
        ("shh_setMaxMessageSize", [1024]),
        ("shh_setMinPoW", [0.5]),
        ("shh_setBloomFilter", ["0x" + bloom.hex()]),
        ("shh_newKeyPair", []),
        ("shh_addPrivateKey", ["0x" + "11" * 32]),
        ("shh_addSymKey", ["0x" + "22" * 32]),
        ("shh_generateSymKeyFromPassword", ["wwww"]),
        ("shh_hasSymKey", ["00" * 32]),
        ("shh_newMessageFilter", [{"symKeyID": "x", "topics": ["0xdeadbeef"], "minPow": 0.2}]),
        ("shh_newMessageFilter", [{"privateKeyID": "x", "sig": "0x04" + node, "allowP2P": True}]),
        ("shh_getFilterMessages", ["00" * 32]),
        ("shh_subscribe", ["messages", {"symKeyID": "x", "topics": ["0x01020304"]}]),
        ("web3_sha3", ["0x68656c6c6f"]),
        ("admin_addPeer", [f"enode://{node}@127.0.0.1:30303"]),
        ("admin_nodeInfo", []),
        ("net_version", []),
        ("rpc_modules", []),
    ]
    for index, (method, params) in enumerate(requests):
        body = {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
        yield "rpc_body", f"{index:02d}-{method}", json.dumps(body).encode()
        if params:
            yield "rpc_params", f"{index:02d}-{method}", json.dumps(params[-1]).encode()  # type: ignore[index]
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "shh_newSymKey"},
        {"jsonrpc": "2.0", "method": "shh_newKeyPair"},
        {"jsonrpc": "2.0", "id": "x", "method": "nope"},
        7,
    ]
    yield "rpc_body", "batch", json.dumps(batch).encode()
    yield "rpc_body", "empty-batch", b"[]"
    yield "rpc_body", "not-json", b"{"


def main() -> None:
    corpus = HERE / "corpus"
    written = 0
    for target, name, data in seeds():
        assert target in ft.TARGETS, target
        directory = corpus / target
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"seed-{name}").write_bytes(data)
        written += 1
    digest = hashlib.sha256(b"".join(sorted(p.read_bytes() for p in corpus.glob("*/seed-*"))))
    print(f"{written} seeds written, digest {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
