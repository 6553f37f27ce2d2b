"""JSON-RPC over WebSocket, with subscriptions, after the Host check.

- Upgrades (GET) are served only when `RpcConfig.ws` is on (404 otherwise) and, when they carry
  an `Origin` header, only from an origin in `ws_origins` (see `hush.rpc.access`; 403 otherwise).
  Messages are at most `max_body` bytes. Subscriptions exist only on WebSocket connections and
  end with them.
- At most `ws_max_inflight` calls run per connection; past that hush stops reading the
  connection (TCP backpressure) instead of starting a task per frame. Calls run concurrently,
  like geth's: a slow shh_post doesn't hold up the rest.
- Replies are written one at a time, and a reply the client doesn't take within `send_timeout` s
  closes the connection, so a client that never reads holds at most `ws_max_inflight` replies.
  Closing cancels its calls and its subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from hush.rpc.access import origin_allowed
from hush.rpc.config import RpcConfig
from hush.rpc.jsonrpc import CallContext, Dispatcher, encode
from hush.rpc.subscriptions import WsSubscriptions

__all__ = ["WebSocketEndpoint"]

log = logging.getLogger(__name__)


class WebSocketEndpoint:
    """The WebSocket connections open now, and what they have run at most."""

    def __init__(self, config: RpcConfig):
        self.config = config
        self.sockets: set[web.WebSocketResponse] = set()
        self.inflight_peak = 0
        """The most calls that ran at once on one connection (for tests, metrics)."""

    async def serve(self, request: web.Request, dispatcher: Dispatcher) -> web.StreamResponse:
        """Answer one upgrade request, then serve the connection with `dispatcher` until it
        closes."""
        if not self.config.ws:
            return web.Response(status=404, text="websocket not enabled\n")
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, self.config.ws_origins):
            log.info("websocket refused: origin %s not allowed", origin)
            return web.Response(status=403, text="origin not allowed\n")
        return await self._session(request, dispatcher)

    async def close_all(self) -> None:
        """Close every open connection (the server is shutting down)."""
        for ws in list(self.sockets):
            await ws.close()

    async def _session(self, request: web.Request, dispatcher: Dispatcher) -> web.WebSocketResponse:
        config = self.config
        ws = web.WebSocketResponse(max_msg_size=config.max_body, autoping=True)
        try:
            await ws.prepare(request)
        except ConnectionError:
            log.info("websocket %s: gone during the handshake", request.remote)
            return ws
        transport = request.transport
        peer = request.remote
        self.sockets.add(ws)
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
                answer = await dispatcher.handle_raw(data, context)
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
                    self.inflight_peak = max(self.inflight_peak, running[0])
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
            self.sockets.discard(ws)
        return ws
