"""JSON-RPC over IPC: geth's `geth.ipc`, a Unix socket speaking a stream of JSON values.

What a connection carries is what geth's IPC codec reads and writes: requests and batches as JSON
values one after another (pretty-printed or not, split across reads or several in one:
`hush.rpc.jsonstream`), answers and `shh_subscription` notifications each followed by a newline,
as geth's json.Encoder writes them. web3.py's IPCProvider and web3.js's IpcProvider work
unchanged. The socket file is made by `hush.rpc.ipcpath` (mode 0600, directory checks, stale
sockets removed, live ones never clobbered).

The methods are those of a loopback WebSocket (every one, subscriptions too, as geth serves every
API over IPC): who may connect is decided by the file's mode. The limits are the WebSocket
path's, from the same `RpcConfig`:
- At most `max_connections` IPC connections (counted apart from HTTP/WebSocket ones); one more
  gets one `too many connections` error object and is closed.
- One value is at most `max_body` bytes; a bigger one, or bytes that are not JSON, get one error
  object (geth's parse error) and the connection is closed, since the stream is out of step.
  A value that has begun must be complete within `body_timeout` s; between values a connection
  may idle as long as it likes (it may be waiting for notifications).
- At most `ws_max_inflight` calls run per connection; past that nothing more is read (the
  client is held back by the socket), so a client cannot make hush buffer requests. Batches are
  bounded by `max_batch`, `max_response` and `batch_timeout` in `hush.rpc.jsonrpc`.
- Replies are written one at a time; one the client does not take within `send_timeout` s
  closes the connection. Closing cancels the connection's calls and subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from hush.rpc.config import RpcConfig
from hush.rpc.ipcpath import BoundSocket, bind_ipc_socket
from hush.rpc.jsonrpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    SERVER_ERROR,
    CallContext,
    Dispatcher,
    encode,
    error_response,
    loads,
)
from hush.rpc.jsonstream import JsonSplitter, JsonStreamError
from hush.rpc.subscriptions import WsSubscriptions

__all__ = ["IpcEndpoint"]

log = logging.getLogger(__name__)

_READ = 64 * 1024
_STREAM_LIMIT = 64 * 1024


class _Closing(Exception):
    """The connection ends after the error object given."""

    def __init__(self, answer: dict[str, Any] | None, why: str):
        super().__init__(why)
        self.answer = answer


class IpcEndpoint:
    """`await start(path)` … `await stop()`: JSON-RPC on a Unix socket with `dispatcher`."""

    def __init__(self, config: RpcConfig, dispatcher: Dispatcher):
        self.config = config
        self.dispatcher = dispatcher
        self._bound: BoundSocket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._warned = False
        self.refused = 0
        self.inflight_peak = 0
        """The most calls that ran at once on one connection (for tests, metrics)."""

    @property
    def path(self) -> Path | None:
        return self._bound.path if self._bound is not None else None

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def start(self, path: Path) -> None:
        bound = bind_ipc_socket(path)
        try:
            self._server = await asyncio.start_unix_server(
                self._accept, sock=bound.socket, limit=_STREAM_LIMIT
            )
        except BaseException:
            bound.release()
            raise
        self._bound = bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        if self._bound is not None:
            self._bound.release()
            self._bound = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.config.max_connections:
            self.refused += 1
            level = logging.DEBUG if self._warned else logging.WARNING
            log.log(
                level, "IPC connection limit (%d) reached: refusing", self.config.max_connections
            )
            self._warned = True
            refusal = error_response(None, SERVER_ERROR, "too many connections")
            with contextlib.suppress(ConnectionError):
                writer.write(encode(refusal) + b"\n")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await _Connection(self, reader, writer).serve()
        finally:
            self._connections.discard(task)
            if len(self._connections) < self.config.max_connections:
                self._warned = False
            writer.close()


class _Connection:
    """One client: a reader loop that starts calls, and replies written one at a time."""

    def __init__(
        self, endpoint: IpcEndpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.endpoint = endpoint
        self.config = endpoint.config
        self.reader = reader
        self.writer = writer
        self.splitter = JsonSplitter(self.config.max_body)
        self.slots = asyncio.Semaphore(self.config.ws_max_inflight)
        self.send_lock = asyncio.Lock()
        self.subscriptions = WsSubscriptions()
        self.calls: set[asyncio.Task[None]] = set()
        self.running = 0

    async def serve(self) -> None:
        try:
            while True:
                await self.slots.acquire()  # at the cap nothing is read: the client waits
                try:
                    value = await self._next_value()
                except BaseException:
                    self.slots.release()
                    raise
                if value is None:
                    self.slots.release()
                    break
                try:
                    message = loads(value)
                except (ValueError, UnicodeDecodeError) as exc:
                    self.slots.release()
                    answer = error_response(None, PARSE_ERROR, f"parse error: {exc}")
                    raise _Closing(answer, "not JSON") from None
                self.running += 1
                self.endpoint.inflight_peak = max(self.endpoint.inflight_peak, self.running)
                task = asyncio.ensure_future(self._serve_one(message))
                self.calls.add(task)
                task.add_done_callback(self.calls.discard)
        except _Closing as closing:
            log.info("ipc connection closed: %s", closing)
            if closing.answer is not None:
                with contextlib.suppress(ConnectionError):
                    await self._send(encode(closing.answer))
        except ConnectionError:
            pass
        finally:
            if self.calls:
                log.info("ipc connection closed: cancelling %d call(s)", len(self.calls))
            for task in list(self.calls):
                task.cancel()
            await asyncio.gather(*self.calls, return_exceptions=True)
            await self.subscriptions.close()

    async def _next_value(self) -> bytes | None:
        """The next value's bytes; None at the end of the stream (an incomplete value is lost,
        as geth's decoder loses it)."""
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                value = self.splitter.next_value()
            except JsonStreamError as exc:
                code = PARSE_ERROR if "invalid character" in str(exc) else INVALID_REQUEST
                raise _Closing(error_response(None, code, str(exc)), str(exc)) from None
            if value is not None:
                return value
            if self.splitter.in_value and deadline is None:
                deadline = loop.time() + self.config.body_timeout
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self.reader.read(_READ)
            except TimeoutError:
                why = f"request not complete within {self.config.body_timeout:g}s"
                raise _Closing(None, why) from None
            if not data:
                self.splitter.end()
                return self.splitter.next_value() if self.splitter.in_value else None
            self.splitter.receive_data(data)

    async def _send(self, data: bytes) -> None:
        async with self.send_lock:  # one reply at a time: the rest wait here, not in a buffer
            if self.writer.is_closing():
                raise ConnectionResetError("connection closed")
            self.writer.writelines((data, b"\n"))
            try:
                async with asyncio.timeout(self.config.send_timeout):
                    await self.writer.drain()
            except TimeoutError:
                log.info(
                    "ipc connection: replies not read within %gs, closing",
                    self.config.send_timeout,
                )
                self.writer.transport.abort()
                raise ConnectionResetError("client not reading") from None

    async def _notify(self, message: dict[str, Any]) -> None:
        await self._send(encode(message))

    async def _serve_one(self, message: Any) -> None:
        try:
            context = CallContext(notify=self._notify, connection=self.subscriptions)
            answer = await self.endpoint.dispatcher.handle_value(message, context)
            if answer is not None:
                await self._send(answer)
            for callback in context.after_reply:
                callback()
        except (ConnectionError, RuntimeError):
            pass  # the socket went away under us: the read loop ends it
        finally:
            self.running -= 1
            self.slots.release()
