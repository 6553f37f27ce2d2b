"""Servers for CLI tests, each on its own asyncio loop in a thread, so `main(argv)` (which runs
its own loop) can be called from the test's thread: a real hush node with its JSON-RPC server
(`LiveNode`), and a misbehaving JSON-RPC server that answers whatever a test says (`BadServer`).
Loopback only, ports from the OS.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from hush.cli.client import wnode_topic
from hush.node import Node, NodeConfig
from hush.rpc import RpcConfig, RpcServer
from hush.shh.filters import Filter
from hush.shh.topic import topic_from_hex

_T = TypeVar("_T")

HUSH = [sys.executable, "-c", "from hush.cli.main import main; main()"]


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 20) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveNode(LoopThread):
    """A real node (no p2p listener) serving HTTP and WebSocket JSON-RPC on one loopback port."""

    def __init__(self, port: int | None = None, room: str | None = None) -> None:
        super().__init__()
        self.port = port or free_port()
        self.node: Node | None = None
        self.server: RpcServer | None = None
        self.room_filter = ""
        self.caught: dict[bytes, bytes | None] = {}
        self.start(room)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, room: str | None = None) -> None:
        """Start (again, on the same port); with `room`, a filter for that password's messages
        is installed before the RPC server answers (`room_messages`)."""

        async def go() -> None:
            self.node = Node(NodeConfig(listen=False, datadir=None, pow_processes=1))
            await self.node.__aenter__()
            if room is not None:
                key_id = self.node.keys.sym_key_from_password(room)
                topic = topic_from_hex(wnode_topic(room))
                flt = Filter(sym_key=self.node.keys.sym_key(key_id), topics=frozenset({topic}))
                self.room_filter = self.node.install_filter(flt)
            self.server = RpcServer(self.node, RpcConfig())
            await self.server.start("127.0.0.1", self.port)

        self.run(go())

    def stop(self) -> None:
        """The node goes away (its sockets close), as when its process dies."""

        async def go() -> None:
            if self.server is not None:
                await self.server.stop()
            if self.node is not None:
                await self.node.__aexit__(None, None, None)
            self.server = self.node = None

        self.run(go())

    def pause_rpc(self) -> None:
        """The RPC server goes away; the node (keys, filters) stays, until `resume_rpc`."""
        assert self.server is not None
        self.run(self.server.stop())

    def resume_rpc(self) -> None:
        async def go() -> None:
            assert self.node is not None
            self.server = RpcServer(self.node, RpcConfig())
            await self.server.start("127.0.0.1", self.port)

        self.run(go())

    def room_messages(self) -> dict[bytes, bytes | None]:
        """Every payload the room filter has caught so far, with its signer's public key."""

        async def get() -> None:
            assert self.node is not None
            for message in self.node.filter_messages(self.room_filter):
                self.caught[message.payload] = message.signer

        self.run(get())
        return self.caught

    def filters(self) -> int:
        async def count() -> int:
            return len(self.node.filters) if self.node else 0

        return self.run(count())

    def close(self) -> None:
        self.stop()
        super().close()


Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadServer(LoopThread):
    """HTTP POST and WebSocket GET on one port, answered by `respond(request)`."""

    def __init__(self, respond: Responder) -> None:
        super().__init__()
        self.respond = respond
        self.port = free_port()
        self.runner: web.AppRunner | None = None

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.respond(request)

        async def go() -> None:
            app = web.Application()
            app.router.add_route("*", "/", handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        self.run(go())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        super().close()


def interrupt_a_sealing_post(live: LiveNode, rpc: str) -> None:
    """Ctrl-C on `hush post --rpc RPC` while `live`'s node seals: the client exits 130, the
    node stops hashing and publishes nothing (the RPC server cancels the handler, the sealer
    cancels the job)."""
    assert live.node is not None
    sealer = live.node._sealer
    key_id = live.node.keys.sym_key_from_password("ctrl-c room")
    argv = ["post", "--rpc", rpc, "--sym-key", key_id, "--topic", "01020304"]
    argv += ["--pow", str(2**18), "--pow-time", "50", "--quiet", "hi"]  # hours of hashing
    process = subprocess.Popen(
        [*HUSH, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while sealer.pending == 0:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the post never reached the sealer"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert sealer.wait_idle(10), "the node went on sealing after the client hung up"
    assert sealer.pending == 0 and sealer.busy == 0
    assert len(live.node.pool) == 0  # nothing was published
