"""A small asyncio JSON-RPC client (aiohttp) for the CLI commands that talk to a running node."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from hush.errors import HushError

__all__ = ["DEFAULT_RPC_URL", "NodeError", "RpcClient", "Unreachable"]

DEFAULT_RPC_URL = "http://127.0.0.1:8545"


class Unreachable(HushError):
    """No node answers at the URL."""


class NodeError(HushError):
    """The node answered a call with an error."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class RpcClient:
    """`async with RpcClient(url) as rpc: await rpc.call("shh_version")`."""

    def __init__(self, url: str = DEFAULT_RPC_URL, timeout: float = 120.0):
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> RpcClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RpcClient used outside `async with`")
        return self._session

    async def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            async with self.session.post(self.url, json=body) as response:
                if response.status != 200:
                    text = (await response.text()).strip()
                    raise Unreachable(
                        f"hush node at {self.url} answered HTTP {response.status}: {text}"
                    )
                reply = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            raise Unreachable(f"cannot reach hush node at {self.url} ({reason})") from exc
        if not isinstance(reply, dict):
            raise Unreachable(f"{self.url} is not a JSON-RPC endpoint")
        error = reply.get("error")
        if error is not None:
            raise NodeError(str(error.get("message")), int(error.get("code", 0)))
        return reply.get("result")


async def subscribe(ws_url: str, criteria: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Messages pushed by `shh_subscribe("messages", criteria)` over a WebSocket."""
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
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
                message = frame.json()
                if message.get("id") == 1:
                    if "error" in message:
                        raise NodeError(message["error"]["message"], message["error"]["code"])
                    continue
                if message.get("method") == "shh_subscription":
                    yield message["params"]["result"]
    except aiohttp.ClientError as exc:
        raise Unreachable(f"cannot reach hush node at {ws_url} ({exc})") from exc
