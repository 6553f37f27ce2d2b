"""WebSocket subscriptions end to end, CORS and origin refusal, the body limit, filter expiry."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from rpc_client import Client

from hush.node import Node, NodeConfig
from hush.rpc import RpcConfig, RpcServer, ShhApi

MISC = json.loads(
    (
        __import__("pathlib").Path(__file__).parent.parent / "vectors" / "rpc_ws_p2p_misc_run.json"
    ).read_text()
)


def ws_url(server: RpcServer) -> str:
    return server.url.replace("http://", "ws://")


async def ws_call(
    ws: aiohttp.ClientWebSocketResponse, call_id: int, method: str, *params: Any
) -> dict[str, Any]:
    await ws.send_json({"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)})
    while True:
        reply: dict[str, Any] = await ws.receive_json(timeout=5)
        if reply.get("id") == call_id:
            return reply


async def test_ws_subscription_end_to_end(
    server: RpcServer, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(ws_url(server)) as ws:
        sym_id = (await ws_call(ws, 1, "shh_generateSymKeyFromPassword", "ws room"))["result"]
        criteria = {"symKeyID": sym_id, "topics": ["0x11223344"]}
        reply = await ws_call(ws, 2, "shh_subscribe", "messages", criteria)
        sub_id = reply["result"]
        recorded = MISC["ws_subscribe_reply"]
        assert set(reply) == set(recorded)
        assert sub_id.startswith("0x") and len(sub_id) == len(recorded["result"])
        post = {
            "symKeyID": sym_id,
            "topic": "0x11223344",
            "payload": "0x766961207773",
            "ttl": 60,
            "powTarget": 0.2,
            "powTime": 2,
        }
        await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "shh_post", "params": [post]})
        seen: dict[str, Any] = {}
        while "note" not in seen or "post" not in seen:
            message = await ws.receive_json(timeout=5)
            seen["post" if message.get("id") == 3 else "note"] = message
        note = seen["note"]
        expected = MISC["ws_notification"]
        assert set(note) == set(expected) and note["method"] == "shh_subscription"
        assert note["params"]["subscription"] == sub_id
        result = note["params"]["result"]
        assert list(result) == list(expected["params"]["result"])
        assert result["payload"] == "0x766961207773"
        assert result["hash"] == seen["post"]["result"]
        assert (await ws_call(ws, 4, "shh_unsubscribe", sub_id))["result"] is True
        assert (await ws_call(ws, 5, "shh_unsubscribe", sub_id))["error"]["message"] == (
            "subscription not found"
        )


async def test_ws_subscribe_errors(server: RpcServer, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_url(server)) as ws:
        sym_id = (await ws_call(ws, 1, "shh_newSymKey"))["result"]
        no_topics = await ws_call(ws, 2, "shh_subscribe", "messages", {"symKeyID": sym_id})
        assert no_topics["error"] == {"code": -32000, "message": "missing topic(s)"}
        bad_key = await ws_call(ws, 3, "shh_subscribe", "messages", {"privateKeyID": "00"})
        assert bad_key["error"]["message"] == "invalid public key"
        kind = await ws_call(ws, 4, "shh_subscribe", "blocks", {"symKeyID": sym_id})
        assert kind["error"]["message"] == 'no "blocks" subscription in shh namespace'


async def test_ws_subscriptions_end_with_the_connection(
    server: RpcServer, session: aiohttp.ClientSession, node: Node
) -> None:
    async with session.ws_connect(ws_url(server)) as ws:
        sym_id = (await ws_call(ws, 1, "shh_newSymKey"))["result"]
        criteria = {"symKeyID": sym_id, "topics": ["0x01020304"]}
        assert "result" in await ws_call(ws, 2, "shh_subscribe", "messages", criteria)
        assert len(node.filters) == 1
    for _ in range(100):
        if not len(node.filters):
            break
        await asyncio.sleep(0.01)
    assert len(node.filters) == 0


async def test_cors_allow_list(server: RpcServer, session: aiohttp.ClientSession) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "shh_version"}
    allowed = {"Origin": "http://allowed.example"}
    async with session.post(server.url, json=body, headers=allowed) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "http://allowed.example"
    async with session.options(server.url, headers=allowed) as response:
        assert response.status == 200
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
    evil = {"Origin": "http://evil.example"}
    async with session.post(server.url, json=body, headers=evil) as response:
        assert response.status == 403
    async with session.options(server.url, headers=evil) as response:
        assert response.status == 403


async def test_ws_origin_allow_list(server: RpcServer, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_url(server), origin="http://allowed.example") as ws:
        assert (await ws_call(ws, 1, "shh_version"))["result"] == "6.0"
    try:
        async with session.ws_connect(ws_url(server), origin="http://evil.example"):
            raise AssertionError("refused origin connected")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 403


async def test_body_limit_and_content_type(node: Node, session: aiohttp.ClientSession) -> None:
    async with RpcServer(node, RpcConfig(max_body=1000)) as server:
        await server.start("127.0.0.1", 0)
        big = {"jsonrpc": "2.0", "id": 1, "method": "shh_addSymKey", "params": ["0x" + "a" * 2000]}
        async with session.post(server.url, json=big) as response:
            assert response.status == 413
            assert "content length too large" in await response.text()
        async with session.post(
            server.url, data=b"{}", headers={"Content-Type": "text/plain"}
        ) as response:
            assert response.status == 415

        async def chunks() -> Any:
            yield b'{"jsonrpc":"2.0","id":1,"method":"shh_version","params":["'
            yield b"a" * 2000
            yield b'"]}'

        async with session.post(
            server.url, data=chunks(), headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 413


async def test_polled_filter_expires_without_polls(node: Node) -> None:
    now = [1000.0]
    api = ShhApi(node, clock=lambda: now[0], filter_timeout=300)
    server = RpcServer(node, RpcConfig(), api=api)
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, server.url)
            sym_id = await client.call("shh_newSymKey")
            kept = await client.call("shh_newMessageFilter", {"symKeyID": sym_id})
            idle = await client.call("shh_newMessageFilter", {"symKeyID": sym_id})
            now[0] += 200
            assert await client.call("shh_getFilterMessages", kept) == []
            now[0] += 200
            assert api.expire_filters() == [idle]
            assert await client.call("shh_getFilterMessages", kept) == []
            assert await client.error("shh_getFilterMessages", idle) == (-32000, "filter not found")
    finally:
        await server.stop()


async def test_http_only_and_ws_only(session: aiohttp.ClientSession) -> None:
    async with Node(NodeConfig(listen=False, datadir=None, pow_processes=1)) as node:
        http_only = RpcServer(node, RpcConfig(ws=False))
        ws_only = RpcServer(node, RpcConfig(http=False))
        await http_only.start("127.0.0.1", 0)
        await ws_only.start("127.0.0.1", 0)
        try:
            assert await Client(session, http_only.url).call("shh_version") == "6.0"
            async with session.post(ws_only.url, json={}) as response:
                assert response.status == 404
            async with session.ws_connect(ws_url(ws_only)) as ws:
                assert (await ws_call(ws, 1, "shh_version"))["result"] == "6.0"
            try:
                async with session.ws_connect(ws_url(http_only)):
                    raise AssertionError("websocket on an http-only server")
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 404
        finally:
            await http_only.stop()
            await ws_only.stop()
        started = time.monotonic()
    assert time.monotonic() - started < 5
