"""How many JSON-RPC connections are open, and how long one may take to send its headers.

- At most `max_connections` connections (HTTP and WebSocket together) are open at once; one more
  is answered `503 too many connections` and closed before aiohttp sees it. The first refusal
  after the cap is reached logs a warning, later ones log at debug until a connection closes.
- A new connection's request headers must be complete `header_timeout` s after it opened, else
  it is aborted (one log line). The deadline ends when aiohttp starts handling the request: the
  server calls `ConnectionGuard.request_started` from its handler.
- `GuardedSite` is aiohttp's TCPSite with `ConnectionGuard` as the protocol factory; each
  accepted connection is aiohttp's own `RequestHandler` wrapped in `_Guarded`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from hush.enode import host_port

__all__ = ["ConnectionGuard", "GuardedSite"]

log = logging.getLogger(__name__)

_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n"
)


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSAL)
        transport.close()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the header deadline and connection count."""

    def __init__(self, guard: ConnectionGuard, inner: RequestHandler):
        self._guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._guard.opened(self)
        self._deadline = asyncio.get_running_loop().call_later(
            self._guard.header_timeout, self._headers_late
        )
        self.inner.connection_made(transport)

    def request_started(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            log.info(
                "http %s: no complete request within %gs, closing",
                _peer(self.transport),
                self._guard.header_timeout,
            )
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        self.inner.eof_received()
        return None  # aiohttp's: close the transport on EOF

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.request_started()
        self._guard.closed(self)
        self.inner.connection_lost(exc)


def _peer(transport: asyncio.BaseTransport | None) -> str:
    if transport is None:
        return "?"
    name = transport.get_extra_info("peername")
    return host_port(str(name[0]), name[1]) if isinstance(name, tuple) and len(name) >= 2 else "?"


class ConnectionGuard:
    """The protocol factory: counts live connections, refuses those past the cap."""

    def __init__(self, server: web.Server, max_connections: int, header_timeout: float):
        self._server = server
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.live: dict[RequestHandler, _Guarded] = {}
        self._pending = 0
        self.refused = 0
        self._warned = False

    def __call__(self) -> asyncio.Protocol:
        if len(self.live) + self._pending >= self.max_connections:
            self.refused += 1
            if not self._warned:
                log.warning(
                    "JSON-RPC connection limit (%d) reached: refusing", self.max_connections
                )
                self._warned = True
            log.debug("JSON-RPC connection refused: %d open", len(self.live))
            return _Refused()
        self._pending += 1
        return _Guarded(self, self._server())

    def opened(self, conn: _Guarded) -> None:
        self._pending -= 1
        self.live[conn.inner] = conn

    def closed(self, conn: _Guarded) -> None:
        self.live.pop(conn.inner, None)
        if len(self.live) < self.max_connections:
            self._warned = False

    def request_started(self, handler: object) -> None:
        conn = self.live.get(cast(RequestHandler, handler))
        if conn is not None:
            conn.request_started()


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite with `ConnectionGuard` as the protocol factory."""

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int):
        super().__init__(runner)
        self._guard = guard
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        return f"http://{host_port(self._host, self._port)}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard, self._host, self._port, reuse_address=True, backlog=self._backlog
        )

    @property
    def server(self) -> asyncio.Server:
        assert isinstance(self._server, asyncio.Server)
        return self._server
