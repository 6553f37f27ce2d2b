"""The CLI's side of a node's IPC socket (`hush node --ipc`, geth's geth.ipc): one connection,
requests written as JSON values, replies matched to them by id.

Rules:
- Calls may run concurrently on one link; each waits for the reply carrying its id. Values
  without a pending id (a notification, a stray reply) go to `notifications` when the link was
  opened for a subscription, else are dropped.
- A call that is cancelled (Ctrl-C) closes the link, so the node cancels what it was doing for
  it (an shh_post's sealing), as it does when an HTTP client hangs up; the next call reconnects.
- Replies are cut from the stream by `hush.rpc.jsonstream`, at most `max_reply` bytes each; a
  bigger one, or bytes that are not JSON, end the link (`LinkError`). Notifications wait in a
  bounded queue: a slow consumer holds the node back, it does not grow a buffer here.
- Connection failures are `OSError`s for the caller to word; `describe` words the common ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
from typing import Any

from hush.errors import HushError
from hush.rpc.jsonstream import JsonSplitter, JsonStreamError

__all__ = ["IpcLink", "LinkError", "describe"]

_READ = 64 * 1024
_NOTIFICATIONS = 256


class LinkError(HushError):
    """The node's side of the link broke the stream (not JSON, too large) or closed it."""


def describe(exc: OSError) -> str:
    """Why an IPC socket could not be used, in a few words that say what to check."""
    if isinstance(exc, FileNotFoundError):
        return "no such socket: is `hush node` running with that datadir or --ipc path?"
    if isinstance(exc, ConnectionRefusedError):
        return "nothing listens on it: the node that made it has stopped"
    if isinstance(exc, PermissionError):
        return "permission denied: the socket (mode 0600) belongs to the node's user"
    if exc.errno == errno.ENOTSOCK:
        return "not a socket"
    return exc.strerror or type(exc).__name__


class IpcLink:
    """`await link.connect()`, `await link.request(message)`, `await link.close()`."""

    def __init__(self, path: str, max_reply: int, *, notifications: bool = False):
        self.path = path
        self.max_reply = max_reply
        self.notifications: asyncio.Queue[dict[str, Any] | None] | None = (
            asyncio.Queue(_NOTIFICATIONS) if notifications else None
        )
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._lost: BaseException | None = None

    @property
    def lost(self) -> BaseException | None:
        """Why the link ended, once it has."""
        return self._lost

    @property
    def open(self) -> bool:
        return self._writer is not None and self._lost is None

    async def connect(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(self.path, limit=_READ)
        self._lost = None
        self._reader_task = asyncio.ensure_future(self._read(reader))

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """The reply to `message` (which has an `id`); OSError or LinkError if the link fails."""
        if not self.open:
            await self.close()  # what is left of a link the node closed
            await self.connect()
        assert self._writer is not None
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = reply
        try:
            self._writer.write(json.dumps(message).encode() + b"\n")
            await self._writer.drain()
            return await reply
        except asyncio.CancelledError:
            await self.close()  # the node cancels the call when its connection goes
            raise
        finally:
            self._pending.pop(message["id"], None)

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
            self._reader_task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        splitter = JsonSplitter(self.max_reply)
        failure: BaseException = LinkError("the node closed the connection")
        try:
            while True:
                data = await reader.read(_READ)
                if not data:
                    break
                splitter.receive_data(data)
                while (value := splitter.next_value()) is not None:
                    await self._deliver(value)
        except (JsonStreamError, ValueError, RecursionError) as exc:
            failure = LinkError(f"the node sent what is not JSON-RPC ({exc})")
        except OSError as exc:
            failure = exc
        finally:
            self._lost = failure
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(failure)
        if self.notifications is not None:
            await self.notifications.put(None)  # the end, after what came before it

    async def _deliver(self, value: bytes) -> None:
        message = json.loads(value)
        if isinstance(message, dict):
            future = self._pending.get(message.get("id"))
            if future is not None and not future.done() and "method" not in message:
                future.set_result(message)
                return
        if self.notifications is not None and isinstance(message, dict):
            await self.notifications.put(message)  # bounded: a slow reader holds the node back
