"""Polled message filters (shh_newMessageFilter, shh_getFilterMessages, shh_deleteMessageFilter).

Criteria name exactly one of a symmetric key and a private key (geth's `specify either a
symmetric or an asymmetric key`), and a signer, when given, must be a valid uncompressed public
key (`invalid signing public key`); `filter_from` turns them into the node's filter, for
subscriptions too (which also need a topic with a symmetric key, and answer `invalid public key`
for an unknown private key id).

Two rules geth lacks: a polled filter expires after `filter_timeout` seconds without a poll
(geth's eth filters do, its shh filters leak), and at most `ApiLimits.max_filters` exist at once
(`too many filters (limit N)`, before any work is done). One shh_getFilterMessages answer is
bounded by the request's response budget and keeps what did not fit for the next poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hush.crypto.keys import public_key_from_bytes
from hush.errors import InvalidKeyError, UsageError
from hush.node import Node
from hush.rpc.config import ApiLimits
from hush.rpc.jsonrpc import CallContext, Method, Param, RpcError
from hush.rpc.params import Criteria, as_criteria
from hush.rpc.shapes import ID_PARAM, message_json, message_json_size
from hush.shh.errors import ERR_INVALID_PUBLIC_KEY, ERR_MISSING_TOPIC, ERR_SYM_ASYM
from hush.shh.filters import Filter
from hush.types import PublicKeyBytes

__all__ = ["PolledFilters", "filter_from"]


def filter_from(node: Node, criteria: Criteria, *, subscribe: bool) -> Filter:
    """The node filter for shh_newMessageFilter/shh_subscribe criteria, or RpcError."""
    sym_given, asym_given = bool(criteria.sym_key_id), bool(criteria.private_key_id)
    if sym_given == asym_given:
        raise RpcError(ERR_SYM_ASYM)
    signer: PublicKeyBytes | None = None
    if criteria.sig:
        if len(criteria.sig) != 65 or criteria.sig[0] != 4:
            raise RpcError("invalid signing public key")
        try:
            public_key_from_bytes(criteria.sig)
        except InvalidKeyError:
            raise RpcError("invalid signing public key") from None
        signer = PublicKeyBytes(criteria.sig)
    sym_key = private_key = None
    if sym_given:
        if subscribe and not criteria.topics:
            raise RpcError(ERR_MISSING_TOPIC)
        sym_key = node.sym_key(criteria.sym_key_id)
    else:
        try:
            private_key = node.private_key(criteria.private_key_id)
        except UsageError:
            if subscribe:
                raise RpcError(ERR_INVALID_PUBLIC_KEY) from None
            raise
    return Filter(
        sym_key=sym_key,
        private_key=private_key,
        topics=frozenset(criteria.topics),
        min_pow=criteria.min_pow,
        allow_p2p=criteria.allow_p2p,
        signer=signer,
    )


class PolledFilters:
    """The polled filters' method table and their last use (by `clock`)."""

    def __init__(
        self, node: Node, limits: ApiLimits, filter_timeout: float, clock: Callable[[], float]
    ):
        self.node = node
        self.limits = limits
        self.filter_timeout = filter_timeout
        self._clock = clock
        self._polled: dict[str, float] = {}

    def expire_filters(self) -> list[str]:
        """Uninstall polled filters idle for longer than the timeout; returns their ids."""
        deadline = self._clock() - self.filter_timeout
        gone = [fid for fid, used in self._polled.items() if used < deadline]
        for fid in gone:
            del self._polled[fid]
            self.node.uninstall_filter(fid)
        return gone

    async def run_expiry(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.expire_filters()

    async def new_message_filter(self, _: CallContext, criteria: Criteria) -> str:
        if len(self._polled) >= self.limits.max_filters:
            raise RpcError(f"too many filters (limit {self.limits.max_filters})")
        filter_id = self.node.install_filter(filter_from(self.node, criteria, subscribe=False))
        self._polled[filter_id] = self._clock()
        return filter_id

    async def get_filter_messages(
        self, context: CallContext, filter_id: str
    ) -> list[dict[str, Any]]:
        # the oldest that fit the response budget; the rest wait for the next poll
        budget = max(0, context.response_budget - 128 - len(filter_id))
        messages = self.node.filter_messages(filter_id, budget, message_json_size)
        if filter_id in self._polled:
            self._polled[filter_id] = self._clock()
        return [message_json(m) for m in messages]

    async def delete_message_filter(self, _: CallContext, filter_id: str) -> bool:
        self._polled.pop(filter_id, None)
        if not self.node.uninstall_filter(filter_id):
            raise RpcError("Unsubscribe: Invalid ID")
        return True

    def methods(self) -> list[Method]:
        return [
            Method(
                "shh_newMessageFilter", self.new_message_filter, (Param("criteria", as_criteria),)
            ),
            Method("shh_getFilterMessages", self.get_filter_messages, ID_PARAM),
            Method("shh_deleteMessageFilter", self.delete_message_filter, ID_PARAM),
        ]
