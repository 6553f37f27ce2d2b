"""JSON-RPC over HTTP POST (geth 1.9's rpc/http.go), one request after the Host check.

- The endpoint may be off (`RpcConfig.http`): 404. A request carrying an `Origin` header is
  answered only if the origin is in `cors_domains` (see `hush.rpc.access`), else 403; an allowed
  origin is echoed in `Access-Control-Allow-Origin`, and OPTIONS answers the CORS preflight.
- An empty GET is geth's health check: 200 with no body. Any other method but POST: 405.
- POST with `Content-Type: application/json` (415 otherwise), body at most `max_body` bytes (413
  otherwise, also for chunked bodies, counted as they arrive); the body must arrive within
  `body_timeout` s, else 408 and the connection is closed.
- A notification gets 200 with no body. Answers past 64 KiB are written in slices under
  `send_timeout`: a client that doesn't read its answer in time has its connection aborted.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from hush.rpc.access import origin_allowed
from hush.rpc.config import RpcConfig
from hush.rpc.jsonrpc import CallContext, Dispatcher

__all__ = ["serve_http"]

log = logging.getLogger(__name__)

_SLICE = 64 * 1024


def _cors_headers(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def serve_http(
    request: web.Request, config: RpcConfig, dispatcher: Dispatcher
) -> web.StreamResponse:
    """Answer one HTTP request (not a WebSocket upgrade) with `dispatcher`."""
    origin = request.headers.get("Origin")
    if not config.http:
        return web.Response(status=404, text="http not enabled\n")
    if origin is not None and not origin_allowed(origin, config.cors_domains):
        return web.Response(status=403, text="origin not allowed\n")
    cors = _cors_headers(origin)
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
    limit = config.max_body
    if request.content_length is not None and request.content_length > limit:
        return web.Response(
            status=413, text=f"content length too large ({request.content_length}>{limit})\n"
        )
    if request.content_type != "application/json":
        return web.Response(
            status=415, text="invalid content type, only application/json is supported\n"
        )
    try:
        async with asyncio.timeout(config.body_timeout):
            body = await _read_limited(request, limit)
    except TimeoutError:
        log.info(
            "http %s: request body not sent within %gs",
            request.remote,
            config.body_timeout,
        )
        response = web.Response(status=408, text="request body timed out\n")
        response.force_close()
        return response
    if body is None:
        return web.Response(status=413, text=f"content length too large (>{limit})\n")
    answer = await dispatcher.handle_raw(body, CallContext())
    if answer is None:
        return web.Response(status=200, headers=cors)
    if len(answer) <= _SLICE:
        return web.Response(body=answer, content_type="application/json", headers=cors)
    return await _send_large(request, answer, cors, config.send_timeout)


async def _send_large(
    request: web.Request, answer: bytes, headers: dict[str, str], send_timeout: float
) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    response.content_length = len(answer)
    await response.prepare(request)
    view = memoryview(answer)
    try:
        async with asyncio.timeout(send_timeout):
            for start in range(0, len(view), _SLICE):
                await response.write(view[start : start + _SLICE])  # waits for the client
            await response.write_eof()
    except TimeoutError:
        log.info(
            "http %s: answer not read within %gs, closing",
            request.remote,
            send_timeout,
        )
        if request.transport is not None:
            request.transport.abort()
    return response


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
