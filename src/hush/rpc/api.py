"""The shh, net, web3, admin and rpc namespaces: geth 1.9's JSON-RPC methods over the node facade.

Parameter shapes, field names, encodings and error strings follow whisper-v6.md §5 and what geth
1.9.7 answered (tests/vectors/rpc_*.json). `ShhApi` composes the method tables, each in the
module named after its concern and stating its own rules; none of them imports this one:
- `hush.rpc.settings`: shh_version, shh_info and the node settings (PoW, size, bloom, light);
- `hush.rpc.keys`: key pairs and symmetric keys (`KEY_EXPORT_METHODS`);
- `hush.rpc.posting`: shh_post;
- `hush.rpc.filters`: polled filters, which expire after `filter_timeout` seconds without a poll;
- `hush.rpc.subscriptions`: shh_subscribe/shh_unsubscribe on WebSocket connections;
- `hush.rpc.admin`: web3, net, admin, rpc and hush_getEnvelope;
- `hush.rpc.stats`: hush_stats (what `hush top` shows), from the node and its `NodeStats`;
- `hush.rpc.shapes`: the Message JSON and hex encodings they share.

Limits geth doesn't have are `ApiLimits` (`hush.rpc.config`): how many keys, polled filters and
subscriptions the node holds for its RPC clients.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from hush.metrics import NodeStats
from hush.node import Node
from hush.rpc.admin import AdminMethods
from hush.rpc.config import DEFAULT_FILTER_TIMEOUT, ApiLimits
from hush.rpc.filters import PolledFilters
from hush.rpc.jsonrpc import Method
from hush.rpc.keys import KEY_EXPORT_METHODS, KeyMethods
from hush.rpc.posting import PostMethods
from hush.rpc.settings import SettingsMethods
from hush.rpc.shapes import SHH_VERSION, message_json, message_json_size
from hush.rpc.shhext import ShhextMethods

if TYPE_CHECKING:
    from hush.archive.server import ArchiveServer
from hush.rpc.stats import StatsMethods
from hush.rpc.subscriptions import SubscriptionMethods, WsSubscriptions
from hush.types import RandomBytes

__all__ = [
    "DEFAULT_FILTER_TIMEOUT",
    "KEY_EXPORT_METHODS",
    "SHH_VERSION",
    "ApiLimits",
    "ShhApi",
    "WsSubscriptions",
    "message_json",
    "message_json_size",
]


class ShhApi:
    """The method table and the state behind it (polled filters' last use, live subscriptions).

    Polled filters expire on `clock` (seconds, monotonic): the node's `clock.monotonic` unless
    another is given."""

    def __init__(
        self,
        node: Node,
        *,
        filter_timeout: float | None = None,
        limits: ApiLimits | None = None,
        clock: Callable[[], float] | None = None,
        random_bytes: RandomBytes = os.urandom,
        net_version: str = "1",
        stats: NodeStats | None = None,
        archive: ArchiveServer | None = None,
    ):
        self.node = node
        self.limits = limits or ApiLimits()
        if filter_timeout is None:
            filter_timeout = self.limits.filter_timeout
        self._settings = SettingsMethods(node)
        self._keys = KeyMethods(node, self.limits)
        self._posting = PostMethods(node)
        self._filters = PolledFilters(
            node, self.limits, filter_timeout, clock or node.clock.monotonic
        )
        self._subscriptions = SubscriptionMethods(node, self.limits, random_bytes)
        self._admin = AdminMethods(node, net_version)
        self._stats = StatsMethods(node, stats)
        self._shhext = ShhextMethods(  # history from archive servers (hush.rpc.shhext)
            node, stats=stats.archive if stats is not None else None, archive=archive
        )

    @property
    def filter_timeout(self) -> float:
        """Seconds a polled filter lives without a poll."""
        return self._filters.filter_timeout

    def expire_filters(self) -> list[str]:
        """Uninstall polled filters idle for longer than the timeout; returns their ids."""
        return self._filters.expire_filters()

    async def run_expiry(self, interval: float = 5.0) -> None:
        await self._filters.run_expiry(interval)

    def methods(self) -> list[Method]:
        return [
            *self._settings.methods(),
            *self._keys.methods(),
            *self._posting.methods(),
            *self._filters.methods(),
            *self._subscriptions.methods(),
            *self._admin.methods(),
            *self._stats.methods(),
            *self._shhext.methods(),
        ]
