"""JSON-RPC over HTTP (POST) and WebSocket, with aiohttp, in the node's event loop.

HTTP rules (geth 1.9's rpc/http.go): POST with `Content-Type: application/json`, body at most
`max_body` bytes (413 otherwise); a request carrying an `Origin` header is answered only if the
origin is in the CORS allow-list (`*` allows all), and refused with 403 otherwise; requests without
`Origin` (non-browser clients) are always served. WebSocket upgrades (GET) obey the same rule
against `ws_origins`. Subscriptions exist only on WebSocket connections and end with them.

Public-facing limits (`RpcConfig`; issue 7):
- Host allow-list (geth's --rpcvhosts, DNS-rebinding defence): a `Host` that is a name, not an IP,
  must be in `vhosts` (default `localhost`; `*` = any), else 403 `invalid host specified`. geth
  checks HTTP only; hush checks WebSocket upgrades too, which share the port.
- Method allow-list (geth's --rpcapi/--wsapi): `http_api`/`ws_api` name namespaces (`shh`) or
  single methods (`shh_getSymKey`); others answer geth's -32601 `does not exist/is not available`.
  The default (None) serves every namespace on loopback; beyond loopback it is `shh,net,web3`
  without the key-export methods, which are then served only when named explicitly. `rpc_modules`
  lists what is served.
- Connections: at most `max_connections` at once (HTTP and WebSocket; more get 503 and are
  closed); request headers must be complete `header_timeout` s after connecting, a body must
  arrive within `body_timeout` s (408), and an idle keep-alive connection is closed after
  `idle_timeout` s (aiohttp's keep-alive timer, which also bounds a slow later request). A request
  whose client goes away is cancelled (aiohttp's handler_cancellation), so a long shh_post stops.
- WebSocket: at most `ws_max_inflight` calls run per connection; past that hush stops reading the
  connection (TCP backpressure) instead of starting a task per frame. Replies are written one at a
  time, and a reply the client doesn't take within `send_timeout` s closes the connection, so a
  client that never reads holds at most `ws_max_inflight` replies. Closing cancels its calls.
  Large HTTP answers are written in slices under the same `send_timeout`.
- Batches: see `hush.rpc.jsonrpc` (`max_batch`, `max_response`, `batch_timeout`).
- Logging: one line per aborted request or connection; aiohttp's own error records go through a
  logger that drops tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import sys
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from hush.enode import host_port
from hush.errors import UsageError
from hush.node import Node
from hush.rpc.api import KEY_EXPORT_METHODS, ShhApi, WsSubscriptions
from hush.rpc.jsonrpc import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_RESPONSE,
    CallContext,
    Dispatcher,
    Method,
    encode,
)

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

DEFAULT_MAX_BODY = 5 * 1024 * 1024
"""geth 1.9's maxRequestContentLength."""
DEFAULT_VHOSTS = ("localhost",)
"""geth's --rpcvhosts default."""
DEFAULT_API = ("shh", "net", "web3")
"""Namespaces served beyond loopback when none are named (`rpc` is always served, as in geth)."""
_ALWAYS = "rpc"
_SLICE = 64 * 1024


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
    vhosts: tuple[str, ...] = DEFAULT_VHOSTS
    """Host names (the `Host` header without port) served; IP addresses always are; `*` = any."""
    http_api: tuple[str, ...] | None = None
    """Namespaces or methods served over HTTP; None: all on loopback, DEFAULT_API beyond it."""
    ws_api: tuple[str, ...] | None = None
    """The same for WebSocket."""
    max_batch: int = DEFAULT_MAX_BATCH
    """Most items in one batch (geth: 1000)."""
    max_response: int = DEFAULT_MAX_RESPONSE
    """Bytes of JSON one batch answers with before its remaining calls fail (geth: 25 MB); also
    bounds one shh_getFilterMessages answer."""
    batch_timeout: float = 30.0
    """Seconds one batch may run; its remaining calls then get `request timed out` (geth uses
    its HTTP write timeout, 30 s by default)."""
    max_connections: int = 100
    """HTTP and WebSocket connections open at once; more are answered 503 and closed."""
    header_timeout: float = 10.0
    """Seconds a new connection has to send complete request headers."""
    body_timeout: float = 30.0
    """Seconds a request has to send its body."""
    idle_timeout: float = 120.0
    """Seconds a keep-alive connection may sit idle (geth's IdleTimeout)."""
    ws_max_inflight: int = 16
    """Calls running at once per WebSocket connection; no frame is read past that."""
    send_timeout: float = 10.0
    """Seconds a client has to take a reply (an HTTP answer, one WebSocket message) before the
    connection is closed."""

    def __post_init__(self) -> None:
        for name in ("max_body", "max_batch", "max_response", "max_connections", "ws_max_inflight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"RPC setting {name} must be a positive integer, not {value!r}")
        for name in (
            "header_timeout",
            "body_timeout",
            "idle_timeout",
            "send_timeout",
            "batch_timeout",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value > 0)
            ):
                raise UsageError(f"RPC setting {name} must be a positive number, not {value!r}")
        for name in ("http_api", "ws_api"):
            entries = getattr(self, name)
            if entries is not None and not entries:
                raise UsageError(f"RPC setting {name} names no namespace")


def _allowed(origin: str, allow_list: Sequence[str]) -> bool:
    return "*" in allow_list or origin.rstrip("/").lower() in (
        entry.rstrip("/").lower() for entry in allow_list
    )


def host_allowed(host: str | None, vhosts: Sequence[str]) -> bool:
    """geth's virtualHostHandler: no Host, an IP address, `*` or a listed name is served."""
    if not host:
        return True
    name = host
    if name.startswith("["):  # [v6]:port
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name)
        return True
    return "*" in vhosts or name.lower() in (entry.lower() for entry in vhosts)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def enabled_methods(
    names: Iterable[str], api: Sequence[str] | None, *, public: bool
) -> frozenset[str]:
    """The methods an endpoint serves (see the module docstring); UsageError for unknown
    entries."""
    names = frozenset(names)
    if api is None:
        if not public:
            return names
        api = DEFAULT_API
    namespaces = {name.partition("_")[0] for name in names}
    wanted = {entry.strip() for entry in api if entry.strip()}
    unknown = sorted(wanted - namespaces - names)
    if unknown:
        raise UsageError(f"unknown RPC namespace or method: {', '.join(unknown)}")
    served = set()
    for name in names:
        namespace = name.partition("_")[0]
        named = name in wanted or namespace == _ALWAYS
        exported = public and name in KEY_EXPORT_METHODS  # beyond loopback: only when named
        if named or (namespace in wanted and not exported):
            served.add(name)
    return frozenset(served)


class _OneLineLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger without tracebacks: the exception becomes part of the line."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc_info = kwargs.pop("exc_info", None)
        kwargs.pop("stack_info", None)
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if exc_info is True:
            exc = sys.exc_info()[1]
        if exc is not None:
            msg, args = f"{msg}: %s: %s", (*args, type(exc).__name__, _short(exc))
            if isinstance(exc, HttpProcessingError | ConnectionError):  # the client's doing
                level = min(level, logging.INFO)
        self.logger.log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # aiohttp's messages span lines
    return text if len(text) <= 200 else text[:197] + "..."


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

    def __init__(self, guard: _Guard, inner: RequestHandler):
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


class _Guard:
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


class _Site(web.BaseSite):
    """aiohttp's TCPSite with `_Guard` as the protocol factory."""

    def __init__(self, runner: web.BaseRunner, guard: _Guard, host: str, port: int):
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
        self._guard: _Guard | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._expiry: asyncio.Task[None] | None = None
        self.ws_inflight_peak = 0
        """The most calls that ran at once on one WebSocket connection (for tests, metrics)."""
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
            logger=cast(logging.Logger, _OneLineLogger(log, {})),
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self._guard = _Guard(
            self._runner.server, self.config.max_connections, self.config.header_timeout
        )
        site = _Site(self._runner, self._guard, host, port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.host, self.port = site.server.sockets[0].getsockname()[:2]
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
        try:
            async with asyncio.timeout(self.config.body_timeout):
                body = await _read_limited(request, limit)
        except TimeoutError:
            log.info(
                "http %s: request body not sent within %gs",
                request.remote,
                self.config.body_timeout,
            )
            response = web.Response(status=408, text="request body timed out\n")
            response.force_close()
            return response
        if body is None:
            return web.Response(status=413, text=f"content length too large (>{limit})\n")
        answer = await self.dispatcher.handle_raw(body, CallContext())
        if answer is None:
            return web.Response(status=200, headers=cors)
        if len(answer) <= _SLICE:
            return web.Response(body=answer, content_type="application/json", headers=cors)
        return await self._send_large(request, answer, cors)

    async def _send_large(
        self, request: web.Request, answer: bytes, headers: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=headers)
        response.content_type = "application/json"
        response.content_length = len(answer)
        await response.prepare(request)
        view = memoryview(answer)
        try:
            async with asyncio.timeout(self.config.send_timeout):
                for start in range(0, len(view), _SLICE):
                    await response.write(view[start : start + _SLICE])  # waits for the client
                await response.write_eof()
        except TimeoutError:
            log.info(
                "http %s: answer not read within %gs, closing",
                request.remote,
                self.config.send_timeout,
            )
            if request.transport is not None:
                request.transport.abort()
        return response

    # -- WebSocket -------------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        config = self.config
        ws = web.WebSocketResponse(max_msg_size=config.max_body, autoping=True)
        try:
            await ws.prepare(request)
        except ConnectionError:
            log.info("websocket %s: gone during the handshake", request.remote)
            return ws
        transport = request.transport
        peer = request.remote
        self._sockets.add(ws)
        send_lock = asyncio.Lock()
        slots = asyncio.Semaphore(config.ws_max_inflight)
        subscriptions = WsSubscriptions()
        calls: set[asyncio.Task[None]] = set()
        running = [0]  # calls holding a slot (a finished task may linger in `calls` a moment)

        async def send_text(text: str) -> None:
            async with send_lock:  # one reply at a time: the rest wait here, not in a buffer
                try:
                    async with asyncio.timeout(config.send_timeout):
                        await ws.send_str(text)
                except TimeoutError:
                    log.info(
                        "websocket %s: replies not read within %gs, closing",
                        peer,
                        config.send_timeout,
                    )
                    if transport is not None:
                        transport.abort()
                    raise ConnectionResetError("client not reading") from None

        async def notify(message: dict[str, Any]) -> None:
            await send_text(encode(message).decode())

        async def serve_one(data: str | bytes) -> None:
            try:
                context = CallContext(notify=notify, connection=subscriptions)
                answer = await self.ws_dispatcher.handle_raw(data, context)
                if answer is not None:
                    await send_text(answer.decode())
                for callback in context.after_reply:
                    callback()
            except (ConnectionError, RuntimeError):
                pass  # the socket went away under us: the read loop ends it
            finally:
                running[0] -= 1
                slots.release()

        try:
            while True:
                await slots.acquire()  # at the cap no frame is read: the client is held back
                try:
                    message = await ws.receive()
                except BaseException:
                    slots.release()
                    raise
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    # calls run concurrently, like geth's: a slow shh_post doesn't block the rest
                    running[0] += 1
                    self.ws_inflight_peak = max(self.ws_inflight_peak, running[0])
                    task = asyncio.ensure_future(serve_one(message.data))
                    calls.add(task)
                    task.add_done_callback(calls.discard)
                    continue
                slots.release()
                if message.type in (
                    WSMsgType.CLOSE,
                    WSMsgType.CLOSING,
                    WSMsgType.CLOSED,
                    WSMsgType.ERROR,
                ):
                    break
        finally:
            if calls:
                log.info("websocket %s closed: cancelling %d call(s)", peer, len(calls))
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
