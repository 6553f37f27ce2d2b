"""Issue 7, hostile RPC clients on loopback with raw sockets: slowloris headers, slow bodies, too
many connections, a foreign Host header, a WebSocket client that never reads, malformed frames,
clients that hang up mid-request. Waits are on explicit signals (EOF, a closed connection), each
bounded by a generous safety timeout; nothing asserts how long anything took."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hush.node import Node
from hush.rpc import RpcConfig, RpcServer

SAFETY = 20.0  # only a test that would otherwise hang ever waits this long


@pytest.fixture
async def hardened(node: Node) -> AsyncIterator[RpcServer]:
    config = RpcConfig(
        header_timeout=0.3,
        body_timeout=0.3,
        max_connections=3,
        ws_max_inflight=4,
        send_timeout=0.5,
    )
    server = RpcServer(node, config)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


async def raw_connect(server: RpcServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while chunk := await asyncio.wait_for(reader.read(65536), SAFETY):
        data += chunk
    return data


def request(body: bytes, host: str = "127.0.0.1") -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body)
    )


VERSION = b'{"jsonrpc":"2.0","id":1,"method":"shh_version"}'


async def test_slowloris_headers_are_cut_off(hardened: RpcServer) -> None:
    """Before: aiohttp waited for the headers for an hour (its keep-alive default)."""
    reader, writer = await raw_connect(hardened)
    writer.write(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    await writer.drain()
    assert await read_to_eof(reader) == b""  # closed by the server, nothing answered
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed(node: Node) -> None:
    """Before: an idle keep-alive connection stayed for an hour (aiohttp's default)."""
    async with RpcServer(node, RpcConfig(idle_timeout=0.3)) as server:
        await server.start("127.0.0.1", 0)
        reader, writer = await raw_connect(server)
        writer.write(request(VERSION))
        await writer.drain()
        answer = await read_to_eof(reader)  # answered, then closed once idle
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'"6.0"}')
        writer.close()


async def test_a_slow_body_gets_408(hardened: RpcServer) -> None:
    reader, writer = await raw_connect(hardened)
    writer.write(request(VERSION)[:-10])  # headers complete, the body 10 bytes short
    await writer.drain()
    answer = await read_to_eof(reader)
    assert answer.startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_connection_cap(hardened: RpcServer) -> None:
    """Before: no cap (1,100 idle connections exhausted the descriptors in the issue)."""
    held = []
    for _ in range(3):
        reader, writer = await raw_connect(hardened)
        writer.write(request(VERSION))  # answered, kept alive: the server counts it
        await writer.drain()
        assert (await asyncio.wait_for(reader.readuntil(b'"6.0"}'), SAFETY)).startswith(
            b"HTTP/1.1 200"
        )
        held.append((reader, writer))
    assert hardened.connections == 3
    reader, writer = await raw_connect(hardened)
    answer = await read_to_eof(reader)
    assert answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(b"too many connections\n")
    writer.close()
    held[0][1].close()
    await held[0][1].wait_closed()
    async with asyncio.timeout(SAFETY):
        while hardened.connections > 2:  # the server has seen the close
            await asyncio.sleep(0.01)
    reader, writer = await raw_connect(hardened)
    writer.write(request(VERSION))
    assert (await asyncio.wait_for(reader.readuntil(b'"6.0"}'), SAFETY)).startswith(b"HTTP/1.1 200")
    for _, other in [*held[1:], (reader, writer)]:
        other.close()


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("127.0.0.1", True),
        ("localhost:8545", True),
        ("LOCALHOST", True),
        ("[::1]:8545", True),
        ("evil.example", False),
        ("evil.example:8545", False),
        ("localhost.evil.example", False),
    ],
)
async def test_host_allow_list(server: RpcServer, host: str, served: bool) -> None:
    """Before: any Host was served (a DNS-rebinding page could call the node)."""
    reader, writer = await raw_connect(server)
    writer.write(
        request(VERSION, host)[: -len(VERSION)].replace(
            b"Content-Length", b"Connection: close\r\nContent-Length"
        )
        + VERSION
    )
    await writer.drain()
    answer = await read_to_eof(reader)
    writer.close()
    if served:
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'"6.0"}')
    else:
        assert answer.startswith(b"HTTP/1.1 403") and answer.endswith(b"invalid host specified\n")


async def test_host_allow_list_star_and_websocket(node: Node) -> None:
    async with aiohttp.ClientSession() as session:
        async with RpcServer(node, RpcConfig(vhosts=("*",))) as open_server:
            await open_server.start("127.0.0.1", 0)
            headers = {"Host": "anything.example"}
            async with session.post(open_server.url, json={}, headers=headers) as response:
                assert response.status == 200
        async with RpcServer(node, RpcConfig()) as default:
            await default.start("127.0.0.1", 0)
            url = default.url.replace("http://", "ws://")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, headers={"Host": "evil.example"})
            assert refused.value.status == 403


def ws_frame(text: str) -> bytes:
    """A masked text frame; the zero mask key keeps the payload as it is."""
    data = text.encode()
    if len(data) < 126:
        length = bytes([0x80 | len(data)])
    elif len(data) < 65536:
        length = bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + len(data).to_bytes(8, "big")
    return b"\x81" + length + b"\x00\x00\x00\x00" + data


async def test_ws_client_that_never_reads(hardened: RpcServer) -> None:
    """Before: a task per frame without limit and replies buffered without bound (552 MB from
    60 frames in the issue); the connection was never closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", hardened.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SAFETY)).startswith(
        b"HTTP/1.1 101"
    )
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": "web3_sha3", "params": ["0x00"]} for i in range(200)
    ]
    frame = ws_frame(json.dumps(calls))  # ~20 KB of answer per frame

    async def flood() -> None:
        for _ in range(2000):  # bounded: ~24 MB of requests
            writer.write(frame)
            await writer.drain()

    sender = asyncio.ensure_future(flood())
    try:
        async with asyncio.timeout(SAFETY):
            while hardened.connections:  # the server gives up on us
                await asyncio.sleep(0.02)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    assert 1 <= hardened.ws_inflight_peak <= 4
    assert sender.cancelled() or sender.exception() is not None  # we were held back


async def test_ws_always_replies_to_malformed_frames(server: RpcServer) -> None:
    """Before: no WebSocket reply at all for `"id": 1e400` or NaN, nor for deep JSON."""
    url = server.url.replace("http://", "ws://")
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str('{"jsonrpc":"2.0","id":1e400,"method":"shh_version"}')
        assert await ws.receive_str(timeout=SAFETY) == '{"jsonrpc":"2.0","id":1e400,"result":"6.0"}'
        for frame in ('{"jsonrpc":"2.0","id":NaN,"method":"shh_version"}', "[" * 100_000):
            await ws.send_str(frame)
            reply = json.loads(await ws.receive_str(timeout=SAFETY))
            assert reply["error"]["code"] == -32700
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "m" * 1_000_000}))
        reply = json.loads(await ws.receive_str(timeout=SAFETY))
        assert reply["id"] == 2 and len(reply["error"]["message"]) <= 256


async def test_a_request_aborted_by_its_client_logs_one_line(
    server: RpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: every aborted request logged aiohttp's traceback."""
    caplog.set_level(logging.DEBUG)
    body = b'{"jsonrpc":"2.0","id":1,"method":"shh_generateSymKeyFromPassword","params":["pw"]}'
    _, writer = await raw_connect(server)
    writer.write(request(body))
    await writer.drain()
    writer.close()  # gone while PBKDF2 runs
    await writer.wait_closed()
    async with asyncio.timeout(SAFETY):
        while not any("aborted" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
    aborted = next(r for r in caplog.records if "aborted" in r.getMessage())
    assert aborted.levelno == logging.INFO
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_malformed_http_logs_one_line_without_traceback(
    server: RpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: aiohttp logged `Error handling request` at ERROR with a multi-line traceback."""
    caplog.set_level(logging.DEBUG)
    reader, writer = await raw_connect(server)
    writer.write(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    assert (await read_to_eof(reader)).startswith(b"HTTP/1.0 400")
    writer.close()
    lines = [r for r in caplog.records if "Error handling request" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO and "\n" not in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_closing_a_websocket_cancels_its_calls(
    server: RpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = server.url.replace("http://", "ws://")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url)
        await ws.send_str(
            '{"jsonrpc":"2.0","id":1,"method":"shh_generateSymKeyFromPassword","params":["pw"]}'
        )
        await ws.close()  # while PBKDF2 runs
    async with asyncio.timeout(SAFETY):
        while not any("cancelling 1 call(s)" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
