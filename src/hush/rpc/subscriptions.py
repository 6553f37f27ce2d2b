"""shh_subscribe and shh_unsubscribe: messages pushed to a WebSocket connection as they arrive.

Subscriptions exist only on WebSocket connections (`notifications not supported` elsewhere) and
end with them: `WsSubscriptions` holds one connection's, each pumped from the node's async
iterator by its own task into `shh_subscription` notifications. The first notification is sent
only after the reply carrying the subscription id. Only the `messages` kind exists (geth's
`no "kind" subscription in shh namespace` otherwise). At most `ApiLimits.max_subscriptions` are
live over every connection together (`too many subscriptions (limit N)`, before any work is
done); an unsubscribed one stops counting at once, not when its task has wound down.
"""

from __future__ import annotations

import asyncio
import logging

from hush.node import Node, Subscription
from hush.rpc.config import ApiLimits
from hush.rpc.filters import filter_from
from hush.rpc.jsonrpc import CallContext, Method, Param, RpcError
from hush.rpc.params import Criteria, as_criteria, as_str
from hush.rpc.shapes import ID_PARAM, hex_str, message_json
from hush.types import RandomBytes

__all__ = ["SubscriptionMethods", "WsSubscriptions"]

log = logging.getLogger(__name__)


class WsSubscriptions:
    """One WebSocket connection's live subscriptions; each pushes from the node's async iterator."""

    def __init__(self) -> None:
        self._live: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}

    def __len__(self) -> int:
        return len(self._live)

    def add(self, sub_id: str, subscription: Subscription, task: asyncio.Task[None]) -> None:
        self._live[sub_id] = (subscription, task)
        task.add_done_callback(lambda _: self._live.pop(sub_id, None))

    def remove(self, sub_id: str) -> bool:
        entry = self._live.pop(sub_id, None)
        if entry is None:
            return False
        subscription, task = entry
        subscription.close()
        task.cancel()
        return True

    async def close(self) -> None:
        entries = list(self._live.values())
        self._live.clear()
        for subscription, task in entries:
            subscription.close()
            task.cancel()
        await asyncio.gather(*(task for _, task in entries), return_exceptions=True)


async def _pump(
    sub_id: str,
    subscription: Subscription,
    context: CallContext,
    ready: asyncio.Event,
) -> None:
    notify = context.notify
    assert notify is not None
    try:
        await ready.wait()
        async for message in subscription:
            await notify(
                {
                    "jsonrpc": "2.0",
                    "method": "shh_subscription",
                    "params": {"subscription": sub_id, "result": message_json(message)},
                }
            )
    except (ConnectionError, RuntimeError) as exc:  # the socket went away under us
        log.debug("subscription %s ended: %s", sub_id, exc)
    finally:
        subscription.close()


class SubscriptionMethods:
    """shh_subscribe/shh_unsubscribe and the ids live over every connection."""

    def __init__(self, node: Node, limits: ApiLimits, random_bytes: RandomBytes):
        self.node = node
        self.limits = limits
        self._random_bytes = random_bytes
        self._live_subscriptions: set[str] = set()

    async def subscribe(self, context: CallContext, kind: str, criteria: Criteria) -> str:
        if context.notify is None or not isinstance(context.connection, WsSubscriptions):
            raise RpcError("notifications not supported")
        if kind != "messages":
            raise RpcError(f'no "{kind}" subscription in shh namespace')
        if len(self._live_subscriptions) >= self.limits.max_subscriptions:
            raise RpcError(f"too many subscriptions (limit {self.limits.max_subscriptions})")
        subscription = self.node.subscribe(filter_from(self.node, criteria, subscribe=True))
        sub_id = hex_str(self._random_bytes(16))
        ready = asyncio.Event()
        task = asyncio.ensure_future(_pump(sub_id, subscription, context, ready))
        self._live_subscriptions.add(sub_id)
        task.add_done_callback(lambda _: self._live_subscriptions.discard(sub_id))
        context.connection.add(sub_id, subscription, task)
        context.after_reply.append(ready.set)
        return sub_id

    async def unsubscribe(self, context: CallContext, sub_id: str) -> bool:
        live = context.connection
        if not isinstance(live, WsSubscriptions) or not live.remove(sub_id):
            raise RpcError("subscription not found")
        self._live_subscriptions.discard(sub_id)  # now, not when its task has wound down
        return True

    def methods(self) -> list[Method]:
        return [
            Method(
                "shh_subscribe",
                self.subscribe,
                (Param("kind", as_str), Param("criteria", as_criteria)),
            ),
            Method("shh_unsubscribe", self.unsubscribe, ID_PARAM),
        ]
