"""The JSON-RPC layer's settings: `RpcConfig` for the endpoints, `ApiLimits` for the methods.

`ApiLimits` bounds what RPC clients may make the node hold, which geth doesn't: keys (pairs and
symmetric together), polled filters and subscriptions, each refused past its cap with
`too many keys|filters|subscriptions (limit N)` before any work is done (`hush.rpc.keys`,
`hush.rpc.filters`, `hush.rpc.subscriptions`), and how long a polled filter lives unpolled.

Public-facing limits (issue 7), enforced by the modules named:
- Host allow-list (`vhosts`) and method allow-lists (`http_api`/`ws_api`): `hush.rpc.access`.
- Connection cap and header deadline (`max_connections`, `header_timeout`):
  `hush.rpc.connections`; body, idle and send deadlines (`body_timeout`, `idle_timeout`,
  `send_timeout`): `hush.rpc.http`, `hush.rpc.websocket` and the server's aiohttp runner.
- WebSocket and IPC concurrency (`ws_max_inflight`): `hush.rpc.websocket`, `hush.rpc.ipc` (which
  applies the WebSocket path's limits to its connections).
- Batches (`max_batch`, `max_response`, `batch_timeout`): `hush.rpc.jsonrpc`.

Every count must be a positive integer and every timeout a positive finite number; a named
allow-list may not be empty. A bad value is a `UsageError` naming the setting, raised when the
config is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hush.errors import UsageError
from hush.rpc.jsonrpc import DEFAULT_MAX_BATCH, DEFAULT_MAX_RESPONSE

__all__ = [
    "DEFAULT_API",
    "DEFAULT_FILTER_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_VHOSTS",
    "ApiLimits",
    "RpcConfig",
]

DEFAULT_MAX_BODY = 5 * 1024 * 1024
"""geth 1.9's maxRequestContentLength."""
DEFAULT_VHOSTS = ("localhost",)
"""geth's --rpcvhosts default."""
DEFAULT_API = ("shh", "net", "web3")
"""Namespaces served beyond loopback when none are named (`rpc` is always served, as in geth)."""
DEFAULT_FILTER_TIMEOUT = 300.0
"""Seconds a polled filter lives without a poll (geth's eth filter timeout, 5 minutes)."""


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
    """HTTP and WebSocket connections open at once; more are answered 503 and closed. An IPC
    endpoint counts its own connections against the same number."""
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


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """What RPC clients may make the node hold; geth has no such caps."""

    max_keys: int = 10_000
    """Key pairs and symmetric keys together (~3 KB each with their crypto state)."""
    max_filters: int = 1_000
    """Polled filters (shh_newMessageFilter); each may keep up to 32 MiB until polled."""
    max_subscriptions: int = 1_000
    """Live shh_subscribe subscriptions, over every WebSocket connection."""
    filter_timeout: float = DEFAULT_FILTER_TIMEOUT
    """Seconds a polled filter lives without a poll."""

    def __post_init__(self) -> None:
        for name in ("max_keys", "max_filters", "max_subscriptions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, not {value!r}")
        if not (math.isfinite(self.filter_timeout) and self.filter_timeout > 0):
            raise UsageError(f"filter_timeout must be positive, not {self.filter_timeout!r}")
