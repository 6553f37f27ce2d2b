"""Delivery: the node's filters and subscriptions, and opening each new envelope for them
(whisper-v6.md §4).

An envelope reaches `Delivery.deliver` once: when the pool first accepts it, or when a trusted
peer sends it directly (code 127). A subscription is a filter whose matches are pushed into a
bounded queue instead of waiting for a poll; a slow consumer loses its oldest messages, never
blocks the node. Filter ids are random (the injected `random_bytes`). Widening the node's bloom
for a new filter's topics is the facade's business (it tells the peers).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from hush.node.hooks import NodeObserver
from hush.node.keystore import new_id
from hush.shh.envelope import Envelope
from hush.shh.filters import DEFAULT_FILTER_BYTES, Filter, FilterSet, message_cost
from hush.shh.message import OpenedMessage
from hush.types import EnvelopeHash, KeyID, RandomBytes

__all__ = ["SUBSCRIPTION_QUEUE", "Delivery", "Subscription"]

SUBSCRIPTION_QUEUE = 1024
"""Messages one subscription holds for its consumer (geth's messageQueueLimit)."""


class Subscription:
    """Messages matching one filter, as an async iterator, pushed the moment they arrive."""

    def __init__(self, delivery: Delivery, filter_id: KeyID):
        self.id = filter_id
        self._delivery = delivery
        self._queue: asyncio.Queue[OpenedMessage | None] = asyncio.Queue(SUBSCRIPTION_QUEUE)
        self.dropped = 0
        self._bytes = 0

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _push(self, message: OpenedMessage) -> None:
        # A slow consumer loses the oldest, never blocks the node; the queue is bounded in
        # messages (geth's 1024) and in bytes (1024 x 1 MiB would be 1 GiB).
        cost = message_cost(message)
        while not self._queue.empty() and (
            self._queue.full() or self._bytes + cost > DEFAULT_FILTER_BYTES
        ):
            self._taken(self._queue.get_nowait())
            self.dropped += 1
            self._delivery.overflowed += 1
        self._bytes += cost
        self._queue.put_nowait(message)

    def _taken(self, message: OpenedMessage | None) -> OpenedMessage | None:
        if message is not None:
            self._bytes -= message_cost(message)
        return message

    def close(self) -> None:
        if self._delivery.unsubscribe(self.id):
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def get(self) -> OpenedMessage | None:
        """The next message, or None once closed."""
        return self._taken(await self._queue.get())

    def __aiter__(self) -> AsyncIterator[OpenedMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[OpenedMessage]:
        while (message := self._taken(await self._queue.get())) is not None:
            yield message


class Delivery:
    """The filters, the subscriptions among them, and opening envelopes for both."""

    def __init__(self, random_bytes: RandomBytes, observers: NodeObserver) -> None:
        self._random_bytes = random_bytes
        self._observers = observers
        self.filters = FilterSet()
        self._subscriptions: dict[KeyID, Subscription] = {}
        self.overflowed = 0
        """Messages subscriptions lost to a full queue, ever (their own `dropped` ends with them)."""

    def install(self, flt: Filter) -> KeyID:
        filter_id = new_id(self._random_bytes, self.filters)
        self.filters.install(filter_id, flt)
        return filter_id

    def uninstall(self, filter_id: str) -> bool:
        return self.filters.uninstall(KeyID(filter_id))

    def subscribe(self, flt: Filter) -> Subscription:
        filter_id = self.install(flt)
        subscription = Subscription(self, filter_id)
        self._subscriptions[filter_id] = subscription
        return subscription

    def unsubscribe(self, filter_id: KeyID) -> bool:
        """End a subscription and its filter; False if it had ended already."""
        if self._subscriptions.pop(filter_id, None) is None:
            return False
        self.uninstall(filter_id)
        return True

    def close_all(self) -> None:
        """End every subscription (node stop): their consumers get None."""
        for subscription in list(self._subscriptions.values()):
            subscription.close()

    def messages(
        self,
        filter_id: str,
        budget: int | None = None,
        size: Callable[[OpenedMessage], int] | None = None,
    ) -> list[OpenedMessage]:
        """What the filter kept since the last call; with a budget, the oldest that fit in it
        (`size` per message, memory cost by default) and the rest stay for the next call."""
        if budget is None or size is None:
            return self.filters.retrieve(KeyID(filter_id), budget)
        return self.filters.retrieve(KeyID(filter_id), budget, size)

    def deliver(
        self, envelope: Envelope, pow_value: float, envelope_hash: EnvelopeHash, p2p: bool = False
    ) -> None:
        matches = self.filters.notify(envelope, pow_value, envelope_hash, p2p)
        for match in matches:
            subscription = self._subscriptions.get(match.filter_id)
            if subscription is not None:
                self.filters.retrieve(match.filter_id)
                subscription._push(match.message)
        if matches:
            self._observers.message_delivered(len(matches), p2p)

    def queued_messages(self) -> int:
        """Messages waiting in subscriptions for their consumers."""
        return sum(s.queued for s in self._subscriptions.values())

    def overflow(self) -> tuple[int, int]:
        """Messages lost to full queues so far: (subscriptions, polled filters)."""
        return self.overflowed, self.filters.dropped_total
