"""JSON-RPC over IPC (hush.rpc.ipc, hush.rpc.ipcpath) on real Unix sockets in a tmp directory:
geth's framing (a stream of JSON values, split or pretty-printed), batches, subscriptions, the
socket file's mode and life (stale removed, live and foreign never clobbered), and the limits
shared with the WebSocket path. Waits are on explicit signals (a reply, EOF), each bounded by a
safety timeout; nothing asserts how long anything took."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hush.errors import UsageError
from hush.node import Node
from hush.rpc import RpcConfig, RpcServer
from hush.rpc.ipcpath import MAX_PATH, IpcPathTooLong

SAFETY = 20.0


@pytest.fixture
def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "hush.ipc"


@pytest.fixture
async def ipc(node: Node, socket_path: Path) -> AsyncIterator[RpcServer]:
    server = RpcServer(node, RpcConfig())
    await server.start_ipc(socket_path)
    try:
        yield server
    finally:
        await server.stop()


class Stream:
    """A raw client: writes bytes, reads newline-ended values back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, path: Path) -> Stream:
        return cls(*await asyncio.open_unix_connection(str(path)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> Any:
        line = await asyncio.wait_for(self.reader.readline(), SAFETY)
        assert line.endswith(b"\n"), line  # geth's encoder ends each value with a newline
        return json.loads(line)

    async def call(self, call_id: int, method: str, *params: Any) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)}
        await self.send(json.dumps(body).encode())
        while True:
            reply: dict[str, Any] = await self.receive()
            if reply.get("id") == call_id:
                return reply

    async def eof(self) -> bytes:
        """What is left before the server closes the connection."""
        data = b""
        while chunk := await asyncio.wait_for(self.reader.read(65536), SAFETY):
            data += chunk
        return data

    def close(self) -> None:
        self.writer.close()


async def test_a_request_and_the_socket_file(ipc: RpcServer, socket_path: Path) -> None:
    assert ipc.ipc_path == socket_path
    info = os.stat(socket_path)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    client = await Stream.open(socket_path)
    assert await client.call(1, "shh_version") == {"jsonrpc": "2.0", "id": 1, "result": "6.0"}
    modules = (await client.call(2, "rpc_modules"))["result"]
    assert {"shh", "admin", "net", "web3"} <= set(modules)  # every namespace, as geth's IPC
    client.close()
    await ipc.stop()
    assert not socket_path.exists()


async def test_batches_and_values_split_pretty_printed_or_run_together(
    ipc: RpcServer, socket_path: Path
) -> None:
    client = await Stream.open(socket_path)
    pretty = json.dumps({"jsonrpc": "2.0", "id": "p", "method": "shh_version"}, indent=2)
    for byte in pretty.encode():  # one byte per write: the server must wait for the rest
        await client.send(bytes([byte]))
    assert (await client.receive())["id"] == "p"
    batch = [{"jsonrpc": "2.0", "id": i, "method": "web3_sha3", "params": ["0x00"]} for i in (1, 2)]
    together = (
        json.dumps(batch).encode()
        + b'{"jsonrpc":"2.0","id":3,"method":"shh_version"}'
        + b'{"jsonrpc":"2.0","method":"shh_version"}'  # a notification: no answer
        + b'\n{"jsonrpc":"2.0","id":4,"method":"nope"}\n'
    )
    await client.send(together)
    answers = [await client.receive() for _ in range(3)]
    by_kind = {("batch" if isinstance(a, list) else a["id"]): a for a in answers}
    assert [item["id"] for item in by_kind["batch"]] == [1, 2]
    assert by_kind[3]["result"] == "6.0"
    assert by_kind[4]["error"] == {
        "code": -32601,
        "message": "the method nope does not exist/is not available",
    }
    client.close()


async def test_bytes_that_are_not_json_get_a_parse_error_and_the_connection_ends(
    ipc: RpcServer, socket_path: Path
) -> None:
    for garbage in (b"}", b'{"id":1,]'):
        client = await Stream.open(socket_path)
        await client.send(garbage)
        reply = json.loads(await client.eof())
        assert reply["error"]["code"] == -32700 and reply["id"] is None
        client.close()


async def test_subscription_notifications(ipc: RpcServer, socket_path: Path, node: Node) -> None:
    client = await Stream.open(socket_path)
    sym_id = (await client.call(1, "shh_generateSymKeyFromPassword", "ipc room"))["result"]
    criteria = {"symKeyID": sym_id, "topics": ["0x11223344"]}
    sub_id = (await client.call(2, "shh_subscribe", "messages", criteria))["result"]
    post = {"symKeyID": sym_id, "topic": "0x11223344", "payload": "0x6970632121", "ttl": 60}
    post |= {"powTarget": 0.2, "powTime": 2}
    await client.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "shh_post", "params": [post]}).encode())  # fmt: skip
    seen: dict[str, Any] = {}
    while "note" not in seen or "post" not in seen:
        message = await client.receive()
        seen["post" if message.get("id") == 3 else "note"] = message
    note = seen["note"]
    assert note["method"] == "shh_subscription" and note["params"]["subscription"] == sub_id
    assert note["params"]["result"]["payload"] == "0x6970632121"
    assert note["params"]["result"]["hash"] == seen["post"]["result"]
    assert (await client.call(4, "shh_unsubscribe", sub_id))["result"] is True
    assert "result" in await client.call(5, "shh_subscribe", "messages", criteria)
    assert len(node.filters) == 1
    client.close()  # the connection's subscriptions end with it
    async with asyncio.timeout(SAFETY):
        while len(node.filters):
            await asyncio.sleep(0.01)


def _dead_socket(path: Path) -> None:
    """A socket file with no one listening: what a node killed with SIGKILL leaves."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


async def test_a_stale_socket_is_replaced_a_live_one_never(node: Node, socket_path: Path) -> None:
    _dead_socket(socket_path)
    async with RpcServer(node) as first:
        await first.start_ipc(socket_path)
        second = RpcServer(node)
        with pytest.raises(UsageError, match="in use by a running node"):
            await second.start_ipc(socket_path)
        client = await Stream.open(socket_path)  # the first still serves
        assert (await client.call(1, "shh_version"))["result"] == "6.0"
        client.close()


async def test_a_newer_socket_at_the_path_is_not_removed(node: Node, socket_path: Path) -> None:
    old = RpcServer(node)
    await old.start_ipc(socket_path)
    socket_path.unlink()  # someone else's socket takes the path
    _dead_socket(socket_path)
    await old.stop()
    assert stat.S_ISSOCK(os.lstat(socket_path).st_mode)


async def test_paths_that_are_refused(node: Node, tmp_path: Path) -> None:
    server = RpcServer(node)
    regular = tmp_path / "file.ipc"
    regular.write_text("mine")
    with pytest.raises(UsageError, match="exists and is not a socket"):
        await server.start_ipc(regular)
    assert regular.read_text() == "mine"
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UsageError, match="writable by other users"):
        await server.start_ipc(shared / "hush.ipc")
    too_long = tmp_path / ("d" * (MAX_PATH - len(str(tmp_path)))) / "hush.ipc"
    with pytest.raises(IpcPathTooLong, match=f"more than the {MAX_PATH}"):
        await server.start_ipc(too_long)
    made = tmp_path / "new" / "dir" / "hush.ipc"
    await server.start_ipc(made)  # a missing directory is made, private
    assert stat.S_IMODE(os.stat(made.parent).st_mode) == 0o700
    await server.stop()


@pytest.fixture
async def hardened(node: Node, socket_path: Path) -> AsyncIterator[RpcServer]:
    config = RpcConfig(
        body_timeout=0.3, max_connections=2, ws_max_inflight=4, send_timeout=0.5, max_body=1000
    )
    server = RpcServer(node, config)
    await server.start_ipc(socket_path)
    try:
        yield server
    finally:
        await server.stop()


async def test_connection_cap(hardened: RpcServer, socket_path: Path) -> None:
    kept = [await Stream.open(socket_path) for _ in range(2)]
    for client in kept:  # both are being served before the third comes
        assert (await client.call(1, "shh_version"))["result"] == "6.0"
    third = await Stream.open(socket_path)
    refusal = json.loads(await third.eof())
    assert refusal["error"]["message"] == "too many connections"
    kept.pop().close()
    async with asyncio.timeout(SAFETY):
        while hardened.ipc is not None and hardened.ipc.connections > 1:
            await asyncio.sleep(0.01)
    again = await Stream.open(socket_path)
    assert (await again.call(2, "shh_version"))["result"] == "6.0"
    for client in (*kept, third, again):
        client.close()


async def test_oversized_and_unfinished_requests_end_the_connection(
    hardened: RpcServer, socket_path: Path
) -> None:
    client = await Stream.open(socket_path)
    await client.send(b'{"jsonrpc":"2.0","id":1,"method":"' + b"m" * 2000)  # never finished
    reply = json.loads(await client.eof())
    assert reply["error"]["message"] == "message too large (more than 1000 bytes)"
    client.close()
    slow = await Stream.open(socket_path)
    await slow.send(b'{"jsonrpc":"2.0",')  # and then nothing: closed after body_timeout
    assert await slow.eof() == b""
    slow.close()


async def test_a_client_that_never_reads_is_held_back_and_closed(
    hardened: RpcServer, socket_path: Path
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, str(socket_path))
    _, writer = await asyncio.open_unix_connection(sock=sock)
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": "web3_sha3", "params": ["0x00"]} for i in range(8)
    ]
    request = json.dumps(calls).encode()  # under max_body; ~800 bytes of answer each

    async def flood() -> None:
        for _ in range(20_000):  # bounded: ~13 MB of requests
            writer.write(request)
            await writer.drain()

    sender = asyncio.ensure_future(flood())
    try:
        async with asyncio.timeout(SAFETY):
            while hardened.ipc is not None and not hardened.ipc.inflight_peak:
                await asyncio.sleep(0.01)
            while hardened.ipc is not None and hardened.ipc.connections:  # it gives up on us
                await asyncio.sleep(0.02)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    assert hardened.ipc is not None and 1 <= hardened.ipc.inflight_peak <= 4
    assert sender.cancelled() or sender.exception() is not None  # we were held back
