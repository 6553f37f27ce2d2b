"""A tiny JSON-RPC client for the tests."""

from __future__ import annotations

from typing import Any

import aiohttp


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session = session
        self.url = url
        self._id = 0

    async def raw(self, body: Any) -> Any:
        async with self.session.post(self.url, json=body) as response:
            assert response.status == 200
            return await response.json()

    async def request(self, method: str, *params: Any) -> dict[str, Any]:
        self._id += 1
        reply: dict[str, Any] = await self.raw(
            {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        )
        assert reply["id"] == self._id
        return reply

    async def call(self, method: str, *params: Any) -> Any:
        reply = await self.request(method, *params)
        assert "error" not in reply, reply
        return reply["result"]

    async def error(self, method: str, *params: Any) -> tuple[int, str]:
        reply = await self.request(method, *params)
        assert "result" not in reply, reply
        return reply["error"]["code"], reply["error"]["message"]
