"""JSON-RPC over HTTP (POST) and WebSocket, with aiohttp, in the node's event loop.

HTTP rules (geth 1.9's rpc/http.go): POST with `Content-Type: application/json`, body at most
`max_body` bytes (413 otherwise); a request carrying an `Origin` header is answered only if the
origin is in the CORS allow-list (`*` allows all), and refused with 403 otherwise; requests without
`Origin` (non-browser clients) are always served. WebSocket upgrades (GET) obey the same rule
against `ws_origins`. Subscriptions exist only on WebSocket connections and end with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from hush.node import Node
from hush.rpc.api import ShhApi, WsSubscriptions
from hush.rpc.jsonrpc import CallContext, Dispatcher, encode

__all__ = ["DEFAULT_MAX_BODY", "RpcConfig", "RpcServer"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 5 * 1024 * 1024
"""geth 1.9's maxRequestContentLength."""


@dataclass(frozen=True, slots=True)
class RpcConfig:
    http: bool = True
    """Answer JSON-RPC over HTTP POST."""
    ws: bool = True
    """Accept WebSocket upgrades (GET) and serve JSON-RPC with subscriptions over them."""
    cors_domains: tuple[str, ...] = ()
    """Origins browsers may call the HTTP endpoint from (geth's --rpccorsdomain); `*` = any."""
    ws_origins: tuple[str, ...] = ()
    """Origins browsers may open a WebSocket from (geth's --wsorigins); `*` = any."""
    max_body: int = DEFAULT_MAX_BODY
    """Largest request body or WebSocket message, in bytes."""


def _allowed(origin: str, allow_list: Sequence[str]) -> bool:
    return "*" in allow_list or origin.rstrip("/").lower() in (
        entry.rstrip("/").lower() for entry in allow_list
    )


class RpcServer:
    """`await start(host, port)` … `await stop()`; `port` is the bound port (0 picks one)."""

    def __init__(self, node: Node, config: RpcConfig | None = None, api: ShhApi | None = None):
        self.node = node
        self.config = config or RpcConfig()
        self.api = api or ShhApi(node)
        self.dispatcher = Dispatcher(self.api.methods())
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._expiry: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(
            self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.host, self.port = server.sockets[0].getsockname()[:2]
        self._expiry = asyncio.ensure_future(self.api.run_expiry())
        log.info(
            "JSON-RPC listening on %s (http=%s, ws=%s)", self.url, self.config.http, self.config.ws
        )

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
            self._expiry = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RpcServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _close_sockets(self, _: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close()

    # -- HTTP ------------------------------------------------------------------------------------

    def _cors_headers(self, origin: str | None) -> dict[str, str]:
        if origin is None:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            if not self.config.ws:
                return web.Response(status=404, text="websocket not enabled\n")
            if origin is not None and not _allowed(origin, self.config.ws_origins):
                log.info("websocket refused: origin %s not allowed", origin)
                return web.Response(status=403, text="origin not allowed\n")
            return await self._websocket(request)
        if not self.config.http:
            return web.Response(status=404, text="http not enabled\n")
        if origin is not None and not _allowed(origin, self.config.cors_domains):
            return web.Response(status=403, text="origin not allowed\n")
        cors = self._cors_headers(origin)
        if request.method == "OPTIONS":
            return web.Response(
                status=200,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": "POST, GET",
                    "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Max-Age": "600",
                },
            )
        if request.method == "GET" and not request.can_read_body:
            return web.Response(status=200, headers=cors)  # geth: an empty GET is a health check
        if request.method != "POST":
            return web.Response(status=405, text="method not allowed\n", headers=cors)
        limit = self.config.max_body
        if request.content_length is not None and request.content_length > limit:
            return web.Response(
                status=413, text=f"content length too large ({request.content_length}>{limit})\n"
            )
        if request.content_type != "application/json":
            return web.Response(
                status=415, text="invalid content type, only application/json is supported\n"
            )
        body = await _read_limited(request, limit)
        if body is None:
            return web.Response(status=413, text=f"content length too large (>{limit})\n")
        response = await self.dispatcher.handle_body(body, CallContext())
        if response is None:
            return web.Response(status=200, headers=cors)
        return web.Response(body=encode(response), content_type="application/json", headers=cors)

    # -- WebSocket -------------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=self.config.max_body, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        send_lock = asyncio.Lock()
        subscriptions = WsSubscriptions()
        calls: set[asyncio.Task[None]] = set()

        async def send(message: Any) -> None:
            async with send_lock:
                await ws.send_str(encode(message).decode())

        async def serve_one(data: str) -> None:
            context = CallContext(notify=send, connection=subscriptions)
            response = await self.dispatcher.handle_body(data, context)
            if response is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await send(response)
            for callback in context.after_reply:
                callback()

        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = (
                        message.data
                        if isinstance(message.data, str)
                        else message.data.decode("utf-8", "replace")
                    )
                    # calls run concurrently, like geth's: a slow shh_post doesn't block the rest
                    task = asyncio.ensure_future(serve_one(data))
                    calls.add(task)
                    task.add_done_callback(calls.discard)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            for task in list(calls):
                task.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            await subscriptions.close()
            self._sockets.discard(ws)
        return ws


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` (chunked bodies have no Content-Length)."""
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
