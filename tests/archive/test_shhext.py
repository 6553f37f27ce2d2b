"""shhext_requestMessages / shhext_requestMessagesSync over real HTTP JSON-RPC, against a real
hush archive node on loopback: Status's parameter names and result shapes."""

from __future__ import annotations

import os
import time
from typing import Any

import aiohttp

from hush.archive.cursor import Cursor
from hush.archive.store import ArchivedEnvelope
from hush.crypto.symmetric import SymmetricKey
from hush.metrics import NodeStats
from hush.node import Node
from hush.rpc import RpcConfig, RpcServer, ShhApi
from hush.rpc.jsonrpc import CallContext
from hush.rpc.shhext import ShhextMethods
from hush.shh.message import wrap
from hush.types import Topic

from .helpers import PASSWORD, archive_node, node_config

TOPIC = Topic(bytes.fromhex("abcd0001"))
OTHER = Topic(bytes.fromhex("abcd0002"))


async def rpc(session: aiohttp.ClientSession, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with session.post(url, json=body) as response:
        return await response.json()


async def test_request_messages_sync_and_async(store_url: str) -> None:
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        rows = [
            ArchivedEnvelope.of(
                wrap(b"m%d" % i, TOPIC if i % 2 else OTHER, now - 3600 + i, os.urandom, sym_key=key)
            )
            for i in range(30)
        ]
        server.store.put(rows)
        async with Node(node_config(listen=False)) as node:
            api = ShhApi(node)
            rpc_server = RpcServer(node, RpcConfig(), api=api)
            await rpc_server.start("127.0.0.1", 0)
            try:
                async with aiohttp.ClientSession() as session:
                    url = rpc_server.url
                    sym_id = (await rpc(session, url, "shh_generateSymKeyFromPassword", PASSWORD))[
                        "result"
                    ]
                    key_id = (await rpc(session, url, "shh_addSymKey", "0x" + key.secret.hex()))[
                        "result"
                    ]
                    criteria = {"symKeyID": key_id, "topics": ["0xabcd0001"]}
                    filter_id = (await rpc(session, url, "shh_newMessageFilter", criteria))[
                        "result"
                    ]
                    request = {
                        "mailServerPeer": server_node.enode,
                        "from": now - 7200,
                        "to": now,
                        "topics": ["0xabcd0001"],
                        "symKeyID": sym_id,
                        "limit": 10,
                    }
                    reply = await rpc(session, url, "shhext_requestMessagesSync", request)
                    result = reply["result"]
                    assert result["error"] is None
                    assert result["envelopes"] == 10 and len(result["cursor"]) == 72  # 36 bytes
                    follow = {**request, "cursor": result["cursor"], "followCursor": True}
                    retry = {"BaseTimeout": 5, "StepTimeout": 1, "MaxRetries": 1}
                    reply = await rpc(session, url, "shhext_requestMessagesSync", retry, follow)
                    assert reply["result"]["envelopes"] == 5 and reply["result"]["cursor"] == ""
                    got = (await rpc(session, url, "shh_getFilterMessages", filter_id))["result"]
                    assert sorted(m["payload"] for m in got) == sorted(
                        "0x" + (b"m%d" % i).hex() for i in range(1, 30, 2)
                    )
                    reply = await rpc(session, url, "shhext_requestMessages", request)
                    assert reply["result"].startswith("0x") and len(reply["result"]) == 66
                    bad = await rpc(session, url, "shhext_requestMessages", {"from": 1})
                    assert "mailServerPeer is required" in bad["error"]["message"]
                    bad = await rpc(
                        session, url, "shhext_requestMessagesSync", {**request, "limit": 5000}
                    )
                    assert "limit" in bad["error"]["message"]
                    bad = await rpc(
                        session, url, "shhext_requestMessagesSync", {**request, "cursor": "0x01"}
                    )
                    assert "cursor" in bad["error"]["message"]
            finally:
                await rpc_server.stop()


async def ws_call(ws: aiohttp.ClientWebSocketResponse, call_id: int, method: str, *params: Any) -> Any:  # fmt: skip
    await ws.send_json({"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)})
    while True:
        reply = await ws.receive_json(timeout=10)
        if reply.get("id") == call_id:
            return reply


async def test_completion_and_expiry_are_pushed_over_websocket(store_url: str) -> None:
    """Status's signals as `shhext_subscription` notifications, after the reply with the ID and
    after the envelopes reached the filters; counted in the client-side history metrics."""
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        rows = [
            ArchivedEnvelope.of(wrap(b"w%d" % i, TOPIC, now - 600 + i, os.urandom, sym_key=key))
            for i in range(12)
        ]
        server.store.put(rows)
        stats = NodeStats()
        async with Node(node_config(listen=False)) as node:
            rpc_server = RpcServer(node, RpcConfig(), api=ShhApi(node, stats=stats))
            await rpc_server.start("127.0.0.1", 0)
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.ws_connect(rpc_server.url.replace("http://", "ws://")) as ws,
                ):
                    sym_id = (await ws_call(ws, 1, "shh_generateSymKeyFromPassword", PASSWORD))[
                        "result"
                    ]
                    key_id = (await ws_call(ws, 2, "shh_addSymKey", "0x" + key.secret.hex()))[
                        "result"
                    ]
                    criteria = {"symKeyID": key_id, "topics": ["0xabcd0001"]}
                    filter_id = (await ws_call(ws, 3, "shh_newMessageFilter", criteria))["result"]
                    request = {
                        "mailServerPeer": server_node.enode,
                        "from": now - 3600,
                        "to": now,
                        "topics": ["0xabcd0001"],
                        "symKeyID": sym_id,
                        "limit": 5,
                    }
                    await ws.send_json(
                        {
                            "jsonrpc": "2.0",
                            "id": 4,
                            "method": "shhext_requestMessages",
                            "params": [request],
                        }
                    )
                    reply = await ws.receive_json(timeout=10)
                    assert reply["id"] == 4  # the ID comes first
                    request_id = reply["result"]
                    note = await ws.receive_json(timeout=10)
                    assert note["method"] == "shhext_subscription"
                    assert note["params"]["subscription"] == request_id
                    newest = rows[-5]
                    assert note["params"]["result"] == {
                        "type": "mailserver.request.completed",
                        "event": {
                            "requestID": request_id,
                            "lastEnvelopeHash": "0x" + newest.hash.hex(),
                            "cursor": Cursor(newest.sent, newest.hash).encode().hex(),
                            "errorMessage": "",
                        },
                    }
                    got = (await ws_call(ws, 5, "shh_getFilterMessages", filter_id))["result"]
                    assert len(got) == 5  # in the filter before the signal was sent
                    failing = {**request, "symKeyID": key_id}  # not the server's password
                    reply = await ws_call(ws, 6, "shhext_requestMessages", failing)
                    note = await ws.receive_json(timeout=10)
                    event = note["params"]["result"]["event"]
                    assert event["requestID"] == reply["result"]
                    assert event["errorMessage"] == "failed to decrypt the request"
            finally:
                await rpc_server.stop()
        assert stats.archive.history_requests == {"completed": 1, "failed": 1}


async def test_expiry_is_pushed_when_the_server_never_answers() -> None:
    """A peer that speaks shh but never answers 126 (no archive server: geth ignores it)."""
    async with Node(node_config()) as silent, Node(node_config(listen=False)) as node:
        rpc_server = RpcServer(node, RpcConfig(), api=ShhApi(node))
        await rpc_server.start("127.0.0.1", 0)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(rpc_server.url.replace("http://", "ws://")) as ws,
            ):
                request = {"mailServerPeer": silent.enode, "timeout": 0.3, "powTarget": 0}
                reply = await ws_call(ws, 1, "shhext_requestMessages", request)
                note = await ws.receive_json(timeout=10)
                assert note["params"]["result"] == {
                    "type": "mailserver.request.expired",
                    "event": {"hash": reply["result"]},
                }
        finally:
            await rpc_server.stop()


async def test_windows_overlap_by_ttl_and_20s_without_delivering_twice(store_url: str) -> None:
    """A late arrival sent inside the previous window still comes with the next one (its `from`
    moved 70 s earlier), and what the previous window delivered does not come again."""
    now = int(time.time())
    key = SymmetricKey(os.urandom(32))
    async with archive_node(store_url) as (server_node, server):
        early = [
            ArchivedEnvelope.of(wrap(b"e%d" % i, TOPIC, now - 1000 + i * 10, os.urandom, sym_key=key))
            for i in range(50)
        ]  # fmt: skip
        server.store.put(early)  # sent now-1000 … now-510
        async with Node(node_config(listen=False)) as node:
            methods = ShhextMethods(node)
            context = CallContext()
            base = {"mailServerPeer": server_node.enode, "topics": ["0xabcd0001"],
                    "powTarget": 0, "followCursor": True}  # fmt: skip
            first = await methods.request_messages_sync(context, {**base, "from": now - 2000, "to": now - 500})  # fmt: skip
            assert first["envelopes"] == 50
            late = ArchivedEnvelope.of(wrap(b"late", TOPIC, now - 530, os.urandom, sym_key=key))
            server.store.put([late])  # arrived at the server after the first window was fetched
            second = await methods.request_messages_sync(context, {**base, "from": now - 500, "to": now})  # fmt: skip
            assert second["envelopes"] == 1  # the late one; the 7 in the overlap not again
            no_overlap = await methods.request_messages_sync(
                context, {**base, "from": now - 500, "to": now, "overlap": 0}
            )
            assert no_overlap["envelopes"] == 0
