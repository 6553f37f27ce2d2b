"""shhext_requestMessages / shhext_requestMessagesSync over real HTTP JSON-RPC, against a real
hush archive node on loopback: Status's parameter names and result shapes."""

from __future__ import annotations

import os
import time
from typing import Any

import aiohttp

from hush.archive.store import ArchivedEnvelope
from hush.crypto.symmetric import SymmetricKey
from hush.node import Node
from hush.rpc import RpcConfig, RpcServer, ShhApi
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
