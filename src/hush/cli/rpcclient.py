"""A small asyncio JSON-RPC client (aiohttp) for the CLI commands that talk to a running node.

Rules: whatever the server answers — an error that is not an object, a non-integer `code`, a
`null` result where a value is needed, non-JSON, an HTTP error page, a closed connection — becomes
one typed `HushError` with a one-line message naming the URL, never a traceback. Replies are read
into memory up to `MAX_REPLY_BYTES` only. Addresses are accepted as full URLs, `HOST:PORT` or a
bare `PORT` (loopback), the forms `hush node --http/--ws` take (`endpoint_url`), and as the path
of the node's IPC socket (`/path/hush.ipc`, `./hush.ipc`, `~/.hush/hush.ipc`, any `*.ipc`, or
`ipc:///path`): calls and subscriptions then go over it (`hush.cli.ipclink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, TypeVar, overload

import aiohttp

from hush.cli.ipclink import IpcLink, LinkError, describe
from hush.errors import HushError, UsageError

__all__ = [
    "DEFAULT_RPC_URL",
    "MAX_REPLY_BYTES",
    "BadReply",
    "NodeError",
    "RpcClient",
    "Unreachable",
    "endpoint_url",
    "subscribe",
]

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
MAX_REPLY_BYTES = 256 * 1024 * 1024
"""Largest reply read: 10,000 filter messages of the 10 MiB geth allows would not fit anyway."""
_MAX_SHOWN = 120
_T = TypeVar("_T")


class Unreachable(HushError):
    """No node answers at the URL, or the connection to it was lost; `reason` says why."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class NodeError(HushError):
    """The node answered a call with an error."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class BadReply(HushError):
    """The server answered, but not as a JSON-RPC node does."""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


_SCHEMES = {"http": ("http", "https"), "ws": ("ws", "wss")}
_OTHER = {"http": "ws", "https": "wss", "ws": "http", "wss": "https"}


IPC_SCHEME = "ipc://"


def ipc_path(url: str) -> str | None:
    """The socket path of an `ipc://` URL (as `endpoint_url` makes them), else None."""
    return url[len(IPC_SCHEME) :] if url.startswith(IPC_SCHEME) else None


def _ipc_url(raw: str) -> str | None:
    """`ipc:///abs/path` for the forms that name a socket file, else None."""
    if raw.startswith(IPC_SCHEME):
        path = raw[len(IPC_SCHEME) :]
    elif "://" not in raw and (raw.startswith(("/", "./", "../", "~")) or raw.endswith(".ipc")):
        path = raw
    else:
        return None
    return IPC_SCHEME + os.path.abspath(os.path.expanduser(path))


def endpoint_url(text: str, scheme: str = "http", what: str = "--rpc") -> str:
    """A URL from `8545`, `HOST:8545`, `[::1]:8545` or a full URL; `scheme` is http or ws. A
    socket path (or `ipc://` URL) becomes `ipc:///abs/path`, for either scheme.

    An http(s) URL given where a WebSocket one is wanted becomes ws(s) (hush serves both on one
    port when asked to); a ws URL given for HTTP is refused with a pointer to `--ws`.
    """
    raw = text.strip()
    ipc = _ipc_url(raw)
    if ipc is not None:
        return ipc
    if raw.isdigit():
        raw = f"127.0.0.1:{raw}"
    if "://" not in raw:
        raw = f"{scheme}://{raw}"
    try:
        parsed = urllib.parse.urlsplit(raw)
        parsed.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"{what}: invalid address {text!r} ({exc})") from None
    if parsed.scheme not in _SCHEMES[scheme]:
        if scheme == "ws" and parsed.scheme in _SCHEMES["http"]:
            return urllib.parse.urlunsplit(parsed._replace(scheme=_OTHER[parsed.scheme]))
        if scheme == "http" and parsed.scheme in _SCHEMES["ws"]:
            raise UsageError(
                f"{what} takes the node's HTTP address; {text!r} is a WebSocket URL "
                "(give it to --ws, or the node's --http address here)"
            )
        raise UsageError(f"{what}: unsupported URL scheme in {text!r}")
    if not parsed.hostname:
        raise UsageError(f"{what}: invalid address {text!r}: expected URL, HOST:PORT or PORT")
    return raw


def _code(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _node_error(url: str, error: object) -> NodeError:
    """geth's error object `{code, message}`; anything else is still one clear line."""
    if isinstance(error, dict):
        message, code = error.get("message"), error.get("code")
        text = message if isinstance(message, str) else json.dumps(message)
        return NodeError(_clip(text) or f"error {code!r} without a message", _code(code))
    return NodeError(f"hush node at {url} answered an error: {_clip(json.dumps(error))}", 0)


def _parse_json(url: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        shown = _clip(body[:_MAX_SHOWN].decode("utf-8", "replace"))
        raise BadReply(f"{url} is not a JSON-RPC endpoint (answered {shown!r})") from None


_KIND = {str: "a string", bool: "true/false", int: "an integer", dict: "an object", list: "a list"}


def check_type(url: str, method: str, value: Any, expect: type[_T]) -> _T:
    """`value` if it is an `expect`, else `BadReply` (bool is not an int here)."""
    ok = isinstance(value, expect) and not (expect is int and isinstance(value, bool))
    if not ok:
        shown = _clip(json.dumps(value))
        kind = _KIND.get(expect, expect.__name__)
        raise BadReply(f"hush node at {url} answered {method} with {shown}, expected {kind}")
    return value  # type: ignore[no-any-return]


async def _read_limited(response: aiohttp.ClientResponse, url: str) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_REPLY_BYTES:
            raise BadReply(f"{url}: reply larger than {MAX_REPLY_BYTES >> 20} MiB")
    return bytes(body)


class RpcClient:
    """`async with RpcClient(url) as rpc: await rpc.call("shh_version", expect=str)`."""

    def __init__(self, url: str = DEFAULT_RPC_URL, timeout: float = 120.0):
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        path = ipc_path(url)
        self._ipc = IpcLink(path, MAX_REPLY_BYTES) if path is not None else None

    async def __aenter__(self) -> RpcClient:
        if self._ipc is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ipc is not None:
            await self._ipc.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RpcClient used outside `async with`")
        return self._session

    @overload
    async def call(self, method: str, *params: Any) -> Any: ...

    @overload
    async def call(self, method: str, *params: Any, expect: type[_T]) -> _T: ...

    async def call(self, method: str, *params: Any, expect: type[Any] | None = None) -> Any:
        """The call's result; with `expect`, checked to be of that JSON type."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        if self._ipc is not None:
            return self._result(method, await self._ipc_call(self._ipc, body), expect)
        try:
            async with self.session.post(self.url, json=body) as response:
                data = await _read_limited(response, self.url)
                if response.status != 200:
                    text = _clip(data[:_MAX_SHOWN].decode("utf-8", "replace"))
                    reason = f"HTTP {response.status} {response.reason or ''}".strip()
                    hint = (
                        "; --rpc takes the address `hush node --http` serves on"
                        if response.status in (404, 405)
                        else ""
                    )
                    raise BadReply(
                        f"{self.url} answered {reason}" + (f": {text}" if text else "") + hint
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = _clip(str(exc)) or type(exc).__name__
            raise Unreachable(f"cannot reach hush node at {self.url} ({reason})", reason) from None
        return self._result(method, _parse_json(self.url, data), expect)

    async def _ipc_call(self, link: IpcLink, body: dict[str, Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout.total):
                return await link.request(body)
        except (OSError, LinkError, TimeoutError) as exc:
            await link.close()  # the next call reconnects (a node that is back)
            reason = describe(exc) if isinstance(exc, OSError) else str(exc) or "timed out"
            raise Unreachable(f"cannot reach hush node at {self.url} ({reason})", reason) from None

    def _result(self, method: str, reply: Any, expect: type[Any] | None) -> Any:
        if not isinstance(reply, dict):
            raise BadReply(f"{self.url} is not a JSON-RPC endpoint (reply is not an object)")
        error = reply.get("error")
        if error is not None:
            raise _node_error(self.url, error)
        if "result" not in reply:
            raise BadReply(
                f"hush node at {self.url} answered {method} with neither result nor error"
            )
        result = reply["result"]
        return result if expect is None else check_type(self.url, method, result, expect)


def lost(url: str, reason: str) -> Unreachable:
    """The one message for a node that went away mid-stream (polling and WebSocket alike)."""
    where = urllib.parse.urlsplit(url).netloc or url
    return Unreachable(f"lost the connection to hush node at {where} ({_clip(reason)})", reason)


async def subscribe(ws_url: str, criteria: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Messages pushed by `shh_subscribe("messages", criteria)` over a WebSocket.

    Ends only by raising: the server closing the socket is `lost(...)`, like a polling watch
    whose node stops answering. An `ipc://` URL subscribes over the node's IPC socket.
    """
    if ipc_path(ws_url) is not None:
        async for message in _subscribe_ipc(ws_url, criteria):
            yield message
        return  # not reached: it ends by raising
    subscription: object = None
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=5)) as session,
            session.ws_connect(ws_url, heartbeat=15, max_msg_size=64 << 20) as ws,
        ):
            await ws.send_json(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "shh_subscribe",
                    "params": ["messages", criteria],
                }
            )
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                message = _parse_json(ws_url, frame.data.encode())
                if not isinstance(message, dict):
                    raise BadReply(f"{ws_url} sent a frame that is not a JSON object")
                if message.get("id") == 1 and subscription is None:
                    if message.get("error") is not None:
                        raise _node_error(ws_url, message["error"])
                    subscription = check_type(ws_url, "shh_subscribe", message.get("result"), str)
                    continue
                params = message.get("params")
                if message.get("method") == "shh_subscription" and isinstance(params, dict):
                    yield check_type(ws_url, "shh_subscription", params.get("result"), dict)
            reason = f"closed, code {ws.close_code}" if ws.close_code else "closed"
    except aiohttp.WSServerHandshakeError as exc:
        raise BadReply(
            f"{ws_url} is not a WebSocket JSON-RPC endpoint (HTTP {exc.status}); --ws takes the "
            "address the node serves WebSocket on (`hush node --ws`), not its --http one"
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        text = _clip(str(exc)) or type(exc).__name__
        if subscription is None:
            raise Unreachable(f"cannot reach hush node at {ws_url} ({text})", text) from None
        raise lost(ws_url, text) from None
    if subscription is None:
        raise Unreachable(f"hush node at {ws_url} closed the WebSocket before subscribing")
    raise lost(ws_url, reason)


async def _subscribe_ipc(url: str, criteria: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """`subscribe` over an IPC socket: the same messages, the same errors."""
    path = ipc_path(url)
    assert path is not None
    link = IpcLink(path, MAX_REPLY_BYTES, notifications=True)
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "shh_subscribe",
        "params": ["messages", criteria],
    }
    try:
        try:
            async with asyncio.timeout(30):
                reply = await link.request(request)
        except (OSError, LinkError, TimeoutError) as exc:
            text = describe(exc) if isinstance(exc, OSError) else str(exc) or "timed out"
            raise Unreachable(f"cannot reach hush node at {url} ({text})", text) from None
        if reply.get("error") is not None:
            raise _node_error(url, reply["error"])
        check_type(url, "shh_subscribe", reply.get("result"), str)
        assert link.notifications is not None
        while (message := await link.notifications.get()) is not None:
            params = message.get("params")
            if message.get("method") == "shh_subscription" and isinstance(params, dict):
                yield check_type(url, "shh_subscription", params.get("result"), dict)
        why = link.lost
        reason = describe(why) if isinstance(why, OSError) else str(why or "closed")
        raise lost(url, reason)
    finally:
        with contextlib.suppress(Exception):
            await link.close()
