"""JSON-RPC over HTTP (POST) and WebSocket, with aiohttp, and over IPC, in the node's event loop.

`RpcServer` composes the parts and is the only module that knows them all:
- `hush.rpc.config`: `RpcConfig`, every setting below and its validation;
- `hush.rpc.access`: the Origin (CORS), Host and method allow-lists;
- `hush.rpc.connections`: the connection cap and the header deadline;
- `hush.rpc.http`: HTTP POST requests (body limit and deadline, CORS, large answers);
- `hush.rpc.websocket`: WebSocket connections (in-flight cap, reply deadline, subscriptions);
- `hush.rpc.logs`: aiohttp's error records as one line without traceback;
- `hush.rpc.ipc`: JSON-RPC over a Unix socket, geth's `geth.ipc` (`start_ipc`), with every
  method (as a loopback WebSocket has them) and the WebSocket path's limits;
- batches: `hush.rpc.jsonrpc` (`max_batch`, `max_response`, `batch_timeout`).

Every request first passes the Host allow-list (HTTP and WebSocket share the port); a GET with
`Upgrade: websocket` then goes to the WebSocket endpoint, anything else to the HTTP one. Each
endpoint has its own method table (`http_api`/`ws_api`), chosen when the server starts, since
what is served by default depends on whether the listen address is loopback. An idle
keep-alive connection is closed after `idle_timeout` s (aiohttp's keep-alive timer, which also
bounds a slow later request), and a request whose client goes away is cancelled (aiohttp's
handler_cancellation), so a long shh_post stops: one log line per aborted request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from aiohttp import web

from hush.enode import host_port
from hush.node import Node
from hush.rpc.access import enabled_methods, host_allowed, is_loopback
from hush.rpc.api import ShhApi
from hush.rpc.config import DEFAULT_API, DEFAULT_MAX_BODY, DEFAULT_VHOSTS, RpcConfig
from hush.rpc.connections import ConnectionGuard, GuardedSite
from hush.rpc.http import serve_http
from hush.rpc.ipc import IpcEndpoint
from hush.rpc.jsonrpc import CallContext, Dispatcher, Method
from hush.rpc.logs import OneLineLogger
from hush.rpc.websocket import WebSocketEndpoint

__all__ = [
    "DEFAULT_API",
    "DEFAULT_MAX_BODY",
    "DEFAULT_VHOSTS",
    "RpcConfig",
    "RpcServer",
    "enabled_methods",
    "host_allowed",
]

log = logging.getLogger(__name__)


class RpcServer:
    """`await start(host, port)` … `await stop()`; `port` is the bound port (0 picks one)."""

    def __init__(self, node: Node, config: RpcConfig | None = None, api: ShhApi | None = None):
        self.node = node
        self.config = config or RpcConfig()
        self.api = api or ShhApi(node)
        self._methods = self.api.methods()
        self.dispatcher = self._dispatcher(self.config.http_api, public=False)
        self.ws_dispatcher = self._dispatcher(self.config.ws_api, public=False)
        self._runner: web.AppRunner | None = None
        self._guard: ConnectionGuard | None = None
        self._websockets = WebSocketEndpoint(self.config)
        self._expiry: asyncio.Task[None] | None = None
        self._ipc: IpcEndpoint | None = None
        self.host = ""
        self.port = 0

    def _dispatcher(self, api: Sequence[str] | None, *, public: bool) -> Dispatcher:
        served = enabled_methods((m.name for m in self._methods), api, public=public)
        namespaces = {name.partition("_")[0]: "1.0" for name in sorted(served)}

        async def modules(_: CallContext) -> dict[str, str]:
            return namespaces

        methods = [
            Method(m.name, modules) if m.name == "rpc_modules" else m
            for m in self._methods
            if m.name in served
        ]
        return Dispatcher(
            methods,
            max_batch=self.config.max_batch,
            max_response=self.config.max_response,
            batch_timeout=self.config.batch_timeout,
        )

    @property
    def url(self) -> str:
        return f"http://{host_port(self.host, self.port)}"

    @property
    def ws_inflight_peak(self) -> int:
        """The most calls that ran at once on one WebSocket connection (for tests, metrics)."""
        return self._websockets.inflight_peak

    @property
    def ipc_path(self) -> Path | None:
        """The IPC socket's path while `start_ipc` serves it."""
        return self._ipc.path if self._ipc is not None else None

    @property
    def ipc(self) -> IpcEndpoint | None:
        return self._ipc

    async def start_ipc(self, path: Path) -> None:
        """Serve JSON-RPC on a Unix socket at `path` (see `hush.rpc.ipc`); UsageError if the
        path cannot be used. May be called with or without `start`."""
        endpoint = IpcEndpoint(self.config, self._dispatcher(None, public=False))
        await endpoint.start(path)
        self._ipc = endpoint
        if self._expiry is None:
            self._expiry = asyncio.ensure_future(self.api.run_expiry())
        log.info("JSON-RPC over IPC at %s", endpoint.path)

    @property
    def connections(self) -> int:
        """HTTP and WebSocket connections open now."""
        return len(self._guard.live) if self._guard is not None else 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        public = not is_loopback(host)
        self.dispatcher = self._dispatcher(self.config.http_api, public=public)
        self.ws_dispatcher = self._dispatcher(self.config.ws_api, public=public)
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
            keepalive_timeout=self.config.idle_timeout,
            lingering_time=min(10.0, self.config.body_timeout),  # reading a body left unread
            logger=cast(logging.Logger, OneLineLogger(log, {})),
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self._guard = ConnectionGuard(
            self._runner.server, self.config.max_connections, self.config.header_timeout
        )
        site = GuardedSite(self._runner, self._guard, host, port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.host, self.port = site.server.sockets[0].getsockname()[:2]
        if self._expiry is None:
            self._expiry = asyncio.ensure_future(self.api.run_expiry())
        log.info(
            "JSON-RPC listening on %s (http=%s, ws=%s)", self.url, self.config.http, self.config.ws
        )

    async def stop(self) -> None:
        if self._ipc is not None:
            await self._ipc.stop()
            self._ipc = None
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
        await self._websockets.close_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._guard is not None:
            self._guard.request_started(request.protocol)
        try:
            return await self._route(request)
        except ConnectionError as exc:  # written to a connection already gone
            log.info("%s %s from %s aborted: %s", request.method, request.path, request.remote, exc)
            return web.Response(status=400)  # aiohttp finds the connection gone and drops it
        except asyncio.CancelledError:
            log.info(
                "%s %s from %s aborted: client went away",
                request.method,
                request.path,
                request.remote,
            )
            raise

    async def _route(self, request: web.Request) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), self.config.vhosts):
            return web.Response(status=403, text="invalid host specified\n")
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websockets.serve(request, self.ws_dispatcher)
        return await serve_http(request, self.config, self.dispatcher)
