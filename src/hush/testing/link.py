"""A slow link on loopback, in userspace: a TCP proxy that delays and rate-limits (no netem here).

`ShapedLink(target, delay, bits_per_s)` listens on 127.0.0.1 and forwards each connection to
`target`; each direction, separately, models one link:

* **rate**: bytes leave in pieces of at most `PIECE` bytes; a piece takes `8·len/bits_per_s`
  seconds on the wire, after the one before it (a token bucket one piece deep: the link never
  goes faster than its rate, and idles when there is nothing to send);
* **delay**: each piece arrives `delay` seconds after it left (one way: a 100 ms RTT is
  `delay=0.05`);
* **in order**, nothing lost or reordered; what waits for the wire is bounded (`QUEUE_PIECES`
  pieces per direction, then the proxy stops reading: TCP's own back-pressure reaches the
  sender).

`python -m hush.testing.link --target HOST:PORT --delay-ms 50 --mbit 20` runs one and prints
`{"port": N}` once it listens; it stops when stdin closes. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["PIECE", "QUEUE_PIECES", "ShapedLink"]

PIECE = 4096
QUEUE_PIECES = 1024
"""Pieces waiting per direction (4 MiB): more than a 20 Mbit/s × 100 ms link holds in flight."""


class ShapedLink:
    def __init__(
        self, target: tuple[str, int], delay: float, bits_per_s: float, host: str = "127.0.0.1"
    ) -> None:
        if delay < 0 or bits_per_s <= 0:
            raise ValueError("delay must be ≥ 0 and the rate > 0")
        self.target = target
        self.delay = delay
        self.bits_per_s = bits_per_s
        self.host = host
        self.port = 0
        self.bytes_forwarded = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> ShapedLink:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._spawn(self._direction(reader, up_writer))
        self._spawn(self._direction(up_reader, writer))

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_PIECES)

        async def wire() -> None:
            """Pieces in order: each leaves when the one before it has (the rate), and arrives
            `delay` later."""
            free = 0.0
            while True:
                item = await queue.get()
                if item is None:
                    break
                ready, piece = item
                free = max(free, ready) + len(piece) * 8 / self.bits_per_s
                wait = free + self.delay - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(piece)
                await writer.drain()
                self.bytes_forwarded += len(piece)

        sender = self._spawn(wire())
        try:
            while data := await reader.read(65536):
                now = loop.time()
                for start in range(0, len(data), PIECE):
                    await queue.put((now, data[start : start + PIECE]))
            await queue.put(None)
            await sender
        except (OSError, asyncio.IncompleteReadError):
            sender.cancel()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()
                writer.close()


async def _main(target: tuple[str, int], delay: float, bits_per_s: float) -> None:
    async with ShapedLink(target, delay, bits_per_s) as link:
        print(json.dumps({"port": link.port}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A delayed, rate-limited TCP link on loopback.")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="one-way delay")
    parser.add_argument("--mbit", type=float, default=20.0, help="rate each way, Mbit/s")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    asyncio.run(_main((host, int(port)), args.delay_ms / 1000, args.mbit * 1e6))


if __name__ == "__main__":
    main()
