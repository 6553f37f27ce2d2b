"""The userspace slow link (hush.testing.link) that the H2 benchmark runs the catch-up through:
bytes arrive intact and in order, never sooner than the delay, never faster than the rate (lower
bounds only: a loaded machine may be slower, never faster)."""

from __future__ import annotations

import asyncio
import os

from hush.testing.link import ShapedLink


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_round_trip_takes_the_delay_both_ways_and_keeps_order() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    async with server, ShapedLink(("127.0.0.1", port), delay=0.05, bits_per_s=1e9) as link:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        started = loop.time()
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        assert loop.time() - started >= 0.1  # 50 ms each way
        payload = os.urandom(300_000)
        writer.write(payload)
        assert await reader.readexactly(len(payload)) == payload
        writer.close()


async def test_rate_is_never_exceeded() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    async with server, ShapedLink(("127.0.0.1", port), delay=0.0, bits_per_s=8e6) as link:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        payload = os.urandom(200_000)  # 1.6 Mbit: 0.2 s at 8 Mbit/s, each way (pipelined)
        started = loop.time()
        writer.write(payload)
        assert await reader.readexactly(len(payload)) == payload
        assert loop.time() - started >= 0.2
        writer.close()
