"""Every shh_* method and its error paths, against geth 1.9.7's recorded answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rpc_client import Client

from hush.crypto.keccak import keccak256
from hush.node import Node

VECTORS = Path(__file__).parent.parent / "vectors"
PASSWORD_KEY_TEST = "a82a520aff70f7a989098376e48ec128f25f767085e84d7fb995a9815eebff0a"


async def test_version_info_and_settings(client: Client) -> None:
    assert await client.call("shh_version") == "6.0"
    info = await client.call("shh_info")
    assert list(info) == ["memory", "messages", "minPow", "maxMessageSize"]
    assert info["minPow"] == 0.2 and info["maxMessageSize"] == 1048576
    assert await client.call("shh_setMinPoW", 0.5) is True
    assert (await client.call("shh_info"))["minPow"] == 0.5
    assert await client.error("shh_setMinPoW", -1) == (-32000, "invalid PoW: -1.0")
    assert await client.call("shh_setMaxMessageSize", 2000000) is True
    assert (await client.call("shh_info"))["maxMessageSize"] == 2000000
    assert await client.error("shh_setMaxMessageSize", 10485761) == (
        -32000,
        "message size too large [10485761>10485760]",
    )
    assert await client.call("shh_setBloomFilter", "0x" + "ff" * 64) is True
    assert await client.error("shh_setBloomFilter", "0x" + "ff" * 10) == (
        -32000,
        "invalid bloom filter size: 10",
    )
    assert await client.call("shh_makeLightClient") is True
    assert await client.call("shh_cancelLightClient") is True


async def test_key_pairs(client: Client) -> None:
    key_id = await client.call("shh_newKeyPair")
    assert len(key_id) == 64 and not key_id.startswith("0x")
    assert await client.call("shh_hasKeyPair", key_id) is True
    public = await client.call("shh_getPublicKey", key_id)
    assert public.startswith("0x04") and len(public) == 2 + 130
    secret = await client.call("shh_getPrivateKey", key_id)
    assert len(secret) == 2 + 64
    again = await client.call("shh_addPrivateKey", secret)
    assert again != key_id and await client.call("shh_getPublicKey", again) == public
    assert await client.call("shh_deleteKeyPair", key_id) is True
    assert await client.call("shh_hasKeyPair", key_id) is False
    assert await client.error("shh_getPublicKey", key_id) == (-32000, "invalid id")
    assert await client.error("shh_getPrivateKey", "nope") == (-32000, "invalid id")
    assert await client.error("shh_deleteKeyPair", key_id) == (
        -32000,
        f"key pair {key_id} not found",
    )
    assert await client.error("shh_addPrivateKey", "0x01") == (
        -32000,
        "invalid length, need 256 bits",
    )
    assert await client.error("shh_addPrivateKey", "0x" + "00" * 32) == (
        -32000,
        "invalid private key, zero or negative",
    )


async def test_sym_keys(client: Client) -> None:
    key_id = await client.call("shh_newSymKey")
    assert await client.call("shh_hasSymKey", key_id) is True
    assert len(await client.call("shh_getSymKey", key_id)) == 66
    added = await client.call("shh_addSymKey", "0x" + "11" * 32)
    assert await client.call("shh_getSymKey", added) == "0x" + "11" * 32
    assert await client.error("shh_addSymKey", "0x" + "11" * 31) == (-32000, "wrong key size: 31")
    from_password = await client.call("shh_generateSymKeyFromPassword", "test")
    assert await client.call("shh_getSymKey", from_password) == "0x" + PASSWORD_KEY_TEST
    # geth answers (rpc_ws_p2p_misc_run.json): hasSymKey true, deleteSymKey true
    assert await client.call("shh_deleteSymKey", key_id) is True
    assert await client.call("shh_deleteSymKey", key_id) is False
    assert await client.call("shh_hasSymKey", key_id) is False
    assert await client.error("shh_getSymKey", key_id) == (-32000, "non-existent key ID")


async def test_post_errors_match_geth(client: Client) -> None:
    recorded = json.loads((VECTORS / "rpc_post_errors.json").read_text())["rejected_posts"]
    sym_id = await client.call("shh_newSymKey")
    for case in recorded:
        request = dict(case["request"])
        request["symKeyID"] = sym_id
        request["powTime"] = 1
        assert await client.error("shh_post", request) == (-32000, case["geth_error"]), case["name"]
    misc = json.loads((VECTORS / "rpc_ws_p2p_misc_run.json").read_text())
    unknown = {"symKeyID": "ab" * 32, "topic": "0x01020304", "payload": "0x01"}
    reply = await client.request("shh_post", unknown)
    assert reply["error"] == misc["post_unknown_key"]["error"]


async def test_post_error_paths(client: Client) -> None:
    sym_id = await client.call("shh_newSymKey")
    base = {"topic": "0x01020304", "payload": "0x68656c6c6f", "powTarget": 0.2, "powTime": 1}
    assert await client.error("shh_post", base) == (
        -32000,
        "specify either a symmetric or an asymmetric key",
    )
    assert await client.error("shh_post", {**base, "symKeyID": sym_id, "sig": "00" * 32}) == (
        -32000,
        "invalid id",
    )
    assert await client.error("shh_post", {**base, "pubKey": "0x04" + "00" * 64}) == (
        -32000,
        "invalid public key",
    )
    assert await client.error("shh_post", {**base, "symKeyID": sym_id, "powTarget": 0}) == (
        -32000,
        "message rejected, PoW too low",
    )
    code, message = await client.error("shh_post", {**base, "symKeyID": sym_id, "powTime": 0})
    assert code == -32000 and message.startswith("failed to reach the PoW target")


async def test_post_and_poll_each_message_once(client: Client, node: Node) -> None:
    sym_id = await client.call("shh_generateSymKeyFromPassword", "room")
    signer = await client.call("shh_newKeyPair")
    signer_pub = await client.call("shh_getPublicKey", signer)
    filter_id = await client.call(
        "shh_newMessageFilter", {"symKeyID": sym_id, "topics": ["0xdeadbeef"]}
    )
    envelope_hash = await client.call(
        "shh_post",
        {
            "symKeyID": sym_id,
            "sig": signer,
            "ttl": 60,
            "topic": "0xdeadbeef",
            "payload": "0x68656c6c6f",
            "padding": "0x" + "11" * 16,
            "powTarget": 0.2,
            "powTime": 2,
        },
    )
    assert len(envelope_hash) == 66
    messages = await client.call("shh_getFilterMessages", filter_id)
    assert len(messages) == 1
    message = messages[0]
    assert list(message) == [
        "sig",
        "ttl",
        "timestamp",
        "topic",
        "payload",
        "padding",
        "pow",
        "hash",
    ]
    assert message["sig"] == signer_pub
    assert message["payload"] == "0x68656c6c6f" and message["padding"] == "0x" + "11" * 16
    assert message["hash"] == envelope_hash and message["ttl"] == 60  # kept by the sent spread
    assert message["topic"] == "0xdeadbeef" and message["pow"] >= 0.2
    assert await client.call("shh_getFilterMessages", filter_id) == []
    assert await client.call("shh_deleteMessageFilter", filter_id) is True
    assert await client.error("shh_getFilterMessages", filter_id) == (-32000, "filter not found")
    assert await client.error("shh_deleteMessageFilter", filter_id) == (
        -32000,
        "Unsubscribe: Invalid ID",
    )
    assert (await client.call("shh_info"))["memory"] > 0
    assert len(node.pool) == 1


async def test_asymmetric_message(client: Client) -> None:
    key_id = await client.call("shh_newKeyPair")
    public = await client.call("shh_getPublicKey", key_id)
    filter_id = await client.call("shh_newMessageFilter", {"privateKeyID": key_id})
    await client.call(
        "shh_post",
        {"pubKey": public, "payload": "0x", "powTarget": 0.2, "powTime": 2, "ttl": 30},
    )
    [message] = await client.call("shh_getFilterMessages", filter_id)
    assert "sig" not in message
    assert message["recipientPublicKey"] == public
    assert message["payload"] == "0x" and message["topic"] == "0x00000000"


async def test_filter_criteria_errors(client: Client) -> None:
    sym_id = await client.call("shh_newSymKey")
    key_id = await client.call("shh_newKeyPair")
    both = {"symKeyID": sym_id, "privateKeyID": key_id}
    assert await client.error("shh_newMessageFilter", both) == (
        -32000,
        "specify either a symmetric or an asymmetric key",
    )
    assert await client.error("shh_newMessageFilter", {}) == (
        -32000,
        "specify either a symmetric or an asymmetric key",
    )
    bad_sig = {"symKeyID": sym_id, "sig": "0x04" + "00" * 64}
    assert await client.error("shh_newMessageFilter", bad_sig) == (
        -32000,
        "invalid signing public key",
    )
    assert await client.error("shh_newMessageFilter", {"symKeyID": "ab" * 32}) == (
        -32000,
        "non-existent key ID",
    )
    assert await client.error("shh_newMessageFilter", {"privateKeyID": "ab" * 32}) == (
        -32000,
        "invalid id",
    )
    # newMessageFilter does not require topics for a symmetric filter (geth); subscribe does
    assert len(await client.call("shh_newMessageFilter", {"symKeyID": sym_id})) == 64


async def test_invalid_params(client: Client) -> None:
    assert await client.error("shh_getSymKey") == (-32602, "missing value for required argument 0")
    assert await client.error("shh_version", 1) == (-32602, "too many arguments, want at most 0")
    assert await client.error("shh_addSymKey", "1234") == (
        -32602,
        "invalid argument 0: json: cannot unmarshal hex string without 0x prefix"
        " into Go value of type hexutil.Bytes",
    )
    assert await client.error("shh_hasSymKey", 5) == (
        -32602,
        "invalid argument 0: json: cannot unmarshal number 5 into Go value of type string",
    )
    assert await client.error("shh_post", {"ttl": -1}) == (
        -32602,
        "invalid argument 0: json: cannot unmarshal number -1 into Go struct field"
        " NewMessage.ttl of type uint32",
    )
    assert await client.error("shh_post", {"topic": "0x0102"}) == (
        -32602,
        "invalid argument 0: hex string has length 4, want 8 for Topic",
    )
    assert await client.error("shh_post", {"payload": "0x123"}) == (
        -32602,
        "invalid argument 0: json: cannot unmarshal hex string of odd length"
        " into Go struct field NewMessage.payload of type hexutil.Bytes",
    )
    reply = await client.raw({"jsonrpc": "2.0", "id": 1, "method": "shh_version", "params": {}})
    assert reply["error"] == {"code": -32602, "message": "non-array args"}


async def test_method_not_found_and_malformed(client: Client) -> None:
    assert await client.error("shh_nope") == (
        -32601,
        "the method shh_nope does not exist/is not available",
    )
    async with client.session.post(
        client.url, data=b"{not json", headers={"Content-Type": "application/json"}
    ) as response:
        reply = await response.json()
    assert reply["id"] is None and reply["error"]["code"] == -32700
    assert (await client.raw({"jsonrpc": "2.0", "id": 1}))["error"]["code"] == -32600
    assert (await client.raw(7))["error"] == {"code": -32600, "message": "invalid request"}


async def test_batch(client: Client) -> None:
    replies = await client.raw(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "shh_version"},
            {"jsonrpc": "2.0", "method": "shh_newSymKey"},  # a notification: no reply
            {"jsonrpc": "2.0", "id": "b", "method": "shh_nope"},
            {"jsonrpc": "2.0", "id": 3, "method": "net_peerCount"},
        ]
    )
    assert [r["id"] for r in replies] == [1, "b", 3]
    assert replies[0]["result"] == "6.0"
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["result"] == "0x0"
    assert (await client.raw([]))["error"] == {"code": -32600, "message": "empty batch"}


async def test_web3_net_admin(client: Client, node: Node) -> None:
    assert await client.call("web3_clientVersion") == node.config.client_id
    assert await client.call("net_peerCount") == "0x0"
    assert await client.call("net_listening") is True
    assert await client.call("net_version") == "1"
    info = await client.call("admin_nodeInfo")
    assert info["id"] == keccak256(node.node_key.node_id).hex()
    assert info["enode"] == node.enode
    assert set(info["ports"]) == {"discovery", "listener"}
    assert info["protocols"]["shh"] == {
        "version": "6.0",
        "maxMessageSize": 1048576,
        "minimumPoW": 0.2,
        "bloom": None,
        "light": False,
    }
    assert await client.call("admin_peers") == []
    code, message = await client.error("admin_addPeer", "enode://nope")
    assert code == -32000 and message.startswith("invalid enode")
    assert await client.error("shh_markTrustedPeer", "enode://x")


@pytest.mark.parametrize("kind", ["messages"])
async def test_subscribe_over_http_is_refused(client: Client, kind: str) -> None:
    sym_id = await client.call("shh_newSymKey")
    criteria = {"symKeyID": sym_id, "topics": ["0x01020304"]}
    assert await client.error("shh_subscribe", kind, criteria) == (
        -32000,
        "notifications not supported",
    )
