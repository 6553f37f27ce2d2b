"""hush_stats over JSON-RPC: the node's numbers for `hush top`; shh_info stays geth's."""

from __future__ import annotations

from typing import Any

import aiohttp
from node.conftest import connect, wait_for

from hush.enode import short_id
from hush.node import PostRequest
from hush.rpc import RpcConfig, RpcServer, ShhApi

from .conftest import KEY, TOPIC, StatsNodeFactory


async def call(url: str, method: str, *params: object) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as reply:
        answer = await reply.json()
    assert "error" not in answer, answer
    return answer["result"]


async def test_hush_stats_reports_peers_pool_and_counters(stats_node: StatsNodeFactory) -> None:
    a, sa = await stats_node()
    b, _ = await stats_node()
    await connect(a, b)
    key = a.keys.add_sym_key(KEY.secret)
    await a.post(PostRequest(b"rpc", TOPIC, sym_key_id=key, pow_target=0.05))
    # The stem hop is a bundle without a broadcast turn; the turn comes once the stem releases
    # the post (its echo or embargo), so wait for both.
    await wait_for(lambda: sa.bundles.count >= 1 and sa.broadcast_turns.count >= 1, timeout=20)
    server = RpcServer(a, RpcConfig(), api=ShhApi(a, stats=sa))
    await server.start("127.0.0.1", 0)
    try:
        stats = await call(server.url, "hush_stats")
        info = await call(server.url, "shh_info")
    finally:
        await server.stop()
    assert set(info) == {"memory", "messages", "minPow", "maxMessageSize"}  # geth's four
    assert stats["counters"] is True
    (peer,) = stats["peers"]
    assert peer["id"] == short_id(b.node_key.node_id) and peer["inbound"] is False
    assert peer["kind"] == "static" and peer["bloomFill"] == 1.0
    assert peer["powRequirement"] == b.min_pow
    assert peer["packetsOut"] >= 2 and peer["bytesOut"] > 0 and peer["packetsIn"] >= 1
    assert stats["pool"]["envelopes"] == 1 and stats["pool"]["bytes"] > 0
    assert stats["envelopes"]["received"] == {"local": 1}
    assert stats["envelopes"]["accepted"] == 1
    assert stats["sealing"]["count"] == 1
    assert stats["powHashes"] >= 1 and stats["broadcastTurns"]["count"] >= 1
    assert stats["deliveryOverflow"] == {"normal": 0, "filter": 0}
    assert stats["inbound"]["connections"] >= 1 and stats["inbound"]["refused"] == {}
    assert stats["packets"]["out"]["count"] >= 2
    assert {"event": "connect", "reason": "outbound", "count": 1} in stats["peerEvents"]
    assert stats["rateLimit"]["mode"] == "observe"
    assert stats["failingPeers"] == [] and stats["archive"] is None


async def test_hush_stats_without_a_stats_object(stats_node: StatsNodeFactory) -> None:
    node, _ = await stats_node()
    server = RpcServer(node, RpcConfig())  # ShhApi(node): no NodeStats given
    await server.start("127.0.0.1", 0)
    try:
        stats = await call(server.url, "hush_stats")
    finally:
        await server.stop()
    assert stats["counters"] is False and stats["envelopes"] is None
    assert stats["pool"]["envelopes"] == 0 and stats["peers"] == []
