"""Issue 7, RPC part: batch and response limits, a fair event loop, caps on what clients make the
node hold, Go-like JSON numbers and depth, validated setters, the method allow-list."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest
from rpc_client import Client

from hush.cli.node import api_limits, rpc_settings, settings_from
from hush.errors import UsageError
from hush.node import Node
from hush.node.keystore import KeyStore
from hush.rpc import CallContext, Dispatcher, RpcConfig, RpcServer, ShhApi
from hush.rpc.api import ApiLimits
from hush.rpc.server import enabled_methods
from hush.shh.message import wrap
from hush.types import Topic


def call(method: str, call_id: object = 1, *params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)}


async def post_raw(client: Client, body: bytes) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    data = io.BytesIO(body)  # aiohttp warns about large raw bytes bodies
    async with client.session.post(client.url, data=data, headers=headers) as response:
        return response.status, await response.read()


# -- batches ---------------------------------------------------------------------------------


async def test_batch_over_the_limit_is_one_geth_error(client: Client, node: Node) -> None:
    """Before: a 40,000-item shh_newKeyPair batch ran (37 s, loop frozen) and made 40,000 keys."""
    batch = [{"jsonrpc": "2.0", "method": "shh_newKeyPair"}]  # a notification first
    batch += [call("shh_newKeyPair", 100 + i) for i in range(40_000)]
    status, answer = await post_raw(client, json.dumps(batch).encode())
    assert status == 200 and json.loads(answer) == [
        {"jsonrpc": "2.0", "id": 100, "error": {"code": -32600, "message": "batch too large"}}
    ]
    assert len(node.keys) == 0
    notes_only = [{"jsonrpc": "2.0", "method": "shh_version"}] * 1001
    assert (await client.raw(notes_only))[0]["id"] is None
    at_limit = await client.raw([call("shh_version", i) for i in range(1000)])
    assert len(at_limit) == 1000 and all(r["result"] == "6.0" for r in at_limit)


async def test_a_batch_yields_to_the_event_loop_between_items(node: Node) -> None:
    """Before: the whole batch ran without yielding; the probe saw all 1,000 keys made."""
    dispatcher = Dispatcher(ShhApi(node).methods())
    body = json.dumps([call("shh_newKeyPair", i) for i in range(1000)])
    seen: list[int] = []

    async def probe() -> None:
        seen.append(len(node.keys))

    replies, _ = await asyncio.gather(dispatcher.handle_body(body, CallContext()), probe())
    assert len(replies) == 1000
    assert 0 < seen[0] < 1000


def test_key_ids_do_not_rebuild_the_set_of_ids() -> None:
    """Before: every new id built `private_keys.keys() | sym_keys.keys()`: O(n) per key."""

    class NoIteration(dict):  # type: ignore[type-arg]
        def keys(self):  # type: ignore[no-untyped-def]
            raise AssertionError("iterated over every key id")

        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("iterated over every key id")

    store = KeyStore(os.urandom)
    store.private_keys = NoIteration()
    store.sym_keys = NoIteration()
    for _ in range(3):
        store.new_key_pair()
        store.new_sym_key()
    assert len(store) == 6


async def test_batch_answers_are_bounded_in_bytes(node: Node) -> None:
    async with RpcServer(node, RpcConfig(max_response=2000)) as server:
        await server.start("127.0.0.1", 0)
        import aiohttp

        async with aiohttp.ClientSession() as session:
            client = Client(session, server.url)
            batch = [call("web3_sha3", i, "0x00") for i in range(50)]
            batch.insert(30, {"jsonrpc": "2.0", "method": "web3_sha3", "params": ["0x"]})
            replies = await client.raw(batch)
    assert [r["id"] for r in replies] == list(range(50))
    answered = [r for r in replies if "result" in r]
    refused = [r for r in replies if "error" in r]
    assert answered and refused and len(answered) + len(refused) == 50
    assert replies[: len(answered)] == answered  # the first ones answered, the rest refused
    assert {json.dumps(r["error"]) for r in refused} == {
        json.dumps({"code": -32003, "message": "response too large"})
    }
    assert sum(len(json.dumps(r)) for r in answered) < 2000 + 200


async def test_a_batch_that_runs_too_long_times_out(node: Node) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock is a second later
        return now[0]

    dispatcher = Dispatcher(ShhApi(node).methods(), batch_timeout=2.5, clock=clock)
    body = [call("shh_version", i) for i in range(4)]
    body.insert(2, {"jsonrpc": "2.0", "method": "shh_version"})
    replies = await dispatcher.handle_body(json.dumps(body), CallContext())
    assert [r.get("result") for r in replies] == ["6.0", "6.0", None, None]
    assert replies[3] == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32002, "message": "request timed out"},
    }


# -- caps on keys, filters, subscriptions --------------------------------------------------


async def test_key_cap(node: Node) -> None:
    async with RpcServer(node, api=ShhApi(node, limits=ApiLimits(max_keys=3))) as server:
        await server.start("127.0.0.1", 0)
        import aiohttp

        async with aiohttp.ClientSession() as session:
            client = Client(session, server.url)
            first = await client.call("shh_newKeyPair")
            await client.call("shh_newSymKey")
            await client.call("shh_addSymKey", "0x" + "11" * 32)
            too_many = (-32000, "too many keys (limit 3)")
            assert await client.error("shh_newKeyPair") == too_many
            assert await client.error("shh_newSymKey") == too_many
            assert await client.error("shh_addSymKey", "0x" + "22" * 32) == too_many
            assert await client.error("shh_addPrivateKey", "0x" + "33" * 32) == too_many
            assert await client.error("shh_generateSymKeyFromPassword", "pw") == too_many
            assert await client.call("shh_deleteKeyPair", first) is True
            await client.call("shh_newKeyPair")
    assert len(node.keys) == 3


async def test_filter_cap(node: Node) -> None:
    api = ShhApi(node, limits=ApiLimits(max_filters=2))
    async with RpcServer(node, api=api) as server:
        await server.start("127.0.0.1", 0)
        import aiohttp

        async with aiohttp.ClientSession() as session:
            client = Client(session, server.url)
            key = await client.call("shh_newSymKey")
            first = await client.call("shh_newMessageFilter", {"symKeyID": key})
            await client.call("shh_newMessageFilter", {"symKeyID": key})
            assert await client.error("shh_newMessageFilter", {"symKeyID": key}) == (
                -32000,
                "too many filters (limit 2)",
            )
            assert await client.call("shh_deleteMessageFilter", first) is True
            await client.call("shh_newMessageFilter", {"symKeyID": key})
    assert len(node.filters) == 2


def test_limits_are_validated() -> None:
    with pytest.raises(UsageError, match="max_keys"):
        ApiLimits(max_keys=0)
    with pytest.raises(UsageError, match="filter_timeout"):
        ApiLimits(filter_timeout=float("nan"))
    with pytest.raises(UsageError, match="max_batch"):
        RpcConfig(max_batch=-1)
    with pytest.raises(UsageError, match="header_timeout"):
        RpcConfig(header_timeout=float("inf"))
    with pytest.raises(UsageError, match="http_api"):
        RpcConfig(http_api=())


# -- a polled filter's answer is bounded; nothing handed out is lost -------------------------


async def test_filter_messages_come_in_bounded_polls(node: Node) -> None:
    """Before: one poll returned everything (2.1 GB of JSON in the issue)."""
    async with RpcServer(node, RpcConfig(max_response=300_000)) as server:
        await server.start("127.0.0.1", 0)
        import aiohttp

        async with aiohttp.ClientSession() as session:
            client = Client(session, server.url)
            key_id = await client.call("shh_newSymKey")
            filter_id = await client.call("shh_newMessageFilter", {"symKeyID": key_id})
            key = node.keys.sym_key(key_id)
            topic = Topic(b"\x01\x02\x03\x04")
            hashes = []
            for _ in range(12):
                envelope = wrap(os.urandom(60_000), topic, 1_700_000_000, os.urandom, sym_key=key)
                node.filters.notify(envelope, 1.0, envelope.hash)
                hashes.append("0x" + envelope.hash.hex())
            polls = []
            while batch := await client.call("shh_getFilterMessages", filter_id):
                polls.append(batch)
    assert len(polls) > 1
    assert all(len(json.dumps(poll)) < 300_000 for poll in polls)
    assert [m["hash"] for poll in polls for m in poll] == hashes


# -- JSON numbers, depth, setters --------------------------------------------------------------


async def test_ids_and_numbers_beyond_float64(client: Client) -> None:
    """Before: HTTP 500 for `"id": 1e400` (the encoder met inf) and for NaN."""
    status, body = await post_raw(client, b'{"jsonrpc":"2.0","id":1e400,"method":"shh_version"}')
    assert status == 200 and body == b'{"jsonrpc":"2.0","id":1e400,"result":"6.0"}'
    digits = "9" * 5000
    status, body = await post_raw(
        client, b'{"jsonrpc":"2.0","id":%s,"method":"shh_version"}' % digits.encode()
    )
    assert status == 200 and body == b'{"jsonrpc":"2.0","id":%s,"result":"6.0"}' % digits.encode()
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"jsonrpc":"2.0","id":%s,"method":"shh_version"}' % literal
        status, answer = await post_raw(client, body)
        assert status == 200 and json.loads(answer)["error"]["code"] == -32700
    status, answer = await post_raw(
        client, b'{"jsonrpc":"2.0","id":1,"method":"shh_setMinPoW","params":[1e400]}'
    )
    assert json.loads(answer)["error"] == {
        "code": -32602,
        "message": "invalid argument 0: json: cannot unmarshal number 1e400 into Go value of "
        "type float64",
    }


async def test_deep_json_is_a_parse_error(client: Client) -> None:
    """Before: RecursionError, HTTP 500."""
    for body in (b"[" * 100_000, b'{"a":' * 100_000):
        status, answer = await post_raw(client, body)
        assert status == 200
        assert json.loads(answer)["error"]["code"] == -32700


async def test_setters_are_validated(client: Client, node: Node) -> None:
    """Before: shh_setMaxMessageSize(null) set the limit to 0 (the node accepted nothing)."""
    size = node.max_message_size
    code, message = await client.error("shh_setMaxMessageSize", None)
    assert code == -32602 and "null" in message
    assert (await client.error("shh_setMaxMessageSize", 0))[0] == -32602
    assert (await client.error("shh_setMaxMessageSize", -5))[0] == -32602
    assert await client.error("shh_setMaxMessageSize", 10485761) == (
        -32000,
        "message size too large [10485761>10485760]",
    )
    assert node.max_message_size == size
    assert await client.call("shh_setMaxMessageSize", 2048) is True
    assert node.max_message_size == 2048
    code, message = await client.error("shh_setMinPoW", -1)
    assert code == -32000 and message.startswith("invalid PoW: -1")
    assert (await client.error("shh_setMinPoW", "0.5"))[0] == -32602
    assert node.min_pow == 0.2


async def test_error_messages_do_not_echo_huge_input(client: Client) -> None:
    for body in (call("x" * 1_000_000), call("shh_deleteKeyPair", 1, "k" * 1_000_000)):
        status, answer = await post_raw(client, json.dumps(body).encode())
        error = json.loads(answer)["error"]
        assert status == 200 and error["code"] in (-32601, -32000)
        assert len(error["message"]) <= 256


# -- the method allow-list ----------------------------------------------------------------------

ALL = [
    "shh_version",
    "shh_getPrivateKey",
    "shh_getSymKey",
    "net_version",
    "web3_sha3",
    "admin_peers",
    "rpc_modules",
]


def test_default_api_beyond_loopback_hides_admin_and_key_export() -> None:
    assert enabled_methods(ALL, None, public=False) == set(ALL)
    assert enabled_methods(ALL, None, public=True) == {
        "shh_version",
        "net_version",
        "web3_sha3",
        "rpc_modules",
    }
    explicit = enabled_methods(ALL, ("shh", "shh_getSymKey", "admin"), public=True)
    assert explicit == {"shh_version", "shh_getSymKey", "admin_peers", "rpc_modules"}
    assert "shh_getPrivateKey" in enabled_methods(ALL, ("shh",), public=False)
    with pytest.raises(UsageError, match="unknown RPC namespace or method: eth"):
        enabled_methods(ALL, ("shh", "eth"), public=False)


async def test_disallowed_method_is_not_available(node: Node) -> None:
    async with RpcServer(node, RpcConfig(http_api=("shh",))) as server:
        await server.start("127.0.0.1", 0)
        import aiohttp

        async with aiohttp.ClientSession() as session:
            client = Client(session, server.url)
            assert await client.error("admin_peers") == (
                -32601,
                "the method admin_peers does not exist/is not available",
            )
            assert (await client.error("net_version"))[0] == -32601
            assert await client.call("rpc_modules") == {"rpc": "1.0", "shh": "1.0"}
            assert await client.call("shh_version") == "6.0"


def test_rpc_settings_from_flags_and_toml(tmp_path: Path) -> None:
    config = tmp_path / "hush.toml"
    config.write_text(
        'http-vhosts = ["node.example"]\nhttp-api = ["shh"]\nrpc-batch-limit = 10\n'
        "rpc-max-keys = 5\n"
    )
    settings = settings_from({"ws_api": ("shh,net",), "rpc_max_filters": 7}, config)
    rpc = rpc_settings(settings)
    assert rpc.vhosts == ("node.example",) and rpc.max_batch == 10
    assert rpc.http_api == ("shh",) and rpc.ws_api == ("shh", "net")
    assert api_limits(settings) == ApiLimits(max_keys=5, max_filters=7, max_subscriptions=7)
    defaults = rpc_settings(settings_from({}, None))
    assert defaults.vhosts == ("localhost",) and defaults.http_api is None
    with pytest.raises(UsageError, match="max_batch"):
        settings_from({"rpc_batch_limit": 0}, None)
    with pytest.raises(UsageError, match="max_keys"):
        settings_from({"rpc_max_keys": -1}, None)


async def test_a_subscription_queue_is_bounded_in_bytes(node: Node) -> None:
    """A subscriber that doesn't take its messages holds at most 32 MiB, not 1,024 x 1 MiB."""
    from hush.shh.filters import DEFAULT_FILTER_BYTES, Filter, message_cost

    key = node.keys.sym_key(node.keys.new_sym_key())
    subscription = node.subscribe(Filter(sym_key=key))
    topic = Topic(b"\x01\x02\x03\x04")
    payload = os.urandom(1024 * 1024)
    last = None
    for _ in range(40):
        envelope = wrap(payload, topic, 1_700_000_000, os.urandom, sym_key=key)
        node._deliver(envelope, 1.0, envelope.hash)
        last = envelope.hash
    queued = []
    while subscription._queue.qsize():
        message = await subscription.get()
        assert message is not None
        queued.append(message)
    assert sum(map(message_cost, queued)) <= DEFAULT_FILTER_BYTES
    assert subscription.dropped == 40 - len(queued) > 0
    assert queued[-1].envelope_hash == last
    subscription.close()


async def test_subscription_cap(node: Node) -> None:
    import aiohttp

    api = ShhApi(node, limits=ApiLimits(max_subscriptions=1))
    async with RpcServer(node, api=api) as server, aiohttp.ClientSession() as session:
        await server.start("127.0.0.1", 0)
        async with session.ws_connect(server.url.replace("http://", "ws://")) as ws:

            async def ws_call(call_id: int, method: str, *params: object) -> dict[str, object]:
                await ws.send_json(call(method, call_id, *params))
                reply: dict[str, object] = await ws.receive_json(timeout=10)
                return reply

            key = (await ws_call(1, "shh_newSymKey"))["result"]
            criteria = {"symKeyID": key, "topics": ["0x01020304"]}
            first = (await ws_call(2, "shh_subscribe", "messages", criteria))["result"]
            refused = await ws_call(3, "shh_subscribe", "messages", criteria)
            assert refused["error"] == {
                "code": -32000,
                "message": "too many subscriptions (limit 1)",
            }
            assert (await ws_call(4, "shh_unsubscribe", first))["result"] is True
            assert "result" in await ws_call(5, "shh_subscribe", "messages", criteria)
